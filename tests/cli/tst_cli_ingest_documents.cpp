// lectern-cli ingest of documents (PDF, EPUB) rather than raw text: the text `extract` produces is
// tokenized, its location map is kept as the source's attachment, and `ask --provenance` names
// the pages the attention read. Also: verify names a damaged attachment, an encrypted PDF without
// its password fails before anything is written, and an interrupted PDF ingest resumes to the
// logits of an uninterrupted one.
#include <QCryptographicHash>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QSet>
#include <QTemporaryDir>
#include <QTest>

#include "store_test_util.h"

using namespace store_test;

namespace {

const QString kModel = model("rwkvx-vocab1k-f16.safetensors");
const QString kSpm = QStringLiteral(LECTERN_TEST_DATA_DIR "/spm/tiny.model");

QString document(const char* name)
{
    return QStringLiteral(LECTERN_TEST_DATA_DIR "/documents/") + QLatin1String(name);
}

QStringList ingestArgs(const QString& store, const QString& file, const QStringList& extra = {})
{
    return QStringList{QStringLiteral("ingest"), QStringLiteral("--model"), kModel,
                       QStringLiteral("--store"), store, QStringLiteral("--tokenizer"), kSpm,
                       QStringLiteral("--chunk-size"), QStringLiteral("32"),
                       QStringLiteral("--checkpoint-every"), QStringLiteral("256")} +
           extra + QStringList{file};
}

QJsonObject infoJson(const QString& store)
{
    const CliRun r = runLecternCli({QStringLiteral("store"), QStringLiteral("info"), store,
                                    QStringLiteral("--json")});
    return r.exitCode == 0 ? QJsonDocument::fromJson(r.out).object() : QJsonObject();
}

struct Attended {
    qint64 begin = 0, end = 0, byteBegin = 0, byteEnd = 0;
    QString where;  // "pages 3-4" / "chapters 2"
};

QVector<Attended> attendedLines(const QByteArray& out)
{
    static const QRegularExpression line(
        QStringLiteral("^attended: (\\d+)-(\\d+) [0-9.]+ bytes (\\d+)-(\\d+)(?: (.*))?$"),
        QRegularExpression::MultilineOption);
    QVector<Attended> v;
    auto it = line.globalMatch(QString::fromUtf8(out));
    while (it.hasNext()) {
        const auto m = it.next();
        v.append(Attended{m.captured(1).toLongLong(), m.captured(2).toLongLong(),
                          m.captured(3).toLongLong(), m.captured(4).toLongLong(), m.captured(5)});
    }
    return v;
}

}  // namespace

class TestCliIngestDocuments : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void pdfProvenanceAndVerify();
    void tokensMatchExtract();
    void epubChapters();
    void damagedAttachment();
    void encryptedPdf();
    void interruptedPdfResumes();

private:
    QString path(const QString& name) const { return m_dir.filePath(name); }
    QTemporaryDir m_dir;
    QString m_pdfStore;
};

void TestCliIngestDocuments::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_pdfStore = path(QStringLiteral("pdf"));
    const CliRun r = runLecternCli(ingestArgs(m_pdfStore, document("layout-running-headers.pdf")));
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QVERIFY2(!r.err.contains("no byte offsets"), r.err.constData());
}

void TestCliIngestDocuments::pdfProvenanceAndVerify()
{
    const QJsonObject j = infoJson(m_pdfStore);
    QCOMPARE(j.value(QStringLiteral("status")).toString(), QStringLiteral("complete"));
    const QJsonObject src = j.value(QStringLiteral("sources")).toArray().at(0).toObject();
    const QString settings = src.value(QStringLiteral("settings")).toString();
    QVERIFY2(settings.contains(QLatin1String("; extract=pdf; ocr=off; file_bytes=")),
             qPrintable(settings));
    QFile pdf(document("layout-running-headers.pdf"));
    QVERIFY(pdf.open(QIODevice::ReadOnly));
    QCOMPARE(src.value(QStringLiteral("sha256")).toString(),
             QString::fromLatin1(
                 QCryptographicHash::hash(pdf.readAll(), QCryptographicHash::Sha256).toHex()));
    QVERIFY(QFileInfo::exists(m_pdfStore + QStringLiteral("/sources/s0.att")));

    CliRun r = runLecternCli({QStringLiteral("store"), QStringLiteral("verify"), m_pdfStore,
                              QStringLiteral("--model"), kModel});
    QVERIFY2(r.exitCode == 0, r.err.constData());

    // The tokenizer is found from the settings; the ranges name pages 1-5 of the PDF.
    r = runLecternCli({QStringLiteral("ask"), QStringLiteral("--store"), m_pdfStore,
                       QStringLiteral("--max-tokens"), QStringLiteral("4"), QStringLiteral("--seed"),
                       QStringLiteral("1"), QStringLiteral("--provenance"),
                       QStringLiteral("What is the manual about?")});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const QVector<Attended> ranges = attendedLines(r.out);
    QVERIFY2(!ranges.isEmpty(), r.out.constData());
    static const QRegularExpression pages(QStringLiteral("^pages (\\d+)(?:-(\\d+))?$"));
    for (const Attended& a : ranges) {
        const auto m = pages.match(a.where);
        QVERIFY2(m.hasMatch(), qPrintable(a.where));
        const int first = m.captured(1).toInt();
        const int last = m.captured(2).isEmpty() ? first : m.captured(2).toInt();
        QVERIFY2(1 <= first && first <= last && last <= 5, qPrintable(a.where));
    }
}

