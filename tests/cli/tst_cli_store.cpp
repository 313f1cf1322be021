// lectern-cli ingest / ask / store end to end: a question asked in a later process gives the same
// logits as one pass over document + question (f32, f16, int8 KV; at the end and as of a
// checkpoint), store info / verify, resume after Ctrl+C, appending, text with a SentencePiece
// tokenizer, and clear errors for every fault (another model, damaged chunk files, a full disk, a
// read-only folder, bad ids, the wrong tokenizer, a different file).
#include <QCryptographicHash>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

#ifndef _WIN32
#include <unistd.h>
#endif

#include "store_test_util.h"

using namespace store_test;

namespace {

const QString kTiny = model("rwkvx-tiny-f32.pth");

QStringList storeArgs(const QString& kvDType)
{
    return {QStringLiteral("--chunk-size"), QStringLiteral("16"), QStringLiteral("--top-k"),
            QStringLiteral("3"), QStringLiteral("--kv-dtype"), kvDType};
}

CliRun ingestIds(const QString& store, const QString& tokensFile, const QString& kvDType,
                 const QStringList& extra = {})
{
    return runLecternCli(QStringList{QStringLiteral("ingest"), QStringLiteral("--model"), kTiny,
                                     QStringLiteral("--store"), store,
                                     QStringLiteral("--tokens-file"), tokensFile,
                                     QStringLiteral("--checkpoint-every"), QStringLiteral("64")} +
                         storeArgs(kvDType) + extra);
}

CliRun askLogits(const QString& store, const std::vector<int>& q, const QString& out,
                 const QStringList& extra = {})
{
    return runLecternCli(QStringList{QStringLiteral("ask"), QStringLiteral("--store"), store,
                                     QStringLiteral("--tokens"), joinIds(q),
                                     QStringLiteral("--max-tokens"), QStringLiteral("0"),
                                     QStringLiteral("--logits-out"), out} +
                         extra);
}

// logits over `ids` in one process with the store's attention settings.
std::vector<float> referenceLogits(const QString& dir, const std::vector<int>& ids,
                                   const QString& kvDType)
{
    const QString in = dir + QStringLiteral("/ref-ids.txt");
    const QString out = dir + QStringLiteral("/ref.bin");
    if (!writeIds(in, ids))
        return {};
    const CliRun r = runLecternCli(QStringList{QStringLiteral("logits"), QStringLiteral("--model"),
                                               kTiny, QStringLiteral("--tokens-file"), in,
                                               QStringLiteral("--out"), out} +
                                   storeArgs(kvDType));
    if (r.exitCode != 0) {
        qWarning("logits failed: %s", r.err.constData());
        return {};
    }
    return readFloats(out);
}

QString sha256OfFile(const QString& path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QString::fromLatin1(
        QCryptographicHash::hash(f.readAll(), QCryptographicHash::Sha256).toHex());
}

QJsonObject infoJson(const QString& store)
{
    const CliRun r = runLecternCli({QStringLiteral("store"), QStringLiteral("info"), store,
                                    QStringLiteral("--json")});
    if (r.exitCode != 0)
        return {};
    return QJsonDocument::fromJson(r.out).object();
}

}  // namespace

class TestCliStore : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void exactAcrossProcesses_data();
    void exactAcrossProcesses();
    void infoAndVerify();
    void askGenerates();
    void anotherModel();
    void damagedChunkFile_data();
    void damagedChunkFile();
    void fullDiskThenResume();
    void diskBudgetThenRaise();
    void readOnlyFolder();
    void badInputs();
    void interruptResumeAndAppend();
    void interruptedCreateStartsOver();
    void textWithSentencePiece();

private:
    QString path(const QString& name) const { return m_dir.filePath(name); }
    QTemporaryDir m_dir;
    std::vector<int> m_doc, m_q;
    QString m_docFile;
    QString m_small;  // a complete 40-token f16 store (two chunks per attention block)
};

