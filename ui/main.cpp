// lectern: the desktop application's entry point (options --version, --self-test,
// --screenshots DIR, [FILE...]: documents, .lectern sessions or a model file to use).
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QIcon>
#include <QMessageBox>
#include <QStringList>
#include <QTemporaryDir>

#include <cstdio>

#include "apptranslations.h"
#include "demorun.h"
#include "enginecontroller.h"
#include "lectern/version.h"
#include "library.h"
#include "librarycontroller.h"
#include "mainwindow.h"
#include "singleinstance.h"
#include "tokenizerloader.h"

namespace {

// The source tree this binary was built from (the screenshot tour's PDF fixture lives there).
QString sourceDir()
{
    return QStringLiteral(LECTERN_SOURCE_DIR);
}

// A quick check that the installed application works: the bundled tokenizer loads and tokenizes
// a known phrase, the window builds, and the bundled sample document is read with the bundled demo
// model and a question about it answered correctly with cited pages, end to end through the
// window. Used by
// installers and CI (with QT_QPA_PLATFORM=offscreen).
int runSelfTest()
{
    auto tokenizer = TokenizerLoader::load(QStringLiteral("world"));
    if (!tokenizer) {
        std::fprintf(stderr, "self-test: tokenizer: %s\n", tokenizer.error().message.c_str());
        return 1;
    }
    const auto ids = (*tokenizer)->encode("Hello world");
    if (ids != std::vector<lectern::token_id>{33155, 40213}) {
        std::fprintf(stderr, "self-test: tokenizer gave unexpected ids\n");
        return 1;
    }
    {
        QTemporaryDir work;
        Library library;
        if (!work.isValid() || !library.open(work.filePath(QStringLiteral("library.sqlite")))) {
            std::fprintf(stderr, "self-test: the library database could not be created\n");
            return 1;
        }
        EngineController engine;
        LibraryController controller(&library, &engine, work.filePath(QStringLiteral("stores")));
        MainWindow window(&controller);
        if (window.windowTitle().isEmpty()) {
            std::fprintf(stderr, "self-test: main window did not build\n");
            return 1;
        }
    }
    if (DemoRun::run(sourceDir()) == DemoRun::Failed)
        return 1;
    std::printf("self-test: ok\n");
    return 0;
}

bool isModelFile(const QString& path)
{
    const QString suffix = QFileInfo(path).suffix().toLower();
    return suffix == QLatin1String("pth") || suffix == QLatin1String("safetensors");
}

}  // namespace

int main(int argc, char** argv)
{
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("Lectern"));
    QApplication::setOrganizationName(QStringLiteral("Lectern"));
    QApplication::setApplicationVersion(QStringLiteral(LECTERN_VERSION_STRING));
    // The installed desktop entry's id (packaging/linux/): Wayland compositors match the window
    // to it, and the hicolor icon of the same name becomes the window icon (none when run from
    // the build tree, where no icon theme has it).
    QGuiApplication::setDesktopFileName(QStringLiteral("io.github.lectern.Lectern"));
    QApplication::setWindowIcon(QIcon::fromTheme(QStringLiteral("io.github.lectern.Lectern")));
    // Before anything builds its texts (the command-line help included): the system locale's
    // translation, English when there is none.
    AppTranslations::install();

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QApplication::translate("main", "Lectern: ask questions about long documents."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption selfTest(QStringLiteral("self-test"),
                                      QApplication::translate("main", "Check the installation and exit."));
    const QCommandLineOption screenshots(
        QStringLiteral("screenshots"),
        QApplication::translate("main", "Run a demo on the bundled demo model and save screenshots "
                                        "to DIR."),
        QStringLiteral("DIR"));
    parser.addOption(selfTest);
    parser.addOption(screenshots);
    parser.addPositionalArgument(
        QStringLiteral("files"),
        QApplication::translate("main", "Documents, sessions or a model file to open (optional)."),
        QStringLiteral("[FILE...]"));
    parser.process(app);

    if (parser.isSet(selfTest))
        return runSelfTest();
    if (parser.isSet(screenshots)) {
        const auto result = DemoRun::run(sourceDir(), parser.value(screenshots));
        return result == DemoRun::Passed ? 0 : 1;
    }

    // One Lectern per user: a second launch hands its files (or just "come forward") to the
    // running one and exits. The self-test and the screenshot tour above run on their own.
    QStringList files;
    for (const QString& path : parser.positionalArguments())
        files << QFileInfo(path).absoluteFilePath();
    SingleInstance instance;
    if (!instance.start()) {
        if (instance.sendMessage(files))
            return 0;
        std::fprintf(stderr, "lectern: another instance seems to run but does not answer; "
                             "starting anyway\n");
    }

    Library library;
    if (!library.open()) {
        QMessageBox::critical(nullptr, QApplication::translate("main", "Lectern"),
                              QApplication::translate("main", "The library cannot be opened: %1")
                                  .arg(library.errorString()));
        return 1;
    }
    EngineController engine;
    LibraryController controller(&library, &engine);
    controller.setEngineSettings(controller.engineSettings());
    MainWindow window(&controller);
    window.show();
    controller.resumeInterrupted();
    const auto openFiles = [&window](const QStringList& paths) {
        for (const QString& path : paths) {
            if (isModelFile(path))
                window.openModel(path);
            else  // a session, or a document (selected when already in the library)
                window.openDocumentOnce(path);
        }
    };
    openFiles(files);
    QObject::connect(&instance, &SingleInstance::messageReceived, &window,
                     [&window, openFiles](const QStringList& paths) {
                         window.bringToFront();
                         openFiles(paths);
                     });
    return app.exec();
}