void TestCliIngestDocuments::tokensMatchExtract()
{
    // The store's tokens are the tokens of the text `extract --json` reports; the plain `extract`
    // output is the same page texts, with a form feed (and a newline) between pages instead of
    // the blank line the ingested text has (empty pages hold no text in the ingested text).
    CliRun r = runLecternCli({QStringLiteral("extract"), QStringLiteral("--json"),
                              document("layout-running-headers.pdf")});
    QCOMPARE(r.exitCode, 0);
    const QByteArray text =
        QJsonDocument::fromJson(r.out).object().value(QStringLiteral("text")).toString().toUtf8();
    QVERIFY(!text.isEmpty());
    const QString textFile = path(QStringLiteral("extracted.txt"));
    QVERIFY(writeFile(textFile, text));
    r = runLecternCli({QStringLiteral("tokenize"), QStringLiteral("--tokenizer"), kSpm,
                       QStringLiteral("--file"), textFile});
    QCOMPARE(r.exitCode, 0);
    const qint64 tokens = r.out.trimmed().split(',').size();
    const QJsonObject j = infoJson(m_pdfStore);
    QCOMPARE(j.value(QStringLiteral("tokens")).toInteger(), tokens);
    QCOMPARE(j.value(QStringLiteral("sources")).toArray().at(0).toObject()
                 .value(QStringLiteral("bytes")).toInteger(),
             text.size());

    r = runLecternCli({QStringLiteral("extract"), document("layout-running-headers.pdf")});
    QCOMPARE(r.exitCode, 0);
    QByteArrayList nonEmpty;
    for (QByteArray page : r.out.split('\f')) {
        if (page.endsWith('\n'))
            page.chop(1);
        if (!page.isEmpty())
            nonEmpty << page;
    }
    QCOMPARE(nonEmpty.join("\n\n"), text);
}

void TestCliIngestDocuments::epubChapters()
{
    const QString store = path(QStringLiteral("epub"));
    CliRun r = runLecternCli(ingestArgs(store, document("book-epub3.epub")));
    QVERIFY2(r.exitCode == 0, r.err.constData());
    r = runLecternCli({QStringLiteral("store"), QStringLiteral("verify"), store});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const QJsonObject src = infoJson(store).value(QStringLiteral("sources")).toArray().at(0).toObject();
    QVERIFY(src.value(QStringLiteral("settings")).toString().contains(QLatin1String("extract=epub")));
    r = runLecternCli({QStringLiteral("ask"), QStringLiteral("--store"), store,
                       QStringLiteral("--max-tokens"), QStringLiteral("0"),
                       QStringLiteral("--logits-out"), path(QStringLiteral("epub.bin")),
                       QStringLiteral("--provenance"), QStringLiteral("Who is in chapter two?")});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const QVector<Attended> ranges = attendedLines(r.out);
    QVERIFY2(!ranges.isEmpty(), r.out.constData());
    static const QRegularExpression chapters(QStringLiteral("^chapters (\\d+)(?:-(\\d+))?$"));
    for (const Attended& a : ranges) {
        const auto m = chapters.match(a.where);
        QVERIFY2(m.hasMatch(), qPrintable(a.where));
        QVERIFY2(m.captured(1).toInt() >= 1 && m.captured(1).toInt() <= 4, qPrintable(a.where));
    }
}

void TestCliIngestDocuments::damagedAttachment()
{
    const QString store = path(QStringLiteral("damaged"));
    QVERIFY(copyDir(m_pdfStore, store));
    const QString att = store + QStringLiteral("/sources/s0.att");
    QFile f(att);
    QVERIFY(f.open(QIODevice::ReadWrite));
    QByteArray bytes = f.readAll();
    QVERIFY(bytes.size() > 10);
    bytes[bytes.size() / 2] = char(bytes[bytes.size() / 2] ^ 0x20);
    QVERIFY(f.seek(0) && f.write(bytes) == bytes.size());
    f.close();
    CliRun r = runLecternCli({QStringLiteral("store"), QStringLiteral("verify"), store});
    QVERIFY2(r.exitCode == 1 && r.err.contains("sources/s0.att"), r.err.constData());
    // Asking still works; the pages are left out with a warning.
    r = runLecternCli({QStringLiteral("ask"), QStringLiteral("--store"), store,
                       QStringLiteral("--max-tokens"), QStringLiteral("0"),
                       QStringLiteral("--logits-out"), path(QStringLiteral("damaged.bin")),
                       QStringLiteral("--provenance"), QStringLiteral("Why?")});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QVERIFY2(r.err.contains("sources/s0.att"), r.err.constData());
    QVERIFY(!r.out.contains("pages"));
    // A truncated attachment: open's size check names it.
    QVERIFY(f.resize(bytes.size() - 3));
    r = runLecternCli({QStringLiteral("ask"), QStringLiteral("--store"), store,
                       QStringLiteral("--max-tokens"), QStringLiteral("0"), QStringLiteral("Why?")});
    QVERIFY2(r.exitCode == 1 && r.err.contains("sources/s0.att"), r.err.constData());
}

