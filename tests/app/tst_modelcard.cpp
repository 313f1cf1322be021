// ModelCard: parsing and validation of the JSON beside a checkpoint (good card, missing fields,
// bad JSON, wrong types, tokenizer paths relative to the card), the card lookup beside a model,
// and DemoResources' LECTERN_DEMO_MODEL override.
#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include "modelcard.h"

namespace {

bool writeFile(const QString& path, const QByteArray& bytes)
{
    QFile f(path);
    return f.open(QIODevice::WriteOnly | QIODevice::Truncate) && f.write(bytes) == bytes.size();
}

QString errorOf(const lectern::Result<ModelCard>& r)
{
    return r ? QString() : QString::fromStdString(r.error().message);
}

}  // namespace

class TestModelCard : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void goodCard();
    void optionalFields();
    void worldTokenizer();
    void errors_data();
    void errors();
    void cardPathFor();
    void forModel();
    void bundledDemoModel();

private:
    QTemporaryDir m_dir;
    QString m_card;
};

void TestModelCard::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QVERIFY(QDir(m_dir.path()).mkpath(QStringLiteral("models/tok")));
    QVERIFY(writeFile(m_dir.filePath(QStringLiteral("models/tok/demo.spm.model")), "x"));
    m_card = m_dir.filePath(QStringLiteral("models/demo.json"));
}

void TestModelCard::goodCard()
{
    const QByteArray json = R"({"name": "Demo", "model": "demo.pth",
        "tokenizer": "tok/demo.spm.model", "attention": "compat", "chunk_size": 128,
        "top_k": 3, "prompt_style": "base", "training": {"seed": 1}})";
    const auto card = ModelCard::parse(json, m_card);
    QVERIFY2(card, qPrintable(errorOf(card)));
    QCOMPARE(card->name, QStringLiteral("Demo"));
    QCOMPARE(card->modelFile, QStringLiteral("demo.pth"));
    QCOMPARE(card->tokenizerSpec, m_dir.filePath(QStringLiteral("models/tok/demo.spm.model")));
    QCOMPARE(card->attention, QStringLiteral("compat"));
    QCOMPARE(card->chunkSize, 128);
    QCOMPARE(card->topK, 3);
    QCOMPARE(card->promptStyle, QStringLiteral("base"));
    QCOMPARE(card->cardPath, m_card);
}

void TestModelCard::optionalFields()
{
    const auto card = ModelCard::parse(R"({"tokenizer": "world", "chunk_size": 64, "top_k": 2})",
                                       m_card);
    QVERIFY2(card, qPrintable(errorOf(card)));
    QCOMPARE(card->name, QStringLiteral("demo"));  // the card's base name
    QCOMPARE(card->attention, QStringLiteral("native"));
    QCOMPARE(card->promptStyle, QStringLiteral("chat"));
}

void TestModelCard::worldTokenizer()
{
    const auto card = ModelCard::parse(R"({"tokenizer": "world", "chunk_size": 2048, "top_k": 3})",
                                       m_card);
    QVERIFY(card);
    QCOMPARE(card->tokenizerSpec, QStringLiteral("world"));
}

