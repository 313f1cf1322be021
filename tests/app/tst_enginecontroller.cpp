// EngineController + EngineWorker end to end on the tiny test model: reading a document with
// progress, pause / resume / cancel, streamed answers with attended pages, stop, "as of" a
// checkpoint, plain errors, and a GUI event loop that stays responsive throughout.
#include <QElapsedTimer>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

#include "apptestutil.h"
#include "enginecontroller.h"
#include "lectern/document_store.h"
#include "locationmap.h"

class TestEngineController : public QObject {
    Q_OBJECT

  private:
    QTemporaryDir m_dir;
    QString m_document;
    IngestResult m_ingested;
    QString m_store;

    IngestRequest request(const QString& store) const {
        IngestRequest r = AppTest::storeTemplate();
        r.documentPath = m_document;
        r.storeDir = store;
        return r;
    }
    AskRequest askRequest(const QString& question, int maxTokens = 24) const {
        AskRequest a;
        a.storeDir = m_store;
        a.modelPath = AppTest::modelPath();
        a.tokenizerSpec = AppTest::tokenizerPath();
        a.question = question;
        a.sampling = AppTest::greedy(maxTokens);
        a.pages = m_ingested.pages;
        return a;
    }

  private Q_SLOTS:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        m_document = AppTest::writeDocument(m_dir.path());
        QVERIFY(!m_document.isEmpty());
        m_store = m_dir.filePath(QStringLiteral("store"));
    }

    void ingestWithProgress() {
        EngineController engine;
        QSignalSpy started(&engine, &EngineController::ingestStarted);
        QSignalSpy progress(&engine, &EngineController::ingestProgress);
        QSignalSpy finished(&engine, &EngineController::ingestFinished);
        QSignalSpy failed(&engine, &EngineController::failed);
        const quint64 id = engine.ingest(request(m_store));
        QTRY_VERIFY_WITH_TIMEOUT(finished.size() == 1 || failed.size() == 1, 120000);
        QVERIFY2(failed.isEmpty(),
                 failed.isEmpty() ? "" : qPrintable(failed.first().at(1).toString()));
        QCOMPARE(finished.first().at(0).toULongLong(), id);
        QCOMPARE(started.size(), 1);
        QCOMPARE(started.first().at(1).toLongLong(), 0);  // a new store
        QVERIFY(!progress.isEmpty());
        const QList<QVariant> last = progress.last();
        m_ingested = finished.first().at(1).value<IngestResult>();
        QVERIFY(m_ingested.complete);
        QVERIFY(m_ingested.tokens > 200);
        QCOMPARE(m_ingested.tokens, m_ingested.tokensTotal);
        QCOMPARE(last.at(1).toLongLong(), m_ingested.tokens);
        QCOMPARE(m_ingested.pages.size(), 4);
        QCOMPARE(m_ingested.format, QStringLiteral("text"));
        QVERIFY(m_ingested.bytesOnDisk > 0);
        QVERIFY(m_ingested.checkpoints.size() >= 2);
        QCOMPARE(m_ingested.fileSha256.size(), 64);
        QCOMPARE(engine.pendingCount(), 0);

        // The page map is stored with the source, as `lectern-cli ingest` stores it.
        auto attachment = lectern::DocumentStore::read_attachment(m_store.toStdString(), 0);
        QVERIFY2(attachment, attachment ? "" : attachment.error().message.c_str());
        const QByteArray bytes(reinterpret_cast<const char*>(attachment->data()),
                               qsizetype(attachment->size()));
        auto map = Ingest::LocationMap::parse(bytes);
        QVERIFY2(map, map ? "" : map.error().message.c_str());
        QCOMPARE(map->pages.size(), 4);
    }

    void answerStreamsWithAttendedPages() {
        EngineController engine;
        QSignalSpy pieces(&engine, &EngineController::answerPiece);
        QSignalSpy finished(&engine, &EngineController::answerFinished);
        QSignalSpy failed(&engine, &EngineController::failed);
        const quint64 id =
            engine.ask(askRequest(QStringLiteral("Who is the keeper of the lighthouse?")));
        QTRY_VERIFY_WITH_TIMEOUT(finished.size() == 1 || failed.size() == 1, 60000);
        QVERIFY2(failed.isEmpty(),
                 failed.isEmpty() ? "" : qPrintable(failed.first().at(1).toString()));
        const AnswerResult result = finished.first().at(1).value<AnswerResult>();
        QCOMPARE(finished.first().at(0).toULongLong(), id);
        QVERIFY(result.tokens > 0);
        QString streamed;
        for (const QList<QVariant>& p : pieces) streamed += p.at(1).toString();
        QVERIFY(pieces.size() >= 2);
        QCOMPARE(streamed, result.text);
        // Chunks of 32 tokens over a four-page document: the attention picks earlier chunks.
        QVERIFY(!result.attended.isEmpty());
        double previous = 2.0;
        for (const AttendedPage& p : result.attended) {
            QVERIFY(p.page >= 0 && p.page < 4);
            QVERIFY(p.weight > 0.0 && p.weight <= previous);
            QVERIFY(p.textBegin < p.textEnd);
            QCOMPARE(p.label, m_ingested.pages[p.page].label);
            previous = p.weight;
        }

        // Greedy twice gives the same answer (the store is never modified by asking, and the
        // document state the worker keeps between questions is never modified either: each
        // question runs on a fork of it), also after a question about another point of it.
        finished.clear();
        engine.ask(askRequest(QStringLiteral("Who is the keeper of the lighthouse?")));
        QTRY_VERIFY_WITH_TIMEOUT(finished.size() == 1, 60000);
        QCOMPARE(finished.first().at(1).value<AnswerResult>().text, result.text);
        QCOMPARE(finished.first().at(1).value<AnswerResult>().attended.size(),
                 result.attended.size());
        AskRequest early = askRequest(QStringLiteral("Who is the keeper of the lighthouse?"));
        early.asOf = m_ingested.checkpoints.first();
        engine.ask(early);
        QTRY_VERIFY_WITH_TIMEOUT(finished.size() == 2 || !failed.isEmpty(), 60000);
        QVERIFY(failed.isEmpty());
        engine.ask(askRequest(QStringLiteral("Who is the keeper of the lighthouse?")));
        QTRY_VERIFY_WITH_TIMEOUT(finished.size() == 3 || !failed.isEmpty(), 60000);
        QVERIFY(failed.isEmpty());
        QCOMPARE(finished.at(2).at(1).value<AnswerResult>().text, result.text);
    }

    // The bundled demo model on the bundled sample: the answer is right and the passage shown
    // for its strongest page is the one that holds the fact (provenance points at the source).
    void demoModelPointsAtTheFact() {
        const QString demo = QStringLiteral(LECTERN_TEST_DATA_DIR "/../../resources/demo-model/");
        const QString sample =
            QStringLiteral(LECTERN_TEST_DATA_DIR "/../../resources/samples/harbour-ledger.txt");
        QFile file(sample);
        QVERIFY(file.open(QIODevice::ReadOnly));
        const qint64 factAt = file.readAll().indexOf("The code for the red door is 4821.");
        QVERIFY(factAt > 0);

        EngineController engine;
        QSignalSpy ingested(&engine, &EngineController::ingestFinished);
        QSignalSpy finished(&engine, &EngineController::answerFinished);
        QSignalSpy failed(&engine, &EngineController::failed);
        IngestRequest r;
        r.documentPath = sample;
        r.storeDir = m_dir.filePath(QStringLiteral("demo-store"));
        r.modelPath = demo + QStringLiteral("lectern-demo.pth");
        r.tokenizerSpec = demo + QStringLiteral("lectern-demo.spm.model");
        r.chunkSize = 128;
        r.topK = 3;
        engine.ingest(r);
        QTRY_VERIFY_WITH_TIMEOUT(ingested.size() == 1 || failed.size() == 1, 300000);
        QVERIFY2(failed.isEmpty(),
                 failed.isEmpty() ? "" : qPrintable(failed.first().at(1).toString()));
        const IngestResult read = ingested.first().at(1).value<IngestResult>();

        AskRequest a;
        a.storeDir = r.storeDir;
        a.modelPath = r.modelPath;
        a.tokenizerSpec = r.tokenizerSpec;
        a.question = QStringLiteral("What is the code for the red door?");
        a.sampling = AppTest::greedy(24);
        a.pages = read.pages;
        engine.ask(a);
        QTRY_VERIFY_WITH_TIMEOUT(finished.size() == 1 || failed.size() == 1, 120000);
        QVERIFY(failed.isEmpty());
        const AnswerResult answer = finished.first().at(1).value<AnswerResult>();
        QVERIFY2(answer.text.contains(QStringLiteral("4821")), qPrintable(answer.text));
        QVERIFY(!answer.attended.isEmpty());
        const AttendedPage& top = answer.attended.first();
        QVERIFY2(top.textBegin <= factAt && factAt < top.textEnd,
                 qPrintable(QStringLiteral("passage %1-%2, fact at %3")
                                .arg(top.textBegin)
                                .arg(top.textEnd)
                                .arg(factAt)));
        QVERIFY2(top.textEnd - top.textBegin < 4096,  // one passage, not the whole page
                 qPrintable(QStringLiteral("passage of %1 bytes").arg(top.textEnd - top.textBegin)));
    }

    void stopEndsTheAnswer() {
        EngineController engine;
        QSignalSpy finished(&engine, &EngineController::answerFinished);
        quint64 id = 0;
        int seen = 0;
        connect(&engine, &EngineController::answerPiece, this,
                [&](quint64 pieceId, const QString&) {
                    if (++seen == 2) engine.stopAnswer(pieceId);
                });
        id = engine.ask(askRequest(QStringLiteral("Tell me everything."), 4000));
        QTRY_VERIFY_WITH_TIMEOUT(finished.size() == 1, 60000);
        const AnswerResult result = finished.first().at(1).value<AnswerResult>();
        QCOMPARE(finished.first().at(0).toULongLong(), id);
        QCOMPARE(result.finishReason, QStringLiteral("cancelled"));
        QVERIFY(result.tokens < 4000);
    }

    void askAsOfCheckpoint() {
        EngineController engine;
        QSignalSpy finished(&engine, &EngineController::answerFinished);
        QSignalSpy failed(&engine, &EngineController::failed);
        AskRequest a = askRequest(QStringLiteral("What happened first?"));
        a.asOf = m_ingested.checkpoints.first();
        engine.ask(a);
        QTRY_VERIFY_WITH_TIMEOUT(finished.size() == 1 || failed.size() == 1, 60000);
        QVERIFY(failed.isEmpty());
        // Only what was read up to the checkpoint can be attended.
        for (const AttendedPage& p : finished.first().at(1).value<AnswerResult>().attended)
            QVERIFY(p.textBegin < m_ingested.pages.last().textEnd);

        a.asOf = 7;  // not a checkpoint
        const quint64 bad = engine.ask(a);
        QTRY_COMPARE_WITH_TIMEOUT(failed.size(), 1, 60000);
        QCOMPARE(failed.first().at(0).toULongLong(), bad);
        QVERIFY(failed.first().at(1).toString().contains(QStringLiteral("checkpoint")));
    }

    void pauseResumeCancel() {
        const QString store = m_dir.filePath(QStringLiteral("paused"));
        EngineController engine;
        QSignalSpy started(&engine, &EngineController::ingestStarted);
        QSignalSpy paused(&engine, &EngineController::ingestPaused);
        QSignalSpy finished(&engine, &EngineController::ingestFinished);
        const quint64 id = engine.ingest(request(store));
        engine.pauseIngest(id);  // before the worker starts: it waits at the first piece
        QCOMPARE(paused.size(), 1);
        QVERIFY(engine.isPaused(id));
        QTRY_COMPARE_WITH_TIMEOUT(started.size(), 1, 60000);
        QTest::qWait(300);
        QVERIFY(finished.isEmpty());  // still paused
        engine.resumeIngest(id);
        QVERIFY(!engine.isPaused(id));
        engine.cancelIngest(id);  // saves a checkpoint and stops
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 60000);
        const IngestResult first = finished.first().at(1).value<IngestResult>();
        QVERIFY(!first.complete);
        QVERIFY(first.tokens < first.tokensTotal);

        // Reading again resumes where it stopped.
        started.clear();
        finished.clear();
        engine.ingest(request(store));
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 120000);
        QCOMPARE(started.first().at(1).toLongLong(), first.tokens);
        QVERIFY(finished.first().at(1).value<IngestResult>().complete);
    }

    void errorsArePlainWords() {
        EngineController engine;
        QSignalSpy failed(&engine, &EngineController::failed);
        IngestRequest r = request(m_dir.filePath(QStringLiteral("never")));
        r.documentPath = m_dir.filePath(QStringLiteral("missing.pdf"));
        engine.ingest(r);
        QTRY_COMPARE_WITH_TIMEOUT(failed.size(), 1, 30000);
        QVERIFY(failed.first().at(1).toString().contains(QStringLiteral("could not be read")));

        const quint64 id =
            engine.loadModel(QStringLiteral(LECTERN_TEST_DATA_DIR "/broken/not-a-model.txt"));
        QTRY_COMPARE_WITH_TIMEOUT(failed.size(), 2, 30000);
        QCOMPARE(failed.last().at(0).toULongLong(), id);
        QVERIFY(
            failed.last().at(1).toString().contains(QStringLiteral("Choose another model file")));

        QSignalSpy loaded(&engine, &EngineController::modelLoaded);
        engine.loadModel(AppTest::modelPath());
        QTRY_COMPARE_WITH_TIMEOUT(loaded.size(), 1, 30000);
        QVERIFY(loaded.first().at(2).toString().contains(QStringLiteral("attention")));
    }

    // The GUI thread's event loop: a 10 ms timer never waits 100 ms while a document is read
    // and an answer streams on the worker.
    void eventLoopStaysResponsive() {
        EngineController engine;
        QElapsedTimer clock;
        qint64 last = 0;
        qint64 maxGap = 0;
        QTimer tick;
        tick.setInterval(10);
        connect(&tick, &QTimer::timeout, this, [&] {
            const qint64 now = clock.elapsed();
            maxGap = std::max(maxGap, now - last);
            last = now;
        });
        QSignalSpy ingested(&engine, &EngineController::ingestFinished);
        QSignalSpy answered(&engine, &EngineController::answerFinished);
        QSignalSpy progress(&engine, &EngineController::ingestProgress);
        clock.start();
        tick.start();
        engine.ingest(request(m_dir.filePath(QStringLiteral("latency"))));
        AskRequest a = askRequest(QStringLiteral("Describe the storm."), 200);
        engine.ask(a);
        QTRY_VERIFY_WITH_TIMEOUT(ingested.size() == 1 && answered.size() == 1, 120000);
        tick.stop();
        qInfo("max event-loop gap: %lld ms over %lld ms", maxGap, clock.elapsed());
        QVERIFY(!progress.isEmpty());
        QVERIFY2(maxGap < 100, qPrintable(QString::number(maxGap)));
    }
};

QTEST_GUILESS_MAIN(TestEngineController)
#include "tst_enginecontroller.moc"