void TestCliIngestDocuments::encryptedPdf()
{
    const QString store = path(QStringLiteral("encrypted"));
    CliRun r = runLecternCli(ingestArgs(store, document("encrypted.pdf")));
    QVERIFY2(r.exitCode == 1 && r.err.contains("--password"), r.err.constData());
    QVERIFY2(r.err.count('\n') == 1, r.err.constData());
    QVERIFY(!QFileInfo::exists(store + QStringLiteral("/manifest.json")));
    r = runLecternCli(ingestArgs(store, document("encrypted.pdf"),
                                 {QStringLiteral("--password"), QStringLiteral("wrong")}));
    QVERIFY2(r.exitCode == 1 && r.err.contains("password is wrong"), r.err.constData());
    r = runLecternCli(ingestArgs(store, document("encrypted.pdf"),
                                 {QStringLiteral("--password"), QStringLiteral("secret")}));
    QVERIFY2(r.exitCode == 0, r.err.constData());
    r = runLecternCli({QStringLiteral("store"), QStringLiteral("verify"), store});
    QVERIFY2(r.exitCode == 0, r.err.constData());
}

void TestCliIngestDocuments::interruptedPdfResumes()
{
    const QString pdf = document("real-shared-mime-info-spec.pdf");
    const QString whole = path(QStringLiteral("whole"));
    const QString store = path(QStringLiteral("interrupted"));
    const QStringList threads{QStringLiteral("--threads"), QStringLiteral("1")};
    QProcess p;
    p.setProcessChannelMode(QProcess::SeparateChannels);
    p.start(QStringLiteral(LECTERN_BIN_DIR "/lectern-cli"), ingestArgs(store, pdf, threads));
    QVERIFY(p.waitForStarted());
    QElapsedTimer t;
    t.start();
    while (!QFileInfo::exists(store + QStringLiteral("/manifest.json")) && t.elapsed() < 30000)
        QTest::qWait(5);
    QTest::qWait(300);
    p.terminate();  // handled like Ctrl+C: a checkpoint, exit 130
    QVERIFY(p.waitForFinished(60000));
    const QByteArray err = p.readAllStandardError();
    QCOMPARE(p.exitStatus(), QProcess::NormalExit);
    if (p.exitCode() == 0)
        QSKIP("ingest finished before it could be interrupted");
    QVERIFY2(p.exitCode() == 130, err.constData());
    const QJsonObject j = infoJson(store);
    QCOMPARE(j.value(QStringLiteral("status")).toString(), QStringLiteral("unfinished"));
    qInfo("interrupted at %lld of %lld tokens", j.value(QStringLiteral("tokens")).toInteger(),
          j.value(QStringLiteral("tokens_expected")).toInteger());

    CliRun r = runLecternCli(ingestArgs(store, pdf, threads));
    QVERIFY2(r.exitCode == 0, r.err.constData());
    r = runLecternCli(ingestArgs(whole, pdf));
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QCOMPARE(infoJson(store).value(QStringLiteral("tokens")).toInteger(),
             infoJson(whole).value(QStringLiteral("tokens")).toInteger());
    r = runLecternCli({QStringLiteral("store"), QStringLiteral("verify"), store,
                       QStringLiteral("--model"), kModel});
    QVERIFY2(r.exitCode == 0, r.err.constData());

    const QString a = path(QStringLiteral("resumed.bin")), b = path(QStringLiteral("whole.bin"));
    for (const auto& [dir, out] : {std::pair{store, a}, std::pair{whole, b}}) {
        r = runLecternCli({QStringLiteral("ask"), QStringLiteral("--store"), dir,
                           QStringLiteral("--max-tokens"), QStringLiteral("0"),
                           QStringLiteral("--logits-out"), out,
                           QStringLiteral("What is a glob?")});
        QVERIFY2(r.exitCode == 0, r.err.constData());
    }
    QCOMPARE(maxDiff(readFloats(a), readFloats(b)), 0.0);
    // The resumed store kept its attachment: the two are the same bytes.
    QFile fa(store + QStringLiteral("/sources/s0.att")), fb(whole + QStringLiteral("/sources/s0.att"));
    QVERIFY(fa.open(QIODevice::ReadOnly) && fb.open(QIODevice::ReadOnly));
    QCOMPARE(fa.readAll(), fb.readAll());
}

QTEST_GUILESS_MAIN(TestCliIngestDocuments)
#include "tst_cli_ingest_documents.moc"
