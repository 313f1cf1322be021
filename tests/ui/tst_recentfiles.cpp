// File > Open Recent: filled from QSettings when the window is built, newest first, without
// duplicates and at most ten; choosing an entry opens it; a missing file says so; the list
// survives a restart; Clear Menu empties it (and only the list: the library keeps the documents).
#include <QAction>
#include <QDateTime>
#include <QDir>
#include <QMenu>
#include <QSettings>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

#include "../app/apptestutil.h"
#include "enginecontroller.h"
#include "library.h"
#include "librarycontroller.h"
#include "mainwindow.h"
#include "uitestutil.h"

namespace {

const QString kRecentKey = QStringLiteral("recent/files");

QMenu* recentMenu(const MainWindow& window)
{
    return window.findChild<QMenu*>(QStringLiteral("recentMenu"));
}

// The files the menu offers, in order (their full paths are the tooltips).
QStringList recentEntries(const MainWindow& window)
{
    QStringList paths;
    for (QAction* a : recentMenu(window)->actions())
        if (!a->isSeparator() && a->objectName() != QLatin1String("clearRecent"))
            paths << a->toolTip();
    return paths;
}

QAction* recentAction(const MainWindow& window, const QString& path)
{
    for (QAction* a : recentMenu(window)->actions())
        if (a->toolTip() == path)
            return a;
    return nullptr;
}

}  // namespace

class TestRecentFiles : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    std::unique_ptr<Library> m_library;
    std::unique_ptr<EngineController> m_engine;
    std::unique_ptr<LibraryController> m_controller;

    std::unique_ptr<MainWindow> makeWindow() const
    {
        auto window = std::make_unique<MainWindow>(m_controller.get());
        window->openModel(AppTest::modelPath());
        window->setTokenizer(AppTest::tokenizerPath());
        return window;
    }
    bool readingDone() const
    {
        for (const DocumentRecord& d : m_library->documents())
            if (m_controller->isReading(d.id))
                return false;
        return true;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        UiTest::isolate(m_dir.path(), QStringLiteral("tst_recentfiles"));
    }
    void init()
    {
        QSettings().clear();
        const QString root = m_dir.filePath(QString::number(QDateTime::currentMSecsSinceEpoch()));
        QVERIFY(QDir().mkpath(root));
        m_library = std::make_unique<Library>();
        QVERIFY(m_library->open(root + QStringLiteral("/library.sqlite")));
        m_engine = std::make_unique<EngineController>();
        m_controller = std::make_unique<LibraryController>(m_library.get(), m_engine.get(),
                                                           root + QStringLiteral("/stores"));
        m_controller->setStoreTemplate(AppTest::storeTemplate());
    }
    void cleanup()
    {
        QTRY_VERIFY_WITH_TIMEOUT(readingDone(), 60000);
        m_controller.reset();
        m_engine.reset();
        m_library.reset();
    }

    void emptyMenuIsDisabled()
    {
        auto window = makeWindow();
        QVERIFY(recentMenu(*window));
        QVERIFY(recentEntries(*window).isEmpty());
        QVERIFY(!recentMenu(*window)->isEnabled());
        QVERIFY(!window->findChild<QAction*>(QStringLiteral("clearRecent")));
    }

    void filledFromSettingsAndOpens()
    {
        const QString a = UiTest::writeText(m_dir.path(), QStringLiteral("a.txt"));
        const QString b = UiTest::writeText(m_dir.path(), QStringLiteral("b.txt"));
        const QString c = UiTest::writeText(m_dir.path(), QStringLiteral("c.txt"));
        QSettings().setValue(kRecentKey, QStringList{a, b, c});
        auto window = makeWindow();
        QVERIFY(recentMenu(*window)->isEnabled());
        QCOMPARE(recentEntries(*window), QStringList({a, b, c}));
        QCOMPARE(recentAction(*window, b)->text(), QStringLiteral("b.txt"));

        // Choosing b opens it and moves it to the front, once.
        recentAction(*window, b)->trigger();
        QCOMPARE(m_library->documents().size(), 1);
        QCOMPARE(m_library->documents().first().path, b);
        QCOMPARE(recentEntries(*window), QStringList({b, a, c}));
        QCOMPARE(QSettings().value(kRecentKey).toStringList(), QStringList({b, a, c}));
    }

    void keepsTheTenNewest()
    {
        QStringList old;
        for (int i = 0; i < 10; ++i)
            old << m_dir.filePath(QStringLiteral("old%1.txt").arg(i));
        QSettings().setValue(kRecentKey, old);
        auto window = makeWindow();
        const QString fresh = UiTest::writeText(m_dir.path(), QStringLiteral("fresh.txt"));
        QVERIFY(window->openPath(fresh));
        const QStringList entries = recentEntries(*window);
        QCOMPARE(entries.size(), 10);
        QCOMPARE(entries.first(), fresh);
        QVERIFY(!entries.contains(old.last()));
    }

    void missingFileIsExplained()
    {
        const QString gone = m_dir.filePath(QStringLiteral("gone.txt"));
        QSettings().setValue(kRecentKey, QStringList{gone});
        auto window = makeWindow();
        recentAction(*window, gone)->trigger();
        QVERIFY(m_library->documents().isEmpty());
        QVERIFY2(window->statusBar()->currentMessage().contains(QLatin1String("cannot be opened")),
                 qPrintable(window->statusBar()->currentMessage()));
    }

    void survivesRestartAndClears()
    {
        const QString a = UiTest::writeText(m_dir.path(), QStringLiteral("kept.txt"));
        {
            auto window = makeWindow();
            QVERIFY(window->openPath(a));
        }
        QSettings().sync();
        QCOMPARE(QSettings().value(kRecentKey).toStringList(), QStringList{a});
        auto window = makeWindow();  // "after a restart": a new window reads the saved list
        QCOMPARE(recentEntries(*window), QStringList{a});

        auto* clear = window->findChild<QAction*>(QStringLiteral("clearRecent"));
        QVERIFY(clear);
        clear->trigger();
        QVERIFY(recentEntries(*window).isEmpty());
        QVERIFY(!recentMenu(*window)->isEnabled());
        QVERIFY(!QSettings().contains(kRecentKey));
        QCOMPARE(m_library->documents().size(), 1);  // the document itself stays
        QVERIFY(recentEntries(*makeWindow()).isEmpty());
    }
};

QTEST_MAIN(TestRecentFiles)
#include "tst_recentfiles.moc"
