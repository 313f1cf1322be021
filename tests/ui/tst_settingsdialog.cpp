// SettingsDialog OK and Cancel: OK saves the model and tokenizer (QSettings) and the engine and
// answer settings (the library, through LibraryController), and a dialog opened later shows
// them; Cancel changes nothing; an empty tokenizer means the bundled World vocabulary.
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

#include "../app/apptestutil.h"
#include "enginecontroller.h"
#include "library.h"
#include "librarycontroller.h"
#include "settingsdialog.h"
#include "uitestutil.h"

namespace {

QString tinyModel()
{
    return QStringLiteral(LECTERN_TEST_DATA_DIR "/models/rwkvx-tiny-f32.pth");
}

template <typename T>
T* field(const SettingsDialog& dialog, const char* accessibleName)
{
    return UiTest::findByAccessibleName<T>(&dialog, QLatin1String(accessibleName));
}

QPushButton* button(const SettingsDialog& dialog, QDialogButtonBox::StandardButton which)
{
    const auto* box = dialog.findChild<QDialogButtonBox*>();
    return box ? box->button(which) : nullptr;
}

// Every editable value of the Engine and Answers tabs set to something other than the default.
void changeEverything(const SettingsDialog& dialog)
{
    field<QSpinBox>(dialog, "Threads")->setValue(1);
    field<QSpinBox>(dialog, "Memory budget")->setValue(768);
    field<QSpinBox>(dialog, "GPU memory")->setValue(6144);
    field<QDoubleSpinBox>(dialog, "Temperature")->setValue(0.7);
    field<QDoubleSpinBox>(dialog, "Top-p")->setValue(0.85);
    field<QSpinBox>(dialog, "Top-k")->setValue(40);
    field<QDoubleSpinBox>(dialog, "Presence penalty")->setValue(0.3);
    field<QDoubleSpinBox>(dialog, "Frequency penalty")->setValue(0.2);
    field<QSpinBox>(dialog, "Seed")->setValue(1234);
    field<QSpinBox>(dialog, "Longest answer")->setValue(321);
    field<QLineEdit>(dialog, "Tokenizer")->setText(AppTest::tokenizerPath());
}

}  // namespace

