// LibraryController: a document read into the library, a chat whose streamed answer is in the
// database whenever it is shown, stop, regenerate, edit and resend, Markdown export, reading
// that resumes after a restart, and a session exported and opened into another library.
#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

#include "apptestutil.h"
#include "enginecontroller.h"
#include "librarycontroller.h"

class TestLibraryController : public QObject {
    Q_OBJECT

  private:
    QTemporaryDir m_dir;
    QString m_document;

    struct App {
        Library library;
        EngineController engine;
        std::unique_ptr<LibraryController> controller;
        App(const QString& root) {
            library.open(root + QStringLiteral("/library.sqlite"));
            controller = std::make_unique<LibraryController>(&library, &engine,
                                                             root + QStringLiteral("/stores"));
            controller->setStoreTemplate(AppTest::storeTemplate());
            SamplingSettings s = AppTest::greedy(24);
            controller->setSamplingSettings(s);
        }
    };

    static bool waitReady(App& app, qint64 doc, int timeoutMs = 120000) {
        return QTest::qWaitFor(
                   [&] {
                       const auto d = app.library.document(doc);
                       return d && (d->state == DocumentState::Ready ||
                                    d->state == DocumentState::Failed);
                   },
                   timeoutMs) &&
               app.library.document(doc)->state == DocumentState::Ready;
    }