void TestCliStore::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_doc = randomIds(300, 128, 1);
    m_q = randomIds(7, 128, 2);
    m_docFile = path(QStringLiteral("doc.txt"));
    QVERIFY(writeIds(m_docFile, m_doc));
    m_small = path(QStringLiteral("small"));
    const QString smallDoc = path(QStringLiteral("small-doc.txt"));
    QVERIFY(writeIds(smallDoc, randomIds(40, 128, 3)));
    const CliRun r = ingestIds(m_small, smallDoc, QStringLiteral("f16"));
    QVERIFY2(r.exitCode == 0, r.err.constData());
}

void TestCliStore::exactAcrossProcesses_data()
{
    QTest::addColumn<QString>("kv");
    QTest::newRow("f16") << QStringLiteral("f16");
    QTest::newRow("int8") << QStringLiteral("int8");
    QTest::newRow("f32") << QStringLiteral("f32");
}

void TestCliStore::exactAcrossProcesses()
{
    QFETCH(QString, kv);
    const QString store = path(QStringLiteral("exact-") + kv);
    // Process 1: ingest.
    const CliRun in = ingestIds(store, m_docFile, kv);
    QVERIFY2(in.exitCode == 0, in.err.constData());
    QVERIFY2(in.out.contains("tokens: 300\n"), in.out.constData());
    QVERIFY(in.out.contains("bytes_per_token: "));
    QVERIFY(in.out.contains("store: "));

    // Process 2: ask; process 3: one pass over document + question.
    const QString a = path(QStringLiteral("a-") + kv + QStringLiteral(".bin"));
    const CliRun ask = askLogits(store, m_q, a);
    QVERIFY2(ask.exitCode == 0, ask.err.constData());
    std::vector<int> dq = m_doc;
    dq.insert(dq.end(), m_q.begin(), m_q.end());
    const std::vector<float> ref = referenceLogits(m_dir.path(), dq, kv);
    const std::vector<float> got = readFloats(a);
    QCOMPARE(got.size(), std::size_t(128));
    const double d = maxDiff(got, ref);
    qInfo("%s: max |ask - one pass| = %g", qPrintable(kv), d);
    QVERIFY2(d <= 1e-5, qPrintable(QStringLiteral("max diff %1").arg(d)));

    // As of a checkpoint: equals one pass over the prefix + question.
    const CliRun asOf = askLogits(store, m_q, a, {QStringLiteral("--as-of-token"), QStringLiteral("128")});
    QVERIFY2(asOf.exitCode == 0, asOf.err.constData());
    std::vector<int> pq(m_doc.begin(), m_doc.begin() + 128);
    pq.insert(pq.end(), m_q.begin(), m_q.end());
    const double d2 = maxDiff(readFloats(a), referenceLogits(m_dir.path(), pq, kv));
    qInfo("%s: as of 128: max diff = %g", qPrintable(kv), d2);
    QVERIFY2(d2 <= 1e-5, qPrintable(QStringLiteral("max diff %1").arg(d2)));

    // Not a checkpoint: the error lists the ones there are.
    const CliRun bad = askLogits(store, m_q, a, {QStringLiteral("--as-of-token"), QStringLiteral("100")});
    QVERIFY(bad.exitCode != 0 && bad.exitCode != -1);
    QVERIFY2(bad.err.contains("64") && bad.err.contains("128") && bad.err.contains("checkpoint"),
             bad.err.constData());

    // Ingesting the same file again: already complete.
    const CliRun again = ingestIds(store, m_docFile, kv);
    QVERIFY2(again.exitCode == 0, again.err.constData());
    QVERIFY2(again.err.contains("already"), again.err.constData());
}

