// The main window end to end on the tiny test model (offscreen): open a document and read it,
// ask with Enter and see the streamed answer in the chat, the page chips open the reader, Esc
// stops, Regenerate replaces, the conversation is found again after a restart, a session is
// exported and opened into another library, and a corrupt PDF shows its error in the library.
#include <QLabel>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QToolButton>

#include <memory>

#include "../app/apptestutil.h"
#include "chatinput.h"
#include "chatpanel.h"
#include "enginecontroller.h"
#include "librarycontroller.h"
#include "librarypanel.h"
#include "mainwindow.h"
#include "messagewidget.h"
#include "readerpanel.h"

namespace {

// One running application on a library folder: database, engine, controller, window.
struct App {
    Library library;
    EngineController engine;
    std::unique_ptr<LibraryController> controller;
    std::unique_ptr<MainWindow> window;
    explicit App(const QString& root, int maxTokens = 24)
    {
        library.open(root + QStringLiteral("/library.sqlite"));
        controller = std::make_unique<LibraryController>(&library, &engine,
                                                         root + QStringLiteral("/stores"));
        controller->setStoreTemplate(AppTest::storeTemplate());
        controller->setSamplingSettings(AppTest::greedy(maxTokens));
        window = std::make_unique<MainWindow>(controller.get());
        window->libraryPanel()->setConfirmDestructive(false);
        window->openModel(AppTest::modelPath());
        window->setTokenizer(AppTest::tokenizerPath());
        window->show();
    }
    ~App() { window.reset(); }
    DocumentState state(qint64 id) const
    {
        const auto d = library.document(id);
        return d ? d->state : DocumentState::NotRead;
    }
    ChatPanel* chat() const { return window->chatPanel(); }
    MessageWidget* lastMessage() const { return chat()->messageWidgets().last(); }
    QString shownText(MessageWidget* w) const
    {
        return w->findChild<QLabel*>(QStringLiteral("messageText"))->text();
    }
};

}  // namespace