void TestModelCard::errors_data()
{
    QTest::addColumn<QByteArray>("json");
    QTest::addColumn<QString>("fragment");
    const QByteArray tail = R"("chunk_size": 128, "top_k": 3})";
    QTest::newRow("bad json") << QByteArray(R"({"tokenizer": "world",)") << "not valid JSON";
    QTest::newRow("not an object") << QByteArray("[1, 2]") << "must be a JSON object";
    QTest::newRow("no tokenizer") << QByteArray(R"({"chunk_size": 128, "top_k": 3})")
                                  << "\"tokenizer\" is missing";
    QTest::newRow("no chunk size") << QByteArray(R"({"tokenizer": "world", "top_k": 3})")
                                   << "\"chunk_size\" is missing";
    QTest::newRow("no top-k") << QByteArray(R"({"tokenizer": "world", "chunk_size": 128})")
                              << "\"top_k\" is missing";
    QTest::newRow("chunk size a string")
        << QByteArray(R"({"tokenizer": "world", "chunk_size": "128", "top_k": 3})")
        << "\"chunk_size\" must be an integer";
    QTest::newRow("chunk size fractional")
        << QByteArray(R"({"tokenizer": "world", "chunk_size": 12.5, "top_k": 3})")
        << "\"chunk_size\" must be an integer";
    QTest::newRow("top-k zero")
        << QByteArray(R"({"tokenizer": "world", "chunk_size": 8, "top_k": 0})")
        << "\"top_k\" must be an integer";
    QTest::newRow("tokenizer a number") << QByteArray(R"({"tokenizer": 5, )") + tail
                                        << "\"tokenizer\" must be a non-empty string";
    QTest::newRow("name a number") << QByteArray(R"({"name": 1, "tokenizer": "world", )") + tail
                                   << "\"name\" must be a non-empty string";
    QTest::newRow("bad attention")
        << QByteArray(R"({"tokenizer": "world", "attention": "full", )") + tail
        << "\"attention\" must be \"native\" or \"compat\"";
    QTest::newRow("bad prompt style")
        << QByteArray(R"({"tokenizer": "world", "prompt_style": "x", )") + tail
        << "\"prompt_style\" must be \"chat\" or \"base\"";
    QTest::newRow("missing tokenizer file")
        << QByteArray(R"({"tokenizer": "nowhere.model", )") + tail << "does not exist";
}

void TestModelCard::errors()
{
    QFETCH(QByteArray, json);
    QFETCH(QString, fragment);
    const auto card = ModelCard::parse(json, m_card);
    QVERIFY(!card);
    const QString message = errorOf(card);
    QVERIFY2(message.contains(fragment), qPrintable(message));
    QVERIFY2(message.startsWith(QDir::toNativeSeparators(m_card) + QStringLiteral(": ")),
             qPrintable(message));
    QVERIFY(!message.contains(QLatin1Char('\n')));
}

void TestModelCard::cardPathFor()
{
    QCOMPARE(ModelCard::cardPathFor(QStringLiteral("/m/lectern-demo.pth")),
             QStringLiteral("/m/lectern-demo.json"));
    QCOMPARE(ModelCard::cardPathFor(QStringLiteral("/m/model.v2.safetensors")),
             QStringLiteral("/m/model.v2.json"));
}

void TestModelCard::forModel()
{
    const QString model = m_dir.filePath(QStringLiteral("models/demo.pth"));
    auto none = ModelCard::forModel(model);
    QVERIFY(none && !*none);  // no card: not an error
    QVERIFY(writeFile(m_card,
                      R"({"tokenizer": "tok/demo.spm.model", "chunk_size": 16, "top_k": 2})"));
    auto found = ModelCard::forModel(model);
    QVERIFY(found && *found);
    QCOMPARE((*found)->chunkSize, 16);
    QVERIFY(writeFile(m_card, "{"));
    auto broken = ModelCard::forModel(model);
    QVERIFY(!broken);
    QVERIFY(QString::fromStdString(broken.error().message).contains(QStringLiteral("demo.json")));
    QFile::remove(m_card);
}

void TestModelCard::bundledDemoModel()
{
    const QString path = m_dir.filePath(QStringLiteral("elsewhere/../models/demo.pth"));
    qputenv("LECTERN_DEMO_MODEL", QFile::encodeName(path));
    QCOMPARE(DemoResources::demoModelPath(), QDir::cleanPath(path));
    qunsetenv("LECTERN_DEMO_MODEL");
    // Without the override the build tree's (or source tree's) copy is found.
    const QString found = DemoResources::demoModelPath();
    QVERIFY2(found.endsWith(QStringLiteral("/demo-model/lectern-demo.pth")), qPrintable(found));
    QVERIFY(QFile::exists(found));
    QVERIFY(DemoResources::sampleDocumentPath().endsWith(QStringLiteral("harbour-ledger.txt")));
}

QTEST_GUILESS_MAIN(TestModelCard)
#include "tst_modelcard.moc"
