// lectern: the desktop application's entry point (options --version, --self-test, [MODEL]).
#include <QApplication>
#include <QCommandLineParser>
#include <QSettings>
#include <QTimer>

#include <cstdio>

#include "lectern/version.h"
#include "mainwindow.h"
#include "tokenizerloader.h"

namespace {

// A quick check that the installed application works: the window builds, the bundled tokenizer
// loads and tokenizes a known phrase. Used by installers and CI (with QT_QPA_PLATFORM=offscreen).
int runSelfTest(MainWindow& window)
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
    if (window.windowTitle().isEmpty()) {
        std::fprintf(stderr, "self-test: main window did not build\n");
        return 1;
    }
    std::printf("self-test: ok\n");
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("Lectern"));
    QApplication::setOrganizationName(QStringLiteral("Lectern"));
    QApplication::setApplicationVersion(QStringLiteral(LECTERN_VERSION_STRING));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Lectern: ask questions about long documents."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption selfTest(QStringLiteral("self-test"),
                                      QStringLiteral("Check the installation and exit."));
    parser.addOption(selfTest);
    parser.addPositionalArgument(QStringLiteral("model"),
                                 QStringLiteral("Model file to open (optional)."));
    parser.process(app);

    MainWindow window;
    if (parser.isSet(selfTest))
        return runSelfTest(window);

    const QStringList positional = parser.positionalArguments();
    const QString model = positional.isEmpty()
                              ? QSettings().value(QStringLiteral("model/path")).toString()
                              : positional.first();
    if (!model.isEmpty())
        window.openModel(model);
    window.show();
    return app.exec();
}
