// Session files end to end: export a read document with its conversation, open it elsewhere
// with the same model and get the same logits and the same greedy answer without re-reading;
// refuse another model, a damaged file, a truncated file and a file that is no session.
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include "apptestutil.h"
#include "enginecontroller.h"
#include "lectern/document_store.h"
#include "tokenizerloader.h"

class TestSessionArchive : public QObject {
    Q_OBJECT

  private:
    QTemporaryDir m_dir;
    QString m_store;
    QString m_archive;
    IngestResult m_ingested;
    AnswerResult m_answer;
    EngineController* m_engine = nullptr;

    AskRequest askRequest(const QString& store) const {
        AskRequest a;
        a.storeDir = store;
        a.modelPath = AppTest::modelPath();
        a.tokenizerSpec = AppTest::tokenizerPath();
        a.question = QStringLiteral("What did Mr. Smith write in the log?");
        a.sampling = AppTest::greedy(20);
        a.pages = m_ingested.pages;
        return a;
    }
    AnswerResult answer(const QString& store) {
        QSignalSpy finished(m_engine, &EngineController::answerFinished);
        m_engine->ask(askRequest(store));
        if (!QTest::qWaitFor([&] { return !finished.isEmpty(); }, 60000)) return {};
        return finished.first().at(1).value<AnswerResult>();
    }
    // Logits after the question, from the engine directly.
    static std::vector<float> logits(const QString& store) {
        auto model = lectern::Model::load(AppTest::modelPath().toStdString());
        auto s = lectern::DocumentStore::open(store.toStdString(), *model);
        auto state = s->load_state();
        auto tok = TokenizerLoader::load(AppTest::tokenizerPath());
        std::vector<float> out;
        if (!state || !tok) return out;
        const auto ids = (*tok)->encode("\n\nUser: Who?\n\nAssistant:");
        if (!lectern::forward(*state, ids, false, out)) out.clear();
        return out;
    }
    QString import(const QString& archive, const QString& dir, const QString& model,
                   QString* error) {
        QSignalSpy imported(m_engine, &EngineController::sessionImported);
        QSignalSpy failed(m_engine, &EngineController::failed);
        m_engine->importSession(archive, dir, model);
        (void)QTest::qWaitFor([&] { return !imported.isEmpty() || !failed.isEmpty(); }, 60000);
        *error = failed.isEmpty() ? QString() : failed.first().at(1).toString();
        return imported.isEmpty() ? QString()
                                  : imported.first().at(1).value<SessionContents>().storeDir;
    }

  private Q_SLOTS:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        m_engine = new EngineController(this);
        m_store = m_dir.filePath(QStringLiteral("store"));
        IngestRequest r = AppTest::storeTemplate();
        r.documentPath = AppTest::writeDocument(m_dir.path());
        r.storeDir = m_store;
        QSignalSpy finished(m_engine, &EngineController::ingestFinished);
        m_engine->ingest(r);
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 120000);
        m_ingested = finished.first().at(1).value<IngestResult>();
        QVERIFY(m_ingested.complete);
        m_answer = answer(m_store);
        QVERIFY(m_answer.tokens > 0);
    }

    void exportThenImportGivesTheSameAnswer() {
        m_archive = m_dir.filePath(QStringLiteral("book.lectern"));
        SessionExportRequest request;
        request.archivePath = m_archive;
        request.storeDir = m_store;
        request.document = QJsonObject{{QStringLiteral("title"), QStringLiteral("Book")},
                                       {QStringLiteral("fileSha256"), m_ingested.fileSha256}};
        request.conversations =
            QJsonArray{QJsonObject{{QStringLiteral("title"), QStringLiteral("c")},
                                   {QStringLiteral("messages"), QJsonArray{}}}};
        QSignalSpy exported(m_engine, &EngineController::sessionExported);
        m_engine->exportSession(request);
        QTRY_COMPARE_WITH_TIMEOUT(exported.size(), 1, 60000);

        const auto peeked = SessionArchive::peek(m_archive);
        QVERIFY(peeked);
        QCOMPARE(peeked->documentFingerprint, m_ingested.fileSha256);
        QCOMPARE(peeked->document.value(QStringLiteral("title")).toString(),
                 QStringLiteral("Book"));
        QCOMPARE(peeked->conversations.size(), 1);

        QString error;
        const QString store = import(m_archive, m_dir.filePath(QStringLiteral("elsewhere/store")),
                                     AppTest::modelPath(), &error);
        QVERIFY2(!store.isEmpty(), qPrintable(error));
        const AnswerResult again = answer(store);
        QCOMPARE(again.text, m_answer.text);
        QCOMPARE(again.tokens, m_answer.tokens);
        QCOMPARE(again.attended.size(), m_answer.attended.size());
        const std::vector<float> a = logits(m_store), b = logits(store);
        QVERIFY(!a.empty());
        QVERIFY(a == b);  // bit for bit
    }

    void wrongModelIsRefused() {
        QString error;
        const QString dir = m_dir.filePath(QStringLiteral("wrong-model"));
        QVERIFY(import(m_archive, dir, AppTest::otherModelPath(), &error).isEmpty());
        QVERIFY2(error.contains(QStringLiteral("another model")), qPrintable(error));
        QVERIFY2(error.contains(QStringLiteral("rwkvx-vocab1k-f16.safetensors")),
                 qPrintable(error));
        QVERIFY(!QFile::exists(dir));
    }

    void damagedFilesAreRefused_data() {
        QTest::addColumn<QString>("damage");
        QTest::addColumn<QString>("expected");
        QTest::newRow("flipped byte") << QStringLiteral("flip") << QStringLiteral("wrong checksum");
        QTest::newRow("truncated") << QStringLiteral("truncate") << QStringLiteral("ends early");
        QTest::newRow("manifest") << QStringLiteral("manifest")
                                  << QStringLiteral("manifest checksum");
        QTest::newRow("not a session")
            << QStringLiteral("text") << QStringLiteral("not a Lectern session");
    }
    void damagedFilesAreRefused() {
        QFETCH(QString, damage);
        QFETCH(QString, expected);
        QFile in(m_archive);
        QVERIFY(in.open(QIODevice::ReadOnly));
        QByteArray bytes = in.readAll();
        if (damage == QLatin1String("flip"))
            bytes[bytes.size() - 100] = char(bytes[bytes.size() - 100] ^ 0x55);
        else if (damage == QLatin1String("truncate"))
            bytes.chop(1000);
        else if (damage == QLatin1String("manifest"))
            bytes[100] = char(bytes[100] ^ 0x01);
        else
            bytes = "hello, I am a text file\n";
        const QString path = m_dir.filePath(damage + QStringLiteral(".lectern"));
        QFile out(path);
        QVERIFY(out.open(QIODevice::WriteOnly));
        out.write(bytes);
        out.close();
        QString error;
        const QString dir = m_dir.filePath(QStringLiteral("damaged-") + damage);
        QVERIFY(import(path, dir, AppTest::modelPath(), &error).isEmpty());
        QVERIFY2(error.contains(expected), qPrintable(error));
        QVERIFY(!QFile::exists(dir));
        QVERIFY(!QFile::exists(dir + QStringLiteral(".importing")));
    }
};

QTEST_GUILESS_MAIN(TestSessionArchive)
#include "tst_sessionarchive.moc"