void TestCliStore::infoAndVerify()
{
    const QString store = path(QStringLiteral("exact-f16"));
    QVERIFY(QFileInfo::exists(store));
    const CliRun info = runLecternCli({QStringLiteral("store"), QStringLiteral("info"), store});
    QVERIFY2(info.exitCode == 0, info.err.constData());
    for (const char* s : {"status: complete", "tokens: 300", "kv f16", "chunk 16", "top-k 3",
                          "checkpoints: ", "disk_bytes: ", "bytes_per_token: ", "model_sha256: "})
        QVERIFY2(info.out.contains(s), qPrintable(QString::fromUtf8(info.out) + QLatin1String(s)));
    QVERIFY(info.out.contains(sha256OfFile(m_docFile).toLatin1()));

    const QJsonObject j = infoJson(store);
    QCOMPARE(j.value(QStringLiteral("tokens")).toInteger(), 300);
    QCOMPARE(j.value(QStringLiteral("tokens_expected")).toInteger(), 300);
    QCOMPARE(j.value(QStringLiteral("status")).toString(), QStringLiteral("complete"));
    QCOMPARE(j.value(QStringLiteral("tokenizer")).toObject().value(QStringLiteral("kind")).toString(),
             QStringLiteral("ids"));
    const QJsonArray sources = j.value(QStringLiteral("sources")).toArray();
    QCOMPARE(sources.size(), 1);
    QCOMPARE(sources.at(0).toObject().value(QStringLiteral("sha256")).toString(), sha256OfFile(m_docFile));
    QVERIFY(j.value(QStringLiteral("checkpoints")).toArray().size() >= 4);  // 64, 128, 192, 256, 300
    QVERIFY(j.value(QStringLiteral("bytes_per_token")).toDouble() > 0);

    CliRun v = runLecternCli({QStringLiteral("store"), QStringLiteral("verify"), store});
    QVERIFY2(v.exitCode == 0, v.err.constData());
    QCOMPARE(v.out, QByteArray("ok\n"));
    v = runLecternCli({QStringLiteral("store"), QStringLiteral("verify"), store,
                       QStringLiteral("--model"), kTiny});
    QVERIFY2(v.exitCode == 0, v.err.constData());
    QCOMPARE(runLecternCli({QStringLiteral("store"), QStringLiteral("nope"), store}).exitCode, 2);
    const CliRun missing = runLecternCli({QStringLiteral("store"), QStringLiteral("info"),
                                          path(QStringLiteral("no-such-store"))});
    QCOMPARE(missing.exitCode, 1);
}

void TestCliStore::askGenerates()
{
    // A store made from ids shows generated tokens as ids; --provenance lists attended ranges.
    const CliRun r = runLecternCli({QStringLiteral("ask"), QStringLiteral("--store"),
                                    path(QStringLiteral("exact-f16")), QStringLiteral("--tokens"),
                                    joinIds(m_q), QStringLiteral("--max-tokens"), QStringLiteral("4"),
                                    QStringLiteral("--temperature"), QStringLiteral("0"),
                                    QStringLiteral("--provenance")});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const QList<QByteArray> lines = r.out.split('\n');
    QVERIFY(!lines.isEmpty());
    QVERIFY2(QRegularExpression(QStringLiteral("^(\\d+ ){1,4}$"))
                 .match(QString::fromUtf8(lines.first()))
                 .hasMatch(),
             r.out.constData());
    QVERIFY2(r.out.contains("attended: "), r.out.constData());
    // The same question greedily twice gives the same answer.
    const CliRun r2 = runLecternCli({QStringLiteral("ask"), QStringLiteral("--store"),
                                     path(QStringLiteral("exact-f16")), QStringLiteral("--tokens"),
                                     joinIds(m_q), QStringLiteral("--max-tokens"), QStringLiteral("4"),
                                     QStringLiteral("--temperature"), QStringLiteral("0")});
    QCOMPARE(r2.out.split('\n').first(), lines.first());
    // A text question needs a tokenizer when the store was made from ids.
    const CliRun text = runLecternCli({QStringLiteral("ask"), QStringLiteral("--store"),
                                       path(QStringLiteral("exact-f16")), QStringLiteral("hello")});
    QCOMPARE(text.exitCode, 1);
    QVERIFY2(text.err.contains("--tokens"), text.err.constData());
}

void TestCliStore::anotherModel()
{
    for (const char* other : {"rwkvx-tiny-bf16.pth", "rwkvx-one-attn-f32.pth"}) {
        const CliRun r = askLogits(m_small, m_q, path(QStringLiteral("other.bin")),
                                   {QStringLiteral("--model"), model(other)});
        QVERIFY2(r.exitCode == 1, r.err.constData());
        QVERIFY2(r.err.contains("model"), r.err.constData());
        QCOMPARE(r.err.count('\n'), 1);
        const CliRun v = runLecternCli({QStringLiteral("store"), QStringLiteral("verify"), m_small,
                                        QStringLiteral("--model"), model(other)});
        QVERIFY2(v.exitCode == 1 && v.err.contains("model"), v.err.constData());
    }
}

