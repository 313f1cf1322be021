// lectern-cli end to end: version, per-command help, tokenize/detokenize (World and
// SentencePiece), inspect on the committed models and broken fixtures, bench, and the contract for
// errors (non-zero exit, exactly one line on stderr starting "lectern-cli: ").
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRandomGenerator>
#include <QTemporaryDir>
#include <QTest>

#include "cli_runner.h"

#include "lectern/version.h"

namespace {

using Run = CliRun;

Run runCli(const QStringList& args) { return runLecternCli(args); }

QString dataPath(const QString& relative)
{
    return QStringLiteral(LECTERN_TEST_DATA_DIR "/") + relative;
}

// The error contract: failed, and stderr is exactly one line "lectern-cli: ...".
void verifyOneLineError(const Run& r, int expectedCode, const QByteArray& fragment)
{
    QCOMPARE(r.exitCode, expectedCode);
    QVERIFY2(r.err.startsWith("lectern-cli: "), r.err.constData());
    QVERIFY2(r.err.endsWith('\n') && r.err.count('\n') == 1, r.err.constData());
    QVERIFY2(r.err.contains(fragment), r.err.constData());
}

}  // namespace

class TestCli : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void version();
    void helpForEveryCommand_data();
    void helpForEveryCommand();
    void usageErrors_data();
    void usageErrors();
    void tokenizeSpecVectors_data();
    void tokenizeSpecVectors();
    void tokenizeFileIsByteExact();
    void sentencePieceRoundTrip();
    void inspectMatchesManifest_data();
    void inspectMatchesManifest();
    void inspectBrokenFiles_data();
    void inspectBrokenFiles();
    void benchTokenizer();
};

void TestCli::version()
{
    const Run r = runCli({QStringLiteral("--version")});
    QCOMPARE(r.exitCode, 0);
    QCOMPARE(r.out, QByteArray("lectern-cli " LECTERN_VERSION_STRING "\n"));
}

void TestCli::helpForEveryCommand_data()
{
    QTest::addColumn<QString>("command");
    for (const char* c : {"tokenize", "detokenize", "inspect", "bench", "logits", "generate"})
        QTest::newRow(c) << QString::fromLatin1(c);
}

void TestCli::helpForEveryCommand()
{
    QFETCH(QString, command);
    const Run r = runCli({command, QStringLiteral("--help")});
    QCOMPARE(r.exitCode, 0);
    QVERIFY2(r.out.contains("Usage: lectern-cli " + command.toUtf8()), r.out.constData());
    QVERIFY(r.err.isEmpty());
}

void TestCli::usageErrors_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<int>("code");
    QTest::addColumn<QByteArray>("fragment");
    QTest::newRow("no command") << QStringList{} << 2 << QByteArray();
    QTest::newRow("unknown command") << QStringList{QStringLiteral("frobnicate")} << 2
                                     << QByteArray("unknown command 'frobnicate'");
    QTest::newRow("unknown option")
        << QStringList{QStringLiteral("tokenize"), QStringLiteral("--bogus"), QStringLiteral("x")}
        << 2 << QByteArray("bogus");
    QTest::newRow("tokenize nothing") << QStringList{QStringLiteral("tokenize")} << 2
                                      << QByteArray("expected one TEXT");
    QTest::newRow("tokenize missing file")
        << QStringList{QStringLiteral("tokenize"), QStringLiteral("--file"),
                       QStringLiteral("/nonexistent/x.txt")}
        << 1 << QByteArray("no such file");
    QTest::newRow("tokenize directory")
        << QStringList{QStringLiteral("tokenize"), QStringLiteral("--file"), QDir::tempPath()}
        << 1 << QByteArray("is a directory");
    QTest::newRow("bad tokenizer")
        << QStringList{QStringLiteral("tokenize"), QStringLiteral("--tokenizer"),
                       QStringLiteral("/nonexistent/t.model"), QStringLiteral("x")}
        << 1 << QByteArray("no such file");
    QTest::newRow("garbage vocab file")
        << QStringList{QStringLiteral("tokenize"), QStringLiteral("--tokenizer"),
                       dataPath(QStringLiteral("broken/not-a-model.txt")), QStringLiteral("x")}
        << 1 << QByteArray("vocab line 1");
    QTest::newRow("detokenize non-number")
        << QStringList{QStringLiteral("detokenize"), QStringLiteral("1,x,3")} << 2
        << QByteArray("not a token id: 'x'");
    QTest::newRow("detokenize id out of range")
        << QStringList{QStringLiteral("detokenize"), QStringLiteral("33155,70000")} << 1
        << QByteArray("70000");
    QTest::newRow("inspect nothing") << QStringList{QStringLiteral("inspect")} << 2
                                     << QByteArray("expected one MODEL");
    QTest::newRow("bench nothing") << QStringList{QStringLiteral("bench")} << 2
                                   << QByteArray("nothing to benchmark");
}