class TestSettingsDialog : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    std::unique_ptr<Library> m_library;
    std::unique_ptr<EngineController> m_engine;
    std::unique_ptr<LibraryController> m_controller;
    int m_run = 0;

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        UiTest::isolate(m_dir.path(), QStringLiteral("tst_settingsdialog"));
    }
    void init()
    {
        QSettings().clear();
        m_library = std::make_unique<Library>();
        QVERIFY(m_library->open(m_dir.filePath(QStringLiteral("library%1.sqlite").arg(++m_run))));
        m_engine = std::make_unique<EngineController>();
        m_controller = std::make_unique<LibraryController>(m_library.get(), m_engine.get(),
                                                           m_dir.filePath(QStringLiteral("s")));
    }
    void cleanup()
    {
        m_controller.reset();
        m_engine.reset();
        m_library.reset();
    }

    void everyFieldHasAnAccessibleName()
    {
        SettingsDialog dialog(m_controller.get());
        for (const char* name : {"Model file", "Tokenizer", "Threads", "Memory budget", "Backend",
                                 "GPU memory", "Temperature", "Top-p", "Top-k",
                                 "Presence penalty", "Frequency penalty", "Seed", "Longest answer",
                                 "Download address", "Expected SHA-256", "Download progress"})
            QVERIFY2(UiTest::findByAccessibleName<QWidget>(&dialog, QLatin1String(name)), name);
    }

    void okSavesEverything()
    {
        {
            SettingsDialog dialog(m_controller.get());
            QVERIFY(dialog.showModel(tinyModel()));
            changeEverything(dialog);
            button(dialog, QDialogButtonBox::Ok)->click();
            QCOMPARE(dialog.result(), int(QDialog::Accepted));
        }
        const QSettings settings;
        QCOMPARE(settings.value(QStringLiteral("model/path")).toString(), tinyModel());
        QCOMPARE(settings.value(QStringLiteral("model/tokenizer")).toString(),
                 AppTest::tokenizerPath());
        const EngineSettings engine = m_controller->engineSettings();
        QCOMPARE(engine.threads, 1);
        QCOMPARE(engine.ramBudgetBytes, qint64(768) << 20);
        QVERIFY(!engine.useCuda);
        QCOMPARE(engine.gpuMemoryBytes, qint64(6144) << 20);
        const SamplingSettings s = m_controller->samplingSettings();
        QCOMPARE(s.temperature, 0.7);
        QCOMPARE(s.topP, 0.85);
        QCOMPARE(s.topK, 40);
        QCOMPARE(s.presencePenalty, 0.3);
        QCOMPARE(s.frequencyPenalty, 0.2);
        QCOMPARE(s.seed, quint64(1234));
        QCOMPARE(s.maxTokens, 321);

        // Opened again (the app restarted: a new controller on the same library), it shows them.
        m_controller = std::make_unique<LibraryController>(m_library.get(), m_engine.get(),
                                                           m_dir.filePath(QStringLiteral("s")));
        SettingsDialog again(m_controller.get());
        QCOMPARE(again.modelPath(), tinyModel());
        QCOMPARE(again.tokenizer(), AppTest::tokenizerPath());
        QCOMPARE(field<QSpinBox>(again, "Threads")->value(), 1);
        QCOMPARE(field<QSpinBox>(again, "Memory budget")->value(), 768);
        QCOMPARE(field<QSpinBox>(again, "GPU memory")->value(), 6144);
        QCOMPARE(field<QDoubleSpinBox>(again, "Temperature")->value(), 0.7);
        QCOMPARE(field<QSpinBox>(again, "Top-k")->value(), 40);
        QCOMPARE(field<QSpinBox>(again, "Seed")->value(), 1234);
        QCOMPARE(field<QSpinBox>(again, "Longest answer")->value(), 321);
    }

    void cancelChangesNothing()
    {
        const EngineSettings engineBefore = m_controller->engineSettings();
        const SamplingSettings samplingBefore = m_controller->samplingSettings();
        {
            SettingsDialog dialog(m_controller.get());
            QVERIFY(dialog.showModel(tinyModel()));
            changeEverything(dialog);
            button(dialog, QDialogButtonBox::Cancel)->click();
            QCOMPARE(dialog.result(), int(QDialog::Rejected));
        }
        const QSettings settings;
        QVERIFY(!settings.contains(QStringLiteral("model/path")));
        QVERIFY(!settings.contains(QStringLiteral("model/tokenizer")));
        const EngineSettings engine = m_controller->engineSettings();
        QCOMPARE(engine.threads, engineBefore.threads);
        QCOMPARE(engine.ramBudgetBytes, engineBefore.ramBudgetBytes);
        QCOMPARE(engine.gpuMemoryBytes, engineBefore.gpuMemoryBytes);
        const SamplingSettings s = m_controller->samplingSettings();
        QCOMPARE(s.temperature, samplingBefore.temperature);
        QCOMPARE(s.topK, samplingBefore.topK);
        QCOMPARE(s.seed, samplingBefore.seed);
        QCOMPARE(s.maxTokens, samplingBefore.maxTokens);
    }

    // The GPU's memory cap applies to the CUDA backend only: editable while it is chosen.
    void gpuMemoryFollowsTheBackend()
    {
        SettingsDialog dialog(m_controller.get());
        auto* backend = field<QComboBox>(dialog, "Backend");
        auto* gpuMemory = field<QSpinBox>(dialog, "GPU memory");
        QCOMPARE(gpuMemory->value(), 0);  // automatic
        QVERIFY(!gpuMemory->specialValueText().isEmpty());
        backend->setCurrentIndex(0);
        QVERIFY(!gpuMemory->isEnabled());
        if (!EngineController::capabilities().cuda)
            QSKIP("no usable CUDA GPU here: the CUDA entry cannot be chosen");
        backend->setCurrentIndex(1);
        QVERIFY(gpuMemory->isEnabled());
    }

    void emptyTokenizerMeansWorld()
    {
        SettingsDialog dialog(m_controller.get());
        QCOMPARE(dialog.tokenizer(), QStringLiteral("world"));  // the default shown
        field<QLineEdit>(dialog, "Tokenizer")->setText(QStringLiteral("  "));
        button(dialog, QDialogButtonBox::Ok)->click();
        QCOMPARE(QSettings().value(QStringLiteral("model/tokenizer")).toString(),
                 QStringLiteral("world"));
        QVERIFY(!QSettings().contains(QStringLiteral("model/path")));  // no model chosen
    }
};

QTEST_MAIN(TestSettingsDialog)
#include "tst_settingsdialog.moc"