  private Q_SLOTS:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        m_document = AppTest::writeDocument(m_dir.path());
    }

    void readAndChat() {
        // The GUI thread's event loop keeps ticking through reading, answering and saving.
        QElapsedTimer clock;
        qint64 last = 0, maxGap = 0;
        const char* stage = "reading";
        const char* worstStage = "";
        QTimer tick;
        tick.setInterval(10);
        connect(&tick, &QTimer::timeout, this, [&] {
            if (clock.elapsed() - last > maxGap) {
                maxGap = clock.elapsed() - last;
                worstStage = stage;
            }
            last = clock.elapsed();
        });
        clock.start();
        tick.start();

        App app(m_dir.filePath(QStringLiteral("a")));
        QSignalSpy progress(app.controller.get(), &LibraryController::readingProgress);
        const qint64 doc =
            app.controller->addDocument(m_document, AppTest::modelPath(), AppTest::tokenizerPath());
        QVERIFY(doc > 0);
        QVERIFY(app.controller->isReading(doc));
        QVERIFY(waitReady(app, doc));
        QVERIFY(!progress.isEmpty());
        const DocumentRecord d = *app.library.document(doc);
        QCOMPARE(d.pages.size(), 4);
        QVERIFY(d.tokens > 0 && d.tokens == d.tokensTotal);
        QVERIFY(d.bytesOnDisk > 0);
        QCOMPARE(d.format, QStringLiteral("text"));

        stage = "chat";
        const qint64 conv = app.controller->newConversation(doc);
        // Whenever text is shown, it is already in the database.
        int checks = 0;
        connect(app.controller.get(), &LibraryController::answerUpdated, this,
                [&](qint64, qint64 messageId, const QString& text) {
                    const auto saved = app.library.message(messageId);
                    QVERIFY(saved);
                    QCOMPARE(saved->text, text);
                    ++checks;
                });
        QSignalSpy finished(app.controller.get(), &LibraryController::answerFinished);
        const qint64 answer =
            app.controller->sendMessage(conv, QStringLiteral("Who is the keeper?"));
        QVERIFY(answer > 0);
        QCOMPARE(app.library.message(answer)->state, MessageState::Streaming);
        QVERIFY(app.controller->isAnswering(conv));
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 60000);
        QVERIFY(checks >= 1);
        const MessageRecord done = *app.library.message(answer);
        QCOMPARE(done.state, MessageState::Complete);
        QVERIFY(!done.text.isEmpty());
        QVERIFY(!done.attended.isEmpty());

        // Regenerate (greedy): the same text again, under a new message id.
        const qint64 again = app.controller->regenerate(answer);
        QVERIFY(again > answer);
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 2, 60000);
        QCOMPARE(app.library.message(again)->text, done.text);
        QVERIFY(!app.library.message(answer));
        QCOMPARE(app.library.messages(conv).size(), 2);

        // Edit and resend replaces the question and its answer.
        const qint64 question = app.library.messages(conv).first().id;
        const qint64 edited =
            app.controller->editAndResend(question, QStringLiteral("Where is the lamp?"));
        QVERIFY(edited > 0);
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 3, 60000);
        const QList<MessageRecord> messages = app.library.messages(conv);
        QCOMPARE(messages.size(), 2);
        QCOMPARE(messages[0].text, QStringLiteral("Where is the lamp?"));

        // Stop keeps what was shown.
        SamplingSettings longer = AppTest::greedy(4000);
        app.controller->setSamplingSettings(longer);
        QString shown;
        auto stopper = connect(app.controller.get(), &LibraryController::answerUpdated, this,
                               [&](qint64 c, qint64, const QString& text) {
                                   shown = text;
                                   app.controller->stopAnswer(c);
                               });
        const qint64 stopped =
            app.controller->sendMessage(conv, QStringLiteral("Tell me everything."));
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 4, 60000);
        disconnect(stopper);
        const MessageRecord s = *app.library.message(stopped);
        QCOMPARE(s.state, MessageState::Stopped);
        QVERIFY(s.text.startsWith(shown));

        const QString md = app.controller->conversationMarkdown(conv);
        QVERIFY(md.contains(QStringLiteral("Where is the lamp?")));
        QVERIFY(md.contains(QStringLiteral("*(stopped)*")));
        QVERIFY(app.controller->exportMarkdown(conv, m_dir.filePath(QStringLiteral("chat.md"))));
        QVERIFY(QFile::exists(m_dir.filePath(QStringLiteral("chat.md"))));

        stage = "session";
        // A session of this document opens into another library without re-reading.
        QSignalSpy exported(app.controller.get(), &LibraryController::sessionExported);
        const QString archive = m_dir.filePath(QStringLiteral("doc.lectern"));
        app.controller->exportSession(doc, archive);
        QTRY_COMPARE_WITH_TIMEOUT(exported.size(), 1, 60000);
        // (Opening a second library below is test set-up on this thread, not engine work.)
        tick.stop();
        qInfo("max event-loop gap: %lld ms (while %s) over %lld ms", maxGap, worstStage,
              clock.elapsed());
        QVERIFY2(maxGap < 100, qPrintable(QString::number(maxGap)));

        App other(m_dir.filePath(QStringLiteral("b")));
        QSignalSpy imported(other.controller.get(), &LibraryController::sessionImported);
        other.controller->importSession(archive, AppTest::modelPath());
        QTRY_COMPARE_WITH_TIMEOUT(imported.size(), 1, 60000);
        const qint64 copy = imported.first().at(0).toLongLong();
        const DocumentRecord c = *other.library.document(copy);
        QCOMPARE(c.state, DocumentState::Ready);
        QCOMPARE(c.pages.size(), 4);
        QCOMPARE(other.library.conversations(copy).size(), 1);
        const qint64 copiedConv = other.library.conversations(copy).first().id;
        QCOMPARE(other.library.messages(copiedConv).size(), messages.size() + 2);
        other.controller->setSamplingSettings(AppTest::greedy(24));
        QSignalSpy otherFinished(other.controller.get(), &LibraryController::answerFinished);
        const qint64 fresh = other.controller->newConversation(copy);
        const qint64 reply =
            other.controller->sendMessage(fresh, QStringLiteral("Where is the lamp?"));
        QTRY_COMPARE_WITH_TIMEOUT(otherFinished.size(), 1, 60000);
        QCOMPARE(other.library.message(reply)->text, messages[1].text);

    }

    void readingResumesAfterRestart() {
        const QString root = m_dir.filePath(QStringLiteral("restart"));
        qint64 doc = 0;
        qint64 streaming = 0;
        {
            App app(root);
            doc = app.controller->addDocument(m_document, AppTest::modelPath(),
                                              AppTest::tokenizerPath());
            app.controller->pauseReading(doc);
            QTRY_VERIFY_WITH_TIMEOUT(!app.controller->isReading(doc), 60000);
            DocumentRecord d = *app.library.document(doc);
            QCOMPARE(d.state, DocumentState::Paused);
            // Paused before the worker began (nothing read) or part way: never complete.
            QVERIFY(d.tokens == 0 || d.tokens < d.tokensTotal);
            // As if the app was killed while reading and while an answer streamed.
            d.state = DocumentState::Reading;
            app.library.updateDocument(d);
            const qint64 conv = app.library.addConversation(doc, QStringLiteral("c"));
            streaming = app.library.addMessage(conv, false, QStringLiteral("half an ans"),
                                               MessageState::Streaming);
        }
        App app(root);
        QCOMPARE(app.controller->resumeInterrupted(), 1);
        QVERIFY(waitReady(app, doc));
        const auto m = app.library.message(streaming);
        QCOMPARE(m->state, MessageState::Stopped);
        QCOMPARE(m->text, QStringLiteral("half an ans"));
    }

    void cancelDiscardsReading() {
        App app(m_dir.filePath(QStringLiteral("cancel")));
        const qint64 doc =
            app.controller->addDocument(m_document, AppTest::modelPath(), AppTest::tokenizerPath());
        app.controller->cancelReading(doc);
        QTRY_VERIFY_WITH_TIMEOUT(!app.controller->isReading(doc), 60000);
        const DocumentRecord d = *app.library.document(doc);
        QCOMPARE(d.state, DocumentState::NotRead);
        QCOMPARE(d.tokens, 0);
        QVERIFY(!QFile::exists(d.storeDir));
        QSignalSpy errors(app.controller.get(), &LibraryController::errorOccurred);
        const qint64 conv = app.controller->newConversation(doc);
        QCOMPARE(app.controller->sendMessage(conv, QStringLiteral("?")), 0);
        QCOMPARE(errors.size(), 1);
        QVERIFY(app.controller->removeDocument(doc));
        QVERIFY(!app.library.document(doc));

        // Removed while being read: the store goes once the worker has let go of it.
        const qint64 busy =
            app.controller->addDocument(m_document, AppTest::modelPath(), AppTest::tokenizerPath());
        const QString store = app.library.document(busy)->storeDir;
        QVERIFY(app.controller->removeDocument(busy));
        QVERIFY(!app.library.document(busy));
        QTRY_VERIFY_WITH_TIMEOUT(!app.controller->isReading(busy), 60000);
        QVERIFY(!QFile::exists(store));
    }
};

QTEST_GUILESS_MAIN(TestLibraryController)
#include "tst_librarycontroller.moc"