void TestCli::usageErrors()
{
    QFETCH(QStringList, args);
    QFETCH(int, code);
    QFETCH(QByteArray, fragment);
    const Run r = runCli(args);
    if (args.isEmpty()) {  // bare invocation prints the usage, not a one-line error
        QCOMPARE(r.exitCode, code);
        QVERIFY(r.err.contains("Usage: lectern-cli"));
        return;
    }
    verifyOneLineError(r, code, fragment);
}

void TestCli::tokenizeSpecVectors_data()
{
    // Spec §4.5, verified there against the reference tokenizer.
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QByteArray>("ids");
    QTest::newRow("hello") << QByteArray("Hello world") << QByteArray("33155,40213");
    QTest::newRow("chat") << QByteArray("User: hi\n\nAssistant:")
                          << QByteArray("24281,59,4571,261,5585,41693,59");
    QTest::newRow("digits") << QByteArray(" 12345") << QByteArray("3485,654,54");
    QTest::newRow("chinese") << QByteArray("中文测试") << QByteArray("10285,13012,13827,16707");
    QTest::newRow("emoji") << QByteArray("emoji 😀 ok")
                           << QByteArray("34295,33,3319,153,129,4709");
    QTest::newRow("nbsp") << QByteArray("a\xc2\xa0" "b") << QByteArray("98,2430,99");
    QTest::newRow("pass key") << QByteArray("The pass key is 4217. Remember it.")
                              << QByteArray("6699,31635,21952,4600,3515,637,47,55283,4601,47");
}

void TestCli::tokenizeSpecVectors()
{
    QFETCH(QByteArray, text);
    QFETCH(QByteArray, ids);
    const Run r = runCli({QStringLiteral("tokenize"), QString::fromUtf8(text)});
    QCOMPARE(r.exitCode, 0);
    QCOMPARE(r.out, ids + '\n');

    const Run back = runCli({QStringLiteral("detokenize"), QString::fromLatin1(ids)});
    QCOMPARE(back.exitCode, 0);
    QCOMPARE(back.out, text);
}

void TestCli::tokenizeFileIsByteExact()
{
    // Newlines, CRLF, a NUL, invalid UTF-8 and a trailing newline must all survive.
    QByteArray bytes("line one\nline two\r\n\n\ttabbed \xff\xfe broken \xe4\xb8 utf8\0 nul\n", 52);
    QRandomGenerator rng(7);
    for (int i = 0; i < 2000; ++i)
        bytes += char(rng.bounded(256));
    QTemporaryDir dir;
    QFile file(dir.filePath(QStringLiteral("input.bin")));
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(bytes);
    file.close();

    const Run r = runCli({QStringLiteral("tokenize"), QStringLiteral("--file"), file.fileName()});
    QCOMPARE(r.exitCode, 0);
    QVERIFY(r.out.endsWith('\n') && r.out.count('\n') == 1);
    const Run back = runCli({QStringLiteral("detokenize"), QString::fromLatin1(r.out.trimmed())});
    QCOMPARE(back.exitCode, 0);
    QCOMPARE(back.out, bytes);
}