void TestCliStore::damagedChunkFile_data()
{
    QTest::addColumn<QString>("damage");
    QTest::newRow("deleted") << QStringLiteral("deleted");
    QTest::newRow("truncated") << QStringLiteral("truncated");
    QTest::newRow("byte flipped") << QStringLiteral("flipped");
}

void TestCliStore::damagedChunkFile()
{
    QFETCH(QString, damage);
    const QString store = path(QStringLiteral("damaged-") + damage);
    QVERIFY(copyDir(m_small, store));
    const QStringList chunks = chunkFiles(store);
    QVERIFY2(chunks.size() >= 2, qPrintable(chunks.join(QLatin1Char(' '))));
    const QString victim = chunks.first();
    const QString name = QFileInfo(victim).fileName();
    QFile f(victim);
    if (damage == QLatin1String("deleted")) {
        QVERIFY(f.remove());
    } else if (damage == QLatin1String("truncated")) {
        QVERIFY(f.resize(f.size() - 7));
    } else {
        QVERIFY(f.open(QIODevice::ReadWrite));
        const qint64 at = f.size() - 9;  // in the last head's values
        QVERIFY(f.seek(at));
        char c = 0;
        QVERIFY(f.getChar(&c));
        QVERIFY(f.seek(at));
        QVERIFY(f.putChar(char(c ^ 0x10)));
        f.close();
    }
    const CliRun v = runLecternCli({QStringLiteral("store"), QStringLiteral("verify"), store});
    QVERIFY2(v.exitCode == 1, v.out.constData());
    QVERIFY2(v.err.contains(name.toUtf8()), v.err.constData());
    // The question reads both complete chunks (top-k 3: its own chunk and the two others).
    const CliRun a = askLogits(store, m_q, path(QStringLiteral("damaged.bin")));
    QVERIFY2(a.exitCode == 1, a.err.constData());
    QVERIFY2(a.err.contains(name.toUtf8()), a.err.constData());
    QCOMPARE(a.err.count('\n'), 1);
}

void TestCliStore::fullDiskThenResume()
{
    const QString store = path(QStringLiteral("full-disk"));
    // 64 blocks of 512 bytes (dash) or 1 KiB (bash): less than one state checkpoint.
    const QString cmd = QStringLiteral("ulimit -f 64; exec \"$0\" \"$@\"");
    QProcess p;
    p.start(QStringLiteral("/bin/sh"),
            QStringList{QStringLiteral("-c"), cmd, QStringLiteral(LECTERN_BIN_DIR "/lectern-cli"),
                        QStringLiteral("ingest"), QStringLiteral("--model"), kTiny,
                        QStringLiteral("--store"), store, QStringLiteral("--tokens-file"), m_docFile,
                        QStringLiteral("--checkpoint-every"), QStringLiteral("64")} +
                storeArgs(QStringLiteral("f16")));
    QVERIFY(p.waitForFinished(60000));
    const QByteArray err = p.readAllStandardError();
    QCOMPARE(p.exitStatus(), QProcess::NormalExit);  // no SIGXFSZ
    QVERIFY2(p.exitCode() == 1, err.constData());
    QVERIFY2(err.startsWith("lectern-cli: ") && err.count('\n') == 1, err.constData());
    QVERIFY2(err.contains("large") || err.contains("write") || err.contains("space"),
             err.constData());
    qInfo("full disk: %s", err.trimmed().constData());

    // Without the limit the same command resumes and the result is exact.
    const CliRun r = ingestIds(store, m_docFile, QStringLiteral("f16"));
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QVERIFY(r.out.contains("tokens: 300\n"));
    const QString a = path(QStringLiteral("full-a.bin"));
    const QString b = path(QStringLiteral("full-b.bin"));
    QCOMPARE(askLogits(store, m_q, a).exitCode, 0);
    QCOMPARE(askLogits(path(QStringLiteral("exact-f16")), m_q, b).exitCode, 0);
    QCOMPARE(maxDiff(readFloats(a), readFloats(b)), 0.0);
}