class TestLecternWindow : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_document;

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QVERIFY(m_dir.isValid());
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope,
                           m_dir.filePath(QStringLiteral("settings")));
        m_document = AppTest::writeDocument(m_dir.path());
        QVERIFY(!m_document.isEmpty());
    }

    void readAskStopRegenerateRestart()
    {
        const QString root = m_dir.filePath(QStringLiteral("lib"));
        qint64 doc = 0;
        qint64 conversation = 0;
        int messagesBefore = 0;
        {
            App app(root);
            QVERIFY(app.window->openPath(m_document));
            doc = app.window->libraryPanel()->currentDocument();
            QVERIFY(doc > 0);
            QTRY_VERIFY_WITH_TIMEOUT(app.state(doc) == DocumentState::Ready, 120000);
            QTRY_VERIFY(app.window->libraryPanel()->rowText(doc).contains(QLatin1String("Ready")));

            // Ask with Enter; every streamed piece is what the chat shows.
            QSignalSpy finished(app.controller.get(), &LibraryController::answerFinished);
            int streamedShown = 0;
            connect(app.controller.get(), &LibraryController::answerUpdated, this,
                    [&](qint64, qint64, const QString& text) {
                        if (app.shownText(app.lastMessage()) == text)
                            ++streamedShown;
                    });
            ChatInput* input = app.chat()->input();
            input->setPlainText(QStringLiteral("Who is the keeper?"));
            QTest::keyClick(input, Qt::Key_Return);
            QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 60000);
            QVERIFY(streamedShown >= 1);
            QVERIFY(input->toPlainText().isEmpty());
            QCOMPARE(app.chat()->messageWidgets().size(), 2);
            MessageWidget* answer = app.lastMessage();
            QVERIFY(!answer->text().isEmpty());
            QCOMPARE(app.library.message(answer->messageId())->text, answer->text());
            QVERIFY(!answer->pageChips().isEmpty());
            const QString firstText = answer->text();

            // A page chip opens the reader at that page.
            const AttendedPage cited = answer->message().attended.first();
            answer->pageChips().first()->click();
            QCOMPARE(app.window->readerPanel()->currentPage(), cited.page);

            // Regenerate (greedy) gives the same answer under a new message.
            const qint64 oldId = answer->messageId();
            answer->findChild<QToolButton*>(QStringLiteral("regenerateButton"))->click();
            QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 2, 60000);
            QCOMPARE(app.chat()->messageWidgets().size(), 2);
            QVERIFY(app.lastMessage()->messageId() != oldId);
            QCOMPARE(app.lastMessage()->text(), firstText);

            // Esc stops a long answer; what was shown stays.
            app.controller->setSamplingSettings(AppTest::greedy(4000));
            bool stopped = false;
            auto stopper = connect(app.controller.get(), &LibraryController::answerUpdated, this,
                                   [&] {
                                       if (!stopped)
                                           QTest::keyClick(input, Qt::Key_Escape);
                                       stopped = true;
                                   });
            input->setPlainText(QStringLiteral("Tell me everything."));
            QTest::keyClick(input, Qt::Key_Return);
            QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 3, 60000);
            disconnect(stopper);
            QCOMPARE(app.lastMessage()->message().state, MessageState::Stopped);
            QCOMPARE(app.lastMessage()->findChild<QLabel*>(QStringLiteral("messageState"))->text(),
                     QStringLiteral("stopped"));
            conversation = app.chat()->conversationId();
            messagesBefore = int(app.chat()->messageWidgets().size());
            QCOMPARE(messagesBefore, 4);

            // Markdown export holds the question.
            const QString md = m_dir.filePath(QStringLiteral("chat.md"));
            QVERIFY(app.controller->exportMarkdown(conversation, md));
            QFile file(md);
            QVERIFY(file.open(QIODevice::ReadOnly));
            QVERIFY(file.readAll().contains("Who is the keeper?"));
        }
        // Restart on the same library folder: the conversation is shown again.
        {
            App app(root);
            app.window->libraryPanel()->selectDocument(doc);
            QCOMPARE(app.chat()->documentId(), doc);
            QCOMPARE(app.chat()->conversationId(), conversation);
            QCOMPARE(app.chat()->messageWidgets().size(), messagesBefore);
            QCOMPARE(app.chat()->messageWidgets().first()->text(),
                     QStringLiteral("Who is the keeper?"));

            // Export the session, open it into another library through the window.
            const QString archive = m_dir.filePath(QStringLiteral("book.lectern"));
            QSignalSpy exported(app.controller.get(), &LibraryController::sessionExported);
            app.controller->exportSession(doc, archive);
            QTRY_COMPARE_WITH_TIMEOUT(exported.size(), 1, 60000);

            App other(m_dir.filePath(QStringLiteral("other")));
            QSignalSpy imported(other.controller.get(), &LibraryController::sessionImported);
            QVERIFY(other.window->openPath(archive));
            QTRY_COMPARE_WITH_TIMEOUT(imported.size(), 1, 60000);
            const qint64 copy = imported.first().first().toLongLong();
            QCOMPARE(other.state(copy), DocumentState::Ready);
            QCOMPARE(other.window->libraryPanel()->currentDocument(), copy);
            QCOMPARE(other.chat()->messageWidgets().size(), messagesBefore);
        }
    }

    void corruptPdfShowsError()
    {
        App app(m_dir.filePath(QStringLiteral("broken")));
        QVERIFY(app.window->openPath(QStringLiteral(LECTERN_TEST_DATA_DIR
                                                    "/documents/truncated.pdf")));
        const qint64 doc = app.window->libraryPanel()->currentDocument();
        QTRY_VERIFY_WITH_TIMEOUT(app.state(doc) == DocumentState::Failed, 60000);
        QTRY_VERIFY(app.window->libraryPanel()->rowText(doc).contains(
            QLatin1String("Could not be read")));
        const QString error = app.library.document(doc)->error;
        QVERIFY(!error.isEmpty());
        QVERIFY(app.window->libraryPanel()->rowText(doc).contains(error));
    }

    void refusesOpeningWithoutModel()
    {
        App app(m_dir.filePath(QStringLiteral("nomodel")));
        QVERIFY(!app.window->openModel(QStringLiteral(LECTERN_TEST_DATA_DIR
                                                      "/broken/wrong-shape.pth")));
        // The previous (valid) model stays in use.
        QVERIFY(app.window->modelPath().endsWith(QLatin1String("rwkvx-vocab1k-f16.safetensors")));
    }
};

QTEST_MAIN(TestLecternWindow)
#include "tst_lecternwindow.moc"
