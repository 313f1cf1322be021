// The bundled demo model as lectern-cli's default: ingest the bundled sample document with no
// --model/--tokenizer/--chunk-size/--top-k (the model card supplies them), check the store, ask
// in a new process and find the fact; --bypass-attention changes the logits; a model without a
// card keeps the old defaults; a broken card and a missing demo model give clear errors.
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

#include "store_test_util.h"

using namespace store_test;

namespace {

const QString kSample =
    QStringLiteral(LECTERN_TEST_DATA_DIR "/../../resources/samples/harbour-ledger.txt");

void verifyOneLineError(const CliRun& r, int code, const QByteArray& fragment)
{
    QVERIFY2(r.exitCode == code, r.err.constData());
    QVERIFY2(r.err.contains(fragment), r.err.constData());
    QVERIFY2(r.err.trimmed().count('\n') == 0, r.err.constData());
}

QJsonObject storeInfo(const QString& store)
{
    const CliRun r = runLecternCli({QStringLiteral("store"), QStringLiteral("info"), store,
                                    QStringLiteral("--json")});
    return r.exitCode == 0 ? QJsonDocument::fromJson(r.out).object() : QJsonObject();
}

}  // namespace

class TestCliDemoModel : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init() { qunsetenv("LECTERN_DEMO_MODEL"); }
    void ingestAndAskWithDefaults();
    void bypassAttentionChangesLogits();
    void explicitFlagsWin();
    void modelWithoutCardKeepsDefaults();
    void brokenCard();
    void noBundledModel();
};

void TestCliDemoModel::ingestAndAskWithDefaults()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString store = dir.filePath(QStringLiteral("store"));
    const CliRun ingest = runLecternCli(
        {QStringLiteral("ingest"), QStringLiteral("--store"), store, kSample}, 600000);
    QVERIFY2(ingest.exitCode == 0, ingest.err.constData());
    QVERIFY2(ingest.err.contains("using the bundled demo model"), ingest.err.constData());
    QVERIFY(ingest.out.contains("status: complete"));

    const QJsonObject info = storeInfo(store);
    const QJsonObject attention = info.value(QStringLiteral("attention")).toObject();
    QCOMPARE(attention.value(QStringLiteral("chunk_size")).toInt(), 128);
    QCOMPARE(attention.value(QStringLiteral("top_k")).toInt(), 3);
    QCOMPARE(attention.value(QStringLiteral("mode")).toString(), QStringLiteral("native"));
    QVERIFY2(info.value(QStringLiteral("model_path")).toString().endsWith(
                 QStringLiteral("demo-model/lectern-demo.pth")),
             qPrintable(info.value(QStringLiteral("model_path")).toString()));
    QCOMPARE(info.value(QStringLiteral("tokenizer")).toObject().value(QStringLiteral("kind")),
             QStringLiteral("sentencepiece"));

    // A new process: only the question is processed, with the model and tokenizer of the store.
    const CliRun ask = runLecternCli({QStringLiteral("ask"), QStringLiteral("--store"), store,
                                      QStringLiteral("--temperature"), QStringLiteral("0"),
                                      QStringLiteral("What is the code for the red door?")});
    QVERIFY2(ask.exitCode == 0, ask.err.constData());
    QVERIFY2(ask.out.contains("4821"), ask.out.constData());
}

void TestCliDemoModel::bypassAttentionChangesLogits()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    // Long enough to span several of the card's 128-token chunks.
    const QString ids = joinIds(randomIds(300, 1000, 7));
    const auto logits = [&](const QString& out, const QStringList& extra) {
        return runLecternCli(QStringList{QStringLiteral("logits"), QStringLiteral("--tokens"), ids,
                                         QStringLiteral("--out"), out} +
                             extra);
    };
    const QString plain = dir.filePath(QStringLiteral("plain.bin"));
    const QString bypassed = dir.filePath(QStringLiteral("bypassed.bin"));
    const CliRun a = logits(plain, {});
    QVERIFY2(a.exitCode == 0, a.err.constData());
    const CliRun b = logits(bypassed, {QStringLiteral("--bypass-attention")});
    QVERIFY2(b.exitCode == 0, b.err.constData());
    const std::vector<float> x = readFloats(plain), y = readFloats(bypassed);
    QVERIFY(!x.empty());
    QCOMPARE(x.size(), y.size());
    QVERIFY(x != y);
    for (const float v : y)
        QVERIFY(std::isfinite(v));
}