// The budget error tells the user to raise the budget; giving --disk-budget-mb again does, and
// the finished store answers exactly like one made without a budget.
void TestCliStore::diskBudgetThenRaise()
{
    const std::vector<int> doc = store_test::randomIds(4000, 128, 77);
    const QString docFile = path(QStringLiteral("budget-doc.ids"));
    QVERIFY(store_test::writeIds(docFile, doc));
    const QString store = path(QStringLiteral("budget"));
    const CliRun over = ingestIds(store, docFile, QStringLiteral("f16"),
                                  {QStringLiteral("--disk-budget-mb"), QStringLiteral("1")});
    QVERIFY2(over.exitCode == 1, over.err.constData());
    QVERIFY2(over.err.contains("disk budget") && over.err.contains("bytes per token"),
             over.err.constData());
    // One error line (on a slow machine a progress line may come before it).
    QCOMPARE(over.err.count("lectern-cli: "), 1);
    QVERIFY2(over.err.endsWith('\n') && over.err.count('\n') ==
                                            over.err.count("tokens/s, ETA") + 1,
             over.err.constData());
    const CliRun info = runLecternCli({QStringLiteral("store"), QStringLiteral("info"), store});
    QCOMPARE(info.exitCode, 0);
    QVERIFY2(!info.out.contains("tokens: 4000"), info.out.constData());

    const CliRun raised = ingestIds(store, docFile, QStringLiteral("f16"),
                                    {QStringLiteral("--disk-budget-mb"), QStringLiteral("64")});
    QVERIFY2(raised.exitCode == 0, raised.err.constData());
    QVERIFY2(raised.out.contains("tokens: 4000\n"), raised.out.constData());

    const QString reference = path(QStringLiteral("budget-ref"));
    QCOMPARE(ingestIds(reference, docFile, QStringLiteral("f16")).exitCode, 0);
    const QString a = path(QStringLiteral("budget-a.bin"));
    const QString b = path(QStringLiteral("budget-b.bin"));
    QCOMPARE(askLogits(store, m_q, a).exitCode, 0);
    QCOMPARE(askLogits(reference, m_q, b).exitCode, 0);
    QCOMPARE(maxDiff(readFloats(a), readFloats(b)), 0.0);
}

void TestCliStore::readOnlyFolder()
{
#ifdef _WIN32
    QSKIP("folder permissions do not stop file creation on Windows");
#else
    if (geteuid() == 0)
        QSKIP("running as root: permissions are not enforced");
#endif
    const QString parent = path(QStringLiteral("read-only"));
    QVERIFY(QDir().mkpath(parent));
    QVERIFY(copyDir(m_small, parent + QStringLiteral("/store")));
    const QFileDevice::Permissions ro = QFileDevice::ReadOwner | QFileDevice::ExeOwner |
                                        QFileDevice::ReadGroup | QFileDevice::ExeGroup |
                                        QFileDevice::ReadOther | QFileDevice::ExeOther;
    QVERIFY(QFile::setPermissions(parent, ro));
    QVERIFY(QFile::setPermissions(parent + QStringLiteral("/store"), ro));
    // A new store in a read-only folder.
    CliRun r = ingestIds(parent + QStringLiteral("/new"), m_docFile, QStringLiteral("f16"));
    QVERIFY2(r.exitCode == 1 && r.err.count('\n') == 1, r.err.constData());
    QVERIFY2(r.err.contains("ermission"), r.err.constData());
    // Appending to a read-only store.
    r = ingestIds(parent + QStringLiteral("/store"), m_docFile, QStringLiteral("f16"),
                  {QStringLiteral("--append")});
    QVERIFY2(r.exitCode == 1 && r.err.count('\n') == 1, r.err.constData());
    QVERIFY2(r.err.contains("ermission") || r.err.contains("read-only"), r.err.constData());
    // Asking does not write.
    r = askLogits(parent + QStringLiteral("/store"), m_q, path(QStringLiteral("ro.bin")));
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const QFileDevice::Permissions rw = ro | QFileDevice::WriteOwner;
    QVERIFY(QFile::setPermissions(parent + QStringLiteral("/store"), rw));
    QVERIFY(QFile::setPermissions(parent, rw));
}

