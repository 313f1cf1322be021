// Translation scaffolding: the German catalogue compiled into the resources translates the menus
// and main actions of the window (untranslated texts stay English), Qt's own catalogue
// translates standard buttons where the system has it, and English installs nothing.
#include <QAction>
#include <QDialogButtonBox>
#include <QFile>
#include <QLabel>
#include <QLibraryInfo>
#include <QMenu>
#include <QMenuBar>
#include <QPushButton>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

#include "apptranslations.h"
#include "enginecontroller.h"
#include "library.h"
#include "librarycontroller.h"
#include "mainwindow.h"
#include "settingsdialog.h"
#include "uitestutil.h"

namespace {

QMenu* menuAt(const MainWindow& window, int index)
{
    const QList<QAction*> menus = window.menuBar()->actions();
    return index < menus.size() ? menus.at(index)->menu() : nullptr;
}

}  // namespace

class TestTranslations : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    Library m_library;
    EngineController m_engine;
    std::unique_ptr<LibraryController> m_controller;

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        UiTest::isolate(m_dir.path(), QStringLiteral("tst_translations"));
        QVERIFY(m_library.open(m_dir.filePath(QStringLiteral("library.sqlite"))));
        m_controller = std::make_unique<LibraryController>(&m_library, &m_engine,
                                                           m_dir.filePath(QStringLiteral("s")));
    }
    void cleanup() { AppTranslations::uninstall(); }

    void germanMenusAndActions()
    {
        if (!QFile::exists(QStringLiteral(":/i18n/lectern_de.qm")))
            QSKIP("built without Qt's Linguist tools: no translations compiled in");
        QVERIFY(AppTranslations::install(QLocale(QLocale::German, QLocale::Germany)));
        // No bundled demo model, so the status bar shows the untranslated "No model" text.
        qputenv("LECTERN_DEMO_MODEL", "/nonexistent/lectern-demo.pth");
        MainWindow window(m_controller.get());
        qunsetenv("LECTERN_DEMO_MODEL");
        QMenu* file = menuAt(window, 0);
        QVERIFY(file);
        QCOMPARE(file->title(), QStringLiteral("&Datei"));
        QCOMPARE(file->actions().first()->text(), QStringLiteral("Ö&ffnen…"));
        QCOMPARE(menuAt(window, 1)->title(), QStringLiteral("&Bearbeiten"));
        QCOMPARE(menuAt(window, 4)->title(), QStringLiteral("&Hilfe"));
        // Not translated yet: the English text is shown.
        const auto* model = window.findChild<QLabel*>(QStringLiteral("modelLabel"));
        QVERIFY(model);
        QCOMPARE(model->text(), QStringLiteral("No model: choose one in Settings"));

        SettingsDialog dialog(m_controller.get());
        QCOMPARE(dialog.windowTitle(), QStringLiteral("Einstellungen"));
        const QString qtBase = QLibraryInfo::path(QLibraryInfo::TranslationsPath) +
                               QStringLiteral("/qtbase_de.qm");
        if (QFile::exists(qtBase)) {
            const auto* buttons = dialog.findChild<QDialogButtonBox*>();
            QVERIFY(buttons);
            QCOMPARE(buttons->button(QDialogButtonBox::Cancel)->text().remove(QLatin1Char('&')),
                     QStringLiteral("Abbrechen"));
        }
    }

    void englishNeedsNoCatalogue()
    {
        QVERIFY(!AppTranslations::install(QLocale(QLocale::English, QLocale::UnitedStates)));
        MainWindow window(m_controller.get());
        QCOMPARE(menuAt(window, 0)->title(), QStringLiteral("&File"));
        QCOMPARE(menuAt(window, 0)->actions().first()->text(), QStringLiteral("&Open…"));
    }

    void uninstallRestoresEnglish()
    {
        if (!QFile::exists(QStringLiteral(":/i18n/lectern_de.qm")))
            QSKIP("built without Qt's Linguist tools: no translations compiled in");
        QVERIFY(AppTranslations::install(QLocale(QLocale::German)));
        AppTranslations::uninstall();
        MainWindow window(m_controller.get());
        QCOMPARE(menuAt(window, 0)->title(), QStringLiteral("&File"));
    }
};

QTEST_MAIN(TestTranslations)
#include "tst_translations.moc"