void TestCliDemoModel::explicitFlagsWin()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString store = dir.filePath(QStringLiteral("store"));
    const QString ids = dir.filePath(QStringLiteral("ids.txt"));
    QVERIFY(writeIds(ids, randomIds(200, 1000, 5)));
    const CliRun r = runLecternCli({QStringLiteral("ingest"), QStringLiteral("--store"), store,
                                    QStringLiteral("--tokens-file"), ids,
                                    QStringLiteral("--chunk-size"), QStringLiteral("64"),
                                    QStringLiteral("--top-k"), QStringLiteral("2")});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const QJsonObject attention = storeInfo(store).value(QStringLiteral("attention")).toObject();
    QCOMPARE(attention.value(QStringLiteral("chunk_size")).toInt(), 64);
    QCOMPARE(attention.value(QStringLiteral("top_k")).toInt(), 2);
}

void TestCliDemoModel::modelWithoutCardKeepsDefaults()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString store = dir.filePath(QStringLiteral("store"));
    const QString ids = dir.filePath(QStringLiteral("ids.txt"));
    QVERIFY(writeIds(ids, randomIds(40, 128, 3)));
    const CliRun r = runLecternCli({QStringLiteral("ingest"), QStringLiteral("--model"),
                                    model("rwkvx-tiny-f32.pth"), QStringLiteral("--store"), store,
                                    QStringLiteral("--tokens-file"), ids});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QVERIFY(!r.err.contains("demo model"));
    const QJsonObject attention = storeInfo(store).value(QStringLiteral("attention")).toObject();
    QCOMPARE(attention.value(QStringLiteral("chunk_size")).toInt(), 2048);
    QCOMPARE(attention.value(QStringLiteral("top_k")).toInt(), 3);
}

void TestCliDemoModel::brokenCard()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString copy = dir.filePath(QStringLiteral("m.pth"));
    QVERIFY(QFile::copy(model("rwkvx-tiny-f32.pth"), copy));
    const QStringList args{QStringLiteral("logits"), QStringLiteral("--model"), copy,
                           QStringLiteral("--tokens"), QStringLiteral("1,2,3"),
                           QStringLiteral("--out"), dir.filePath(QStringLiteral("o.bin"))};
    QVERIFY(writeFile(dir.filePath(QStringLiteral("m.json")), "{\"tokenizer\": \"world\","));
    verifyOneLineError(runLecternCli(args), 1, "m.json: not valid JSON");
    QVERIFY(writeFile(dir.filePath(QStringLiteral("m.json")),
                      R"({"tokenizer": "world", "chunk_size": "big", "top_k": 3})"));
    verifyOneLineError(runLecternCli(args), 1, "\"chunk_size\" must be an integer");
    // A good card: its chunk size is used, explicit flags still win.
    QVERIFY(writeFile(dir.filePath(QStringLiteral("m.json")),
                      R"({"tokenizer": "world", "chunk_size": 16, "top_k": 2})"));
    const CliRun ok = runLecternCli(args);
    QVERIFY2(ok.exitCode == 0, ok.err.constData());
}

void TestCliDemoModel::noBundledModel()
{
    qputenv("LECTERN_DEMO_MODEL", "/nonexistent/lectern-demo.pth");
    const CliRun r = runLecternCli({QStringLiteral("generate"), QStringLiteral("--prompt"),
                                    QStringLiteral("Hi")});
    qunsetenv("LECTERN_DEMO_MODEL");
    verifyOneLineError(r, 1, "bundled demo model /nonexistent/lectern-demo.pth does not exist");
}

QTEST_GUILESS_MAIN(TestCliDemoModel)
#include "tst_cli_demo_model.moc"