void TestCliStore::badInputs()
{
    // An id outside the model's vocabulary (128).
    const QString badIds = path(QStringLiteral("bad-ids.txt"));
    QVERIFY(writeIds(badIds, {1, 2, 3, 128, 4}));
    CliRun r = ingestIds(path(QStringLiteral("bad-id-store")), badIds, QStringLiteral("f16"));
    QVERIFY2(r.exitCode == 1 && r.err.contains("128") && r.err.contains("vocabulary"),
             r.err.constData());
    // Text whose tokenizer (World, 65536 ids) does not fit the model.
    const QString text = path(QStringLiteral("text.txt"));
    QVERIFY(writeFile(text, "Some text for a tiny model.\n"));
    r = runLecternCli({QStringLiteral("ingest"), QStringLiteral("--model"), kTiny,
                       QStringLiteral("--store"), path(QStringLiteral("wrong-tok")), text});
    QVERIFY2(r.exitCode == 1 && r.err.contains("tokenizer does not match the model"),
             r.err.constData());
    QVERIFY(!QFileInfo::exists(path(QStringLiteral("wrong-tok")) + QStringLiteral("/manifest.json")));
    // A text file into a store made from ids: another tokenizer.
    const QString store = path(QStringLiteral("exact-f16"));
    r = runLecternCli({QStringLiteral("ingest"), QStringLiteral("--model"), model("rwkvx-tiny-f32.pth"),
                       QStringLiteral("--store"), store, QStringLiteral("--tokenizer"),
                       QStringLiteral(LECTERN_TEST_DATA_DIR "/spm/tiny.model"), text});
    QVERIFY2(r.exitCode == 1 && r.err.contains("tokenizer"), r.err.constData());
    // Store settings are fixed when it is made.
    r = ingestIds(store, m_docFile, QStringLiteral("int8"));
    QVERIFY2(r.exitCode == 2 && r.err.contains("--kv-dtype"), r.err.constData());
    // Usage errors.
    QCOMPARE(runLecternCli({QStringLiteral("ingest"), QStringLiteral("--store"), store}).exitCode, 2);
    QCOMPARE(runLecternCli({QStringLiteral("ask"), QStringLiteral("--store"), store}).exitCode, 2);
    QCOMPARE(runLecternCli({QStringLiteral("ask"), QStringLiteral("q")}).exitCode, 2);
    // Not a store.
    const QString notStore = path(QStringLiteral("not-a-store"));
    QVERIFY(QDir().mkpath(notStore));
    QVERIFY(writeFile(notStore + QStringLiteral("/notes.txt"), "mine\n"));
    r = ingestIds(notStore, m_docFile, QStringLiteral("f16"));
    QVERIFY2(r.exitCode == 1 && r.err.contains("not"), r.err.constData());
    QVERIFY(QFileInfo::exists(notStore + QStringLiteral("/notes.txt")));
}

