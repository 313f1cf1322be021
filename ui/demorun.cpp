// DemoRun: the end-to-end self-test and the screenshot tour.
#include "demorun.h"

#include <QApplication>
#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QLineEdit>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QThread>
#include <QToolButton>

#include <cstdio>
#include <functional>

#include "chatinput.h"
#include "chatpanel.h"
#include "enginecontroller.h"
#include "library.h"
#include "librarycontroller.h"
#include "librarypanel.h"
#include "mainwindow.h"
#include "messagewidget.h"
#include "modelcard.h"
#include "readerpanel.h"
#include "settingsdialog.h"

namespace DemoRun {
namespace {

bool waitFor(const std::function<bool()>& done, int ms)
{
    QDeadlineTimer deadline(ms);
    while (!done()) {
        if (deadline.hasExpired())
            return false;
        QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
        QThread::msleep(2);
    }
    return true;
}

void note(const char* what) { std::printf("self-test: %s\n", what); }

bool fail(const char* why)
{
    std::fprintf(stderr, "self-test: FAILED: %s\n", why);
    return false;
}

bool grab(QWidget* widget, const QString& dir, const QString& name)
{
    QCoreApplication::processEvents();
    const QString path = QDir(dir).filePath(name);
    if (!widget->grab().save(path, "PNG", 9))
        return fail("could not save a screenshot");
    std::printf("screenshot: %s\n", qPrintable(path));
    return true;
}

// The question about the sample document and the fact its answer must hold.
constexpr auto kQuestion = "What is the code for the red door?";
constexpr auto kExpected = "4821";

bool tour(const QString& sourceDir, const QString& shots, const QString& work)
{
    const QString data = sourceDir + QStringLiteral("/tests/data");
    const QString model = DemoResources::demoModelPath();

    Library library;
    if (!library.open(work + QStringLiteral("/library.sqlite")))
        return fail("the library database could not be created");
    EngineController engine;
    // The model card gives the tokenizer, chunk size and top-k; the template only adds
    // checkpoints, so the screenshots show a few "as of" points.
    LibraryController controller(&library, &engine, work + QStringLiteral("/stores"));
    IngestRequest store;
    store.checkpointEvery = 4096;
    controller.setStoreTemplate(store);
    SamplingSettings sampling;  // greedy: the answer is the same on every machine
    sampling.temperature = 0.0;
    sampling.topP = 1.0;
    sampling.maxTokens = 40;
    sampling.seed = 1;
    controller.setSamplingSettings(sampling);

    MainWindow window(&controller);
    window.resize(1360, 820);
    window.libraryPanel()->setConfirmDestructive(false);
    if (!window.openModel(model))
        return fail("the bundled demo model was refused");
    window.show();

    if (!window.openSampleDocument())
        return fail("the sample document could not be opened");
    const qint64 doc = window.libraryPanel()->currentDocument();
    auto state = [&](qint64 id) {
        const auto d = library.document(id);
        return d ? d->state : DocumentState::Failed;
    };
    if (!waitFor([&] { return state(doc) != DocumentState::Reading; }, 120000) ||
        state(doc) != DocumentState::Ready)
        return fail("the document was not read");
    note("document read");

    int finished = 0;
    QObject::connect(&controller, &LibraryController::answerFinished, &window,
                     [&finished] { ++finished; });
    window.chatPanel()->input()->setPlainText(QString::fromLatin1(kQuestion));
    window.chatPanel()->send();
    if (!waitFor([&] { return finished == 1; }, 120000))
        return fail("no answer came");
    const QList<MessageWidget*> messages = window.chatPanel()->messageWidgets();
    if (messages.size() != 2 || messages.last()->text().isEmpty())
        return fail("the answer is not shown in the chat");
    if (!messages.last()->text().contains(QLatin1String(kExpected))) {
        std::fprintf(stderr, "self-test: the answer was: %s\n",
                     qPrintable(messages.last()->text()));
        return fail("the answer to the sample question lacks 4821");
    }
    note("the answer holds the fact from the sample document");
    const MessageRecord answer = messages.last()->message();
    if (answer.state != MessageState::Complete || answer.attended.isEmpty() ||
        messages.last()->pageChips().isEmpty())
        return fail("the answer cites no pages");
    note("answer with attended pages shown");
    messages.last()->pageChips().first()->click();
    if (window.readerPanel()->currentPage() != answer.attended.first().page)
        return fail("a page chip did not open the reader at its page");
    note("page chip opens the reader");

    if (shots.isEmpty())
        return true;
    QDir().mkpath(shots);
    if (!grab(&window, shots, QStringLiteral("library-chat.png")))
        return false;
    // A PDF in the reader with a search highlighted.
    const QString pdf = data + QStringLiteral("/documents/layout-two-column.pdf");
    if (window.openPath(pdf)) {
        const qint64 pdfDoc = window.libraryPanel()->currentDocument();
        waitFor([&] { return state(pdfDoc) != DocumentState::Reading; }, 120000);
        if (auto* find = window.readerPanel()->findChild<QLineEdit*>())
            find->setText(QStringLiteral("the"));
        window.readerPanel()->findNext();
        if (!grab(&window, shots, QStringLiteral("reader-pdf.png")))
            return false;
    }
    SettingsDialog settings(&controller, &window);
    settings.showModel(model);
    settings.show();
    if (!grab(&settings, shots, QStringLiteral("settings-model.png")))
        return false;
    settings.tabs()->setCurrentIndex(2);
    return grab(&settings, shots, QStringLiteral("settings-answers.png"));
}

}  // namespace

Result run(const QString& sourceDir, const QString& screenshotsDir)
{
    // The demo model and sample ship with every installation: missing ones are a broken install.
    if (!QFile::exists(DemoResources::demoModelPath()) ||
        !QFile::exists(DemoResources::sampleDocumentPath())) {
        fail(qPrintable(QStringLiteral("the bundled demo model or sample document is missing (%1)")
                            .arg(DemoResources::demoModelSearchDescription())));
        return Failed;
    }
    QTemporaryDir work;
    if (!work.isValid()) {
        fail("no temporary folder");
        return Failed;
    }
    return tour(sourceDir, screenshotsDir, work.path()) ? Passed : Failed;
}

}  // namespace DemoRun
