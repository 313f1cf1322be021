// Dropping files on the main window: a drag carrying file URLs is accepted and one without URLs
// is not; dropped local files are added to the library, read and put in the recent files, while
// other URLs are ignored; without a model a drop explains what to do instead.
#include <QDateTime>
#include <QDir>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QMimeData>
#include <QSettings>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QTest>
#include <QUrl>

#include <memory>

#include "../app/apptestutil.h"
#include "enginecontroller.h"
#include "library.h"
#include "librarycontroller.h"
#include "mainwindow.h"
#include "uitestutil.h"

namespace {

// Events as the platform sends them over a window. QApplication delivers a Drop only to the
// widget that accepted the DragEnter before it, and a Drop or DragLeave ends the drag.
bool dragEnter(QWidget* target, const QMimeData& mime)
{
    QDragEnterEvent event(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QCoreApplication::sendEvent(target, &event);
    return event.isAccepted();
}

void dragLeave(QWidget* target)
{
    QDragLeaveEvent event;
    QCoreApplication::sendEvent(target, &event);
}

// Drags `mime` over the window and releases it there; true when the window took the drop.
bool drop(QWidget* target, const QMimeData& mime)
{
    if (!dragEnter(target, mime))
        return false;
    QDropEvent event(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QCoreApplication::sendEvent(target, &event);
    return event.isAccepted();
}

}  // namespace

class TestDragDrop : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    std::unique_ptr<Library> m_library;
    std::unique_ptr<EngineController> m_engine;
    std::unique_ptr<LibraryController> m_controller;

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
        UiTest::isolate(m_dir.path(), QStringLiteral("tst_dragdrop"));
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
        // Reading runs on the engine thread; let it end before the library goes away.
        QTRY_VERIFY_WITH_TIMEOUT(readingDone(), 60000);
        m_controller.reset();
        m_engine.reset();
        m_library.reset();
    }

    void acceptsOnlyDragsWithUrls()
    {
        MainWindow window(m_controller.get());
        QVERIFY(window.acceptDrops());
        QMimeData files;
        files.setUrls({QUrl::fromLocalFile(m_dir.filePath(QStringLiteral("a.txt")))});
        QVERIFY(dragEnter(&window, files));
        dragLeave(&window);
        QMimeData text;
        text.setText(QStringLiteral("just some text"));
        QVERIFY(!dragEnter(&window, text));
        QVERIFY(!drop(&window, text));
    }

    void droppedFilesAreAddedAndRead()
    {
        MainWindow window(m_controller.get());
        QVERIFY(window.openModel(AppTest::modelPath()));
        window.setTokenizer(AppTest::tokenizerPath());
        const QString first = UiTest::writeText(m_dir.path(), QStringLiteral("first.txt"));
        const QString second = UiTest::writeText(m_dir.path(), QStringLiteral("second.md"));
        QMimeData mime;
        mime.setUrls({QUrl::fromLocalFile(first), QUrl(QStringLiteral("https://example.org/x.pdf")),
                      QUrl::fromLocalFile(second)});
        QVERIFY(drop(&window, mime));

        const QList<DocumentRecord> documents = m_library->documents();
        QCOMPARE(documents.size(), 2);  // the web address is not a file to add
        QStringList paths;
        for (const DocumentRecord& d : documents)
            paths << d.path;
        QVERIFY2(paths.contains(first) && paths.contains(second), qPrintable(paths.join(u',')));
        for (const DocumentRecord& d : documents)
            QTRY_VERIFY_WITH_TIMEOUT(m_library->document(d.id)->state == DocumentState::Ready,
                                     60000);
        // The last dropped file is the most recent.
        QCOMPARE(QSettings().value(QStringLiteral("recent/files")).toStringList(),
                 QStringList({second, first}));
    }

    void dropWithoutModelExplains()
    {
        // No model chosen and no bundled demo model either (it would be the default).
        qputenv("LECTERN_DEMO_MODEL", "/nonexistent/lectern-demo.pth");
        MainWindow window(m_controller.get());
        qunsetenv("LECTERN_DEMO_MODEL");
        QVERIFY(window.modelPath().isEmpty());
        QMimeData mime;
        const QString file = UiTest::writeText(m_dir.path(), QStringLiteral("c.txt"));
        mime.setUrls({QUrl::fromLocalFile(file)});
        QVERIFY(drop(&window, mime));
        QVERIFY(m_library->documents().isEmpty());
        QVERIFY2(window.statusBar()->currentMessage().contains(QLatin1String("Choose a model")),
                 qPrintable(window.statusBar()->currentMessage()));
    }

    void droppedFolderIsRefused()
    {
        MainWindow window(m_controller.get());
        QVERIFY(window.openModel(AppTest::modelPath()));
        QMimeData mime;
        mime.setUrls({QUrl::fromLocalFile(m_dir.path())});
        QVERIFY(drop(&window, mime));
        QVERIFY(m_library->documents().isEmpty());
        QVERIFY(window.statusBar()->currentMessage().contains(QLatin1String("not a file")));
    }
};

QTEST_MAIN(TestDragDrop)
#include "tst_dragdrop.moc"