void TestCliStore::interruptResumeAndAppend()
{
#ifdef _WIN32
    QSKIP("QProcess::terminate sends WM_CLOSE, which a console program does not receive");
#endif
    // Big enough to take a while; SIGTERM (handled like Ctrl+C) saves a checkpoint and exits 130.
    const QString big = path(QStringLiteral("big.txt"));
    const std::vector<int> bigIds = randomIds(30000, 128, 4);
    QVERIFY(writeIds(big, bigIds));
    const QString store = path(QStringLiteral("interrupted"));
    QProcess p;
    p.setProcessChannelMode(QProcess::SeparateChannels);
    p.start(QStringLiteral(LECTERN_BIN_DIR "/lectern-cli"),
            QStringList{QStringLiteral("ingest"), QStringLiteral("--model"), kTiny,
                        QStringLiteral("--store"), store, QStringLiteral("--tokens-file"), big,
                        QStringLiteral("--checkpoint-every"), QStringLiteral("4096"),
                        QStringLiteral("--chunk-size"), QStringLiteral("256"),
                        QStringLiteral("--top-k"), QStringLiteral("3"), QStringLiteral("--threads"),
                        QStringLiteral("1")});
    QVERIFY(p.waitForStarted());
    // Wait for the store to exist, then a little more.
    QElapsedTimer t;
    t.start();
    while (!QFileInfo::exists(store + QStringLiteral("/manifest.json")) && t.elapsed() < 20000)
        QTest::qWait(5);
    QTest::qWait(150);
    p.terminate();
    QVERIFY(p.waitForFinished(60000));
    const QByteArray err = p.readAllStandardError();
    QCOMPARE(p.exitStatus(), QProcess::NormalExit);
    if (p.exitCode() == 0) {
        QSKIP("ingest finished before it could be interrupted");
    }
    QVERIFY2(p.exitCode() == 130, err.constData());
    QVERIFY2(err.contains("resume"), err.constData());
    QJsonObject j = infoJson(store);
    QCOMPARE(j.value(QStringLiteral("status")).toString(), QStringLiteral("unfinished"));
    const qint64 saved = j.value(QStringLiteral("tokens")).toInteger();
    qInfo("interrupted at %lld of 30000 tokens", saved);
    QVERIFY(saved < 30000);
    CliRun r = runLecternCli({QStringLiteral("store"), QStringLiteral("verify"), store});
    QVERIFY2(r.exitCode == 0, r.err.constData());

    const QStringList common{QStringLiteral("ingest"), QStringLiteral("--model"), kTiny,
                             QStringLiteral("--store"), store, QStringLiteral("--tokens-file")};
    // Another file while this one is unfinished.
    r = runLecternCli(common + QStringList{m_docFile});
    QVERIFY2(r.exitCode == 1 && r.err.contains("unfinished"), r.err.constData());
    r = runLecternCli(common + QStringList{m_docFile, QStringLiteral("--append")});
    QVERIFY2(r.exitCode == 1 && r.err.contains("unfinished"), r.err.constData());
    // Resume.
    r = runLecternCli(common + QStringList{big});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QVERIFY(r.out.contains("tokens: 30000\n"));
    // Another file: only with --append.
    r = runLecternCli(common + QStringList{m_docFile});
    QVERIFY2(r.exitCode == 1 && r.err.contains("--append"), r.err.constData());
    r = runLecternCli(common + QStringList{m_docFile, QStringLiteral("--append")});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QVERIFY(r.out.contains("tokens: 30300\n"));
    j = infoJson(store);
    QCOMPARE(j.value(QStringLiteral("sources")).toArray().size(), 2);
    QCOMPARE(j.value(QStringLiteral("status")).toString(), QStringLiteral("complete"));
    r = runLecternCli({QStringLiteral("store"), QStringLiteral("verify"), store,
                       QStringLiteral("--model"), kTiny});
    QVERIFY2(r.exitCode == 0, r.err.constData());
}

void TestCliStore::interruptedCreateStartsOver()
{
    // What a kill during the store's creation leaves: its empty folders and a half-written
    // manifest under a temporary name, no manifest.json.
    const QString store = path(QStringLiteral("half-created"));
    for (const char* sub : {"/tokens", "/checkpoints", "/kv/b0", "/kv/b1"})
        QVERIFY(QDir().mkpath(store + QLatin1String(sub)));
    QVERIFY(writeFile(store + QStringLiteral("/manifest.json.tmp123"), "{\"vers"));
    const CliRun r = ingestIds(store, m_docFile, QStringLiteral("f16"));
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QVERIFY2(r.err.contains("starting over"), r.err.constData());
    QVERIFY(!QFileInfo::exists(store + QStringLiteral("/manifest.json.tmp123")));
    const QString a = path(QStringLiteral("half-a.bin"));
    const QString b = path(QStringLiteral("half-b.bin"));
    QCOMPARE(askLogits(store, m_q, a).exitCode, 0);
    QCOMPARE(askLogits(path(QStringLiteral("exact-f16")), m_q, b).exitCode, 0);
    QCOMPARE(maxDiff(readFloats(a), readFloats(b)), 0.0);
}

