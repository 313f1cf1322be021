// The bundled demo model in the desktop app: the default model on first launch, Help > Open the
// Sample Document reads the sample once with the model card's tokenizer, chunk size and top-k,
// the settings dialog shows the default model and its card, and a broken card is refused.
#include <QAction>
#include <QFile>
#include <QLabel>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

#include "enginecontroller.h"
#include "lectern/document_store.h"
#include "library.h"
#include "librarycontroller.h"
#include "mainwindow.h"
#include "modelcard.h"
#include "settingsdialog.h"
#include "uitestutil.h"

class TestDemoModel : public QObject
{
    Q_OBJECT

    QTemporaryDir m_dir;
    std::unique_ptr<Library> m_library;
    std::unique_ptr<EngineController> m_engine;
    std::unique_ptr<LibraryController> m_controller;

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        UiTest::isolate(m_dir.path(), QStringLiteral("tst_demomodel"));
        QVERIFY(QFile::exists(DemoResources::demoModelPath()));
        m_library = std::make_unique<Library>();
        QVERIFY(m_library->open(m_dir.filePath(QStringLiteral("library.sqlite"))));
        m_engine = std::make_unique<EngineController>();
        m_controller = std::make_unique<LibraryController>(m_library.get(), m_engine.get(),
                                                           m_dir.filePath(QStringLiteral("s")));
    }
    void cleanupTestCase()
    {
        m_controller.reset();
        m_engine.reset();
    }

    void firstLaunchUsesDemoModel()
    {
        MainWindow window(m_controller.get());
        QCOMPARE(window.modelPath(), DemoResources::demoModelPath());
    }

    void sampleIsReadWithTheCardsSettings()
    {
        MainWindow window(m_controller.get());
        auto* action = window.findChild<QAction*>(QStringLiteral("openSampleAction"));
        QVERIFY(action);
        action->trigger();
        QCOMPARE(m_library->documents().size(), 1);
        const DocumentRecord d = m_library->documents().first();
        QVERIFY(d.path.endsWith(QLatin1String("harbour-ledger.txt")));
        QVERIFY2(d.tokenizer.endsWith(QLatin1String("lectern-demo.spm.model")),
                 qPrintable(d.tokenizer));
        QTRY_VERIFY_WITH_TIMEOUT(m_library->document(d.id)->state == DocumentState::Ready,
                                 120000);
        auto summary = lectern::DocumentStore::summary(QFile::encodeName(d.storeDir).toStdString());
        QVERIFY(summary);
        QCOMPARE(summary->options.attention.chunk_size, 128);
        QCOMPARE(summary->options.attention.top_k, 3);
        // Opened again, it is the same document, not a second reading.
        QVERIFY(window.openSampleDocument());
        QCOMPARE(m_library->documents().size(), 1);
    }

    void settingsShowTheDefaultModel()
    {
        SettingsDialog dialog(m_controller.get());
        QVERIFY(dialog.modelPath().isEmpty());  // shown, not chosen: nothing is saved for it
        const auto* status = dialog.findChild<QLabel*>(QStringLiteral("modelStatus"));
        QVERIFY(status && status->text().contains(QLatin1String("Default model")));
        const auto* card = dialog.findChild<QLabel*>(QStringLiteral("field_card"));
        QVERIFY(card && card->text().contains(QLatin1String("128")));
    }

    void brokenCardIsRefused()
    {
        const QString model = m_dir.filePath(QStringLiteral("m.pth"));
        QVERIFY(QFile::copy(QStringLiteral(LECTERN_TEST_DATA_DIR "/models/rwkvx-tiny-f32.pth"),
                            model));
        QFile card(m_dir.filePath(QStringLiteral("m.json")));
        QVERIFY(card.open(QIODevice::WriteOnly));
        card.write("{\"tokenizer\": \"world\"}");
        card.close();
        MainWindow window(m_controller.get());
        QVERIFY(!window.openModel(model));
        QCOMPARE(window.modelPath(), DemoResources::demoModelPath());
        SettingsDialog dialog(m_controller.get());
        QVERIFY(!dialog.showModel(model));
        const auto* status = dialog.findChild<QLabel*>(QStringLiteral("modelStatus"));
        QVERIFY2(status && status->text().contains(QLatin1String("chunk_size")),
                 qPrintable(status ? status->text() : QString()));
    }
};

QTEST_MAIN(TestDemoModel)
#include "tst_demomodel.moc"