void TestCli::sentencePieceRoundTrip()
{
    const QString model = dataPath(QStringLiteral("spm/tiny.model"));
    const QString text = QStringLiteral("The library keeps every page of the book.");
    const Run r = runCli({QStringLiteral("tokenize"), QStringLiteral("--tokenizer"), model, text});
    QCOMPARE(r.exitCode, 0);
    QVERIFY(r.out.count(',') >= 3);
    const Run back = runCli({QStringLiteral("detokenize"), QStringLiteral("--tokenizer"), model,
                             QString::fromLatin1(r.out.trimmed())});
    QCOMPARE(back.exitCode, 0);
    QCOMPARE(QString::fromUtf8(back.out), text);
}

void TestCli::inspectMatchesManifest_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QJsonObject>("expected");
    QFile manifest(dataPath(QStringLiteral("models/manifest.json")));
    QVERIFY(manifest.open(QIODevice::ReadOnly));
    const QJsonObject root = QJsonDocument::fromJson(manifest.readAll()).object();
    const QJsonObject models = root.value(QStringLiteral("models")).toObject();
    QVERIFY(!models.isEmpty());
    for (auto it = models.begin(); it != models.end(); ++it)
        QTest::newRow(qPrintable(it.key()))
            << it.key() << it.value().toObject().value(QStringLiteral("config")).toObject();
}

void TestCli::inspectMatchesManifest()
{
    QFETCH(QString, file);
    QFETCH(QJsonObject, expected);
    const QString path = dataPath(QStringLiteral("models/") + file);

    const Run json = runCli({QStringLiteral("inspect"), QStringLiteral("--json"), path});
    QCOMPARE(json.exitCode, 0);
    const QJsonObject got = QJsonDocument::fromJson(json.out).object();
    QVERIFY(!expected.isEmpty());
    for (auto it = expected.begin(); it != expected.end(); ++it) {
        QVERIFY2(got.contains(it.key()), qPrintable(it.key()));
        QCOMPARE(got.value(it.key()), it.value());
    }

    // The text form: one "key: value" per line with the required keys.
    const Run text = runCli({QStringLiteral("inspect"), path});
    QCOMPARE(text.exitCode, 0);
    for (const char* key : {"format", "arch", "n_rwkv", "n_attn", "n_embd", "n_head", "head_size",
                            "vocab", "dtype", "params", "lora_decay", "lora_iclr", "lora_value",
                            "lora_gate", "block_order"}) {
        const QByteArray line = QByteArray(key) + ": " +
                                (got.value(QLatin1String(key)).isDouble()
                                     ? QByteArray::number(qint64(got.value(QLatin1String(key)).toDouble()))
                                     : got.value(QLatin1String(key)).toString().toUtf8());
        QVERIFY2(text.out.contains(line + '\n'), line.constData());
    }
}

void TestCli::inspectBrokenFiles_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QByteArray>("fragment");
    QTest::newRow("wrong shape") << QStringLiteral("broken/wrong-shape.pth")
                                 << QByteArray("shape [128,31], expected [128,32]");
    QTest::newRow("missing tensor") << QStringLiteral("broken/missing-tensor.pth")
                                    << QByteArray("missing");
    QTest::newRow("truncated") << QStringLiteral("broken/truncated.pth") << QByteArray("truncated.pth");
    QTest::newRow("not a model") << QStringLiteral("broken/not-a-model.txt")
                                 << QByteArray("not a model file");
    QTest::newRow("missing file") << QStringLiteral("broken/does-not-exist.pth")
                                  << QByteArray("does-not-exist.pth");
}

void TestCli::inspectBrokenFiles()
{
    QFETCH(QString, file);
    QFETCH(QByteArray, fragment);
    verifyOneLineError(runCli({QStringLiteral("inspect"), dataPath(file)}), 1, fragment);
}

void TestCli::benchTokenizer()
{
    const Run r = runCli({QStringLiteral("bench"), QStringLiteral("--tokenizer"),
                          QStringLiteral("world"), QStringLiteral("--mb"), QStringLiteral("2")});
    QCOMPARE(r.exitCode, 0);
    double mbs = 0;
    for (const QByteArray& line : r.out.split('\n')) {
        if (line.startsWith("tokenize_mb_s: "))
            mbs = line.mid(15).toDouble();
    }
    QVERIFY2(mbs > 0, r.out.constData());
    QVERIFY(r.out.contains("tokens: "));
    QVERIFY(r.out.contains("tokenize_vs_scan: "));
}

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"