void TestCliStore::textWithSentencePiece()
{
    const QString spm = QStringLiteral(LECTERN_TEST_DATA_DIR "/spm/tiny.model");
    const QString vocab1k = model("rwkvx-vocab1k-f16.safetensors");
    QByteArray text;
    for (int i = 0; i < 12; ++i)
        text += "Section " + QByteArray::number(i) +
                ". The licensor grants you a copy of the work, with or without modifications, "
                "provided that you meet the following conditions. Caf\xc3\xa9 na\xc3\xafve.\n";
    const QString file = path(QStringLiteral("licence.txt"));
    QVERIFY(writeFile(file, text));
    const QString store = path(QStringLiteral("text-store"));
    CliRun r = runLecternCli({QStringLiteral("ingest"), QStringLiteral("--model"), vocab1k,
                              QStringLiteral("--store"), store, QStringLiteral("--tokenizer"), spm,
                              QStringLiteral("--chunk-size"), QStringLiteral("32"),
                              QStringLiteral("--checkpoint-every"), QStringLiteral("128"), file});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QVERIFY2(!r.err.contains("no byte offsets"), r.err.constData());

    const QJsonObject j = infoJson(store);
    QCOMPARE(j.value(QStringLiteral("tokenizer")).toObject().value(QStringLiteral("kind")).toString(),
             QStringLiteral("sentencepiece"));
    QCOMPARE(j.value(QStringLiteral("tokenizer")).toObject().value(QStringLiteral("sha256")).toString(),
             sha256OfFile(spm));
    const QJsonObject src = j.value(QStringLiteral("sources")).toArray().at(0).toObject();
    QCOMPARE(src.value(QStringLiteral("sha256")).toString(), sha256OfFile(file));
    // bytes: of the text the offsets index, the file as `extract` cleans it (here: the final
    // newline dropped).
    QCOMPARE(src.value(QStringLiteral("bytes")).toInteger(), text.size() - 1);
    QVERIFY(src.value(QStringLiteral("settings")).toString().contains(QLatin1String("; extract=text;")));
    const qint64 tokens = j.value(QStringLiteral("tokens")).toInteger();
    QVERIFY(tokens > 64);
    const CliRun info = runLecternCli({QStringLiteral("store"), QStringLiteral("info"), store});
    QVERIFY(info.out.contains(sha256OfFile(file).toLatin1()));

    // A text question, tokenizer found from the store; provenance with byte offsets and the
    // page (a text file without form feeds is one page).
    r = runLecternCli({QStringLiteral("ask"), QStringLiteral("--store"), store,
                       QStringLiteral("--max-tokens"), QStringLiteral("6"), QStringLiteral("--seed"),
                       QStringLiteral("3"), QStringLiteral("--provenance"),
                       QStringLiteral("What must you do?")});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const QRegularExpression line(
        QStringLiteral("^attended: (\\d+)-(\\d+) ([0-9.]+) bytes (\\d+)-(\\d+) pages 1$"),
        QRegularExpression::MultilineOption);
    auto it = line.globalMatch(QString::fromUtf8(r.out));
    int ranges = 0;
    while (it.hasNext()) {
        const auto m = it.next();
        const qint64 b0 = m.captured(1).toLongLong(), b1 = m.captured(2).toLongLong();
        const qint64 o0 = m.captured(4).toLongLong(), o1 = m.captured(5).toLongLong();
        QVERIFY(0 <= b0 && b0 < b1 && b1 <= tokens);
        QVERIFY2(0 <= o0 && o0 < o1 && o1 <= text.size(), qPrintable(m.captured(0)));
        // Offsets grow with tokens: a range of n tokens spans at least n bytes... at most 16x.
        QVERIFY(o1 - o0 >= (b1 - b0) / 2);
        ++ranges;
    }
    QVERIFY2(ranges > 0, r.out.constData());

    // The tokenizer given explicitly must be the store's.
    r = runLecternCli({QStringLiteral("ask"), QStringLiteral("--store"), store,
                       QStringLiteral("--tokenizer"), QStringLiteral("world"),
                       QStringLiteral("--max-tokens"), QStringLiteral("0"), QStringLiteral("Why?")});
    QVERIFY2(r.exitCode == 1 && r.err.contains("tokenizer"), r.err.constData());
    // Re-ingesting the text with the World tokenizer is refused (another tokenizer).
    r = runLecternCli({QStringLiteral("ingest"), QStringLiteral("--model"), vocab1k,
                       QStringLiteral("--store"), store, file});
    QVERIFY2(r.exitCode == 1 && r.err.contains("tokenizer"), r.err.constData());
}

QTEST_GUILESS_MAIN(TestCliStore)
#include "tst_cli_store.moc"
