// SettingsDialog's model panel: a valid model shows its validated architecture; a broken one is
// refused with the engine's message and leaves the previous model in place. The status bar's
// backend field on a machine without a GPU (tests/emu/tst_app_gpu_emu: with one, emulated).
#include <QLabel>
#include <QSettings>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include "backendlabel.h"
#include "enginecontroller.h"
#include "library.h"
#include "librarycontroller.h"
#include "settingsdialog.h"

namespace {

QString dataPath(const char* relative)
{
    return QStringLiteral(LECTERN_TEST_DATA_DIR "/") + QLatin1String(relative);
}

QString fieldText(const QWidget& dialog, const QString& key)
{
    const auto* label = dialog.findChild<QLabel*>(QStringLiteral("field_") + key);
    return label ? label->text() : QString();
}

}  // namespace

class TestMainWindow : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    Library m_library;
    EngineController m_engine;
    std::unique_ptr<LibraryController> m_controller;

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, m_dir.path());
        QVERIFY(m_library.open(m_dir.filePath(QStringLiteral("library.sqlite"))));
        m_controller = std::make_unique<LibraryController>(&m_library, &m_engine,
                                                           m_dir.filePath(QStringLiteral("s")));
    }
    void opensValidModel();
    void refusesBrokenModel();
    void backendLabelSaysCpu();
};

void TestMainWindow::opensValidModel()
{
    SettingsDialog dialog(m_controller.get());
    QVERIFY(dialog.showModel(dataPath("models/rwkvx-tiny-f32.pth")));
    QCOMPARE(fieldText(dialog, QStringLiteral("arch")), QStringLiteral("rwkv-x"));
    QCOMPARE(fieldText(dialog, QStringLiteral("block_order")), QStringLiteral("RRARRA"));
    QVERIFY(dialog.modelPath().endsWith(QLatin1String("rwkvx-tiny-f32.pth")));
}

void TestMainWindow::refusesBrokenModel()
{
    SettingsDialog dialog(m_controller.get());
    QVERIFY(dialog.showModel(dataPath("models/rwkvx-tiny-f32.pth")));
    QVERIFY(!dialog.showModel(dataPath("broken/wrong-shape.pth")));
    QVERIFY(dialog.modelPath().endsWith(QLatin1String("rwkvx-tiny-f32.pth")));
    const auto* status = dialog.findChild<QLabel*>(QStringLiteral("modelStatus"));
    QVERIFY(status && status->text().contains(QLatin1String("expected")));
}

void TestMainWindow::backendLabelSaysCpu()
{
    const EngineController::Capabilities caps = EngineController::capabilities();
    EngineSettings settings = m_controller->engineSettings();
    settings.useCuda = false;
    m_controller->setEngineSettings(settings);
    BackendLabel label(m_controller.get());
    QCOMPARE(label.text(), QStringLiteral("CPU"));
    // Why not the GPU: the engine's own words (no CUDA in this build, no driver, no device), or
    // where to choose it.
    QVERIFY2(caps.cuda ? label.toolTip().contains(QLatin1String("Settings"))
                       : label.toolTip().contains(caps.cudaNote.mid(1)),
             qPrintable(label.toolTip()));
    // A result without a device note (the CPU's) changes nothing.
    Q_EMIT m_engine.answerFinished(1, AnswerResult{});
    QCOMPARE(label.text(), QStringLiteral("CPU"));
    QVERIFY(!label.toolTip().contains(QLatin1String("Last run")));
}

QTEST_MAIN(TestMainWindow)
#include "tst_mainwindow.moc"
