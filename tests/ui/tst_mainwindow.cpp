// MainWindow: opening a valid model shows its validated architecture; a broken one is refused
// with the engine's message and leaves the previous model in place.
#include <QLabel>
#include <QStandardPaths>
#include <QTest>

#include "mainwindow.h"

namespace {

QString dataPath(const char* relative)
{
    return QStringLiteral(LECTERN_TEST_DATA_DIR "/") + QLatin1String(relative);
}

// The value shown for one field of the model panel.
QString fieldText(const MainWindow& window, const QString& key)
{
    const auto* label = window.findChild<QLabel*>(QStringLiteral("field_") + key);
    return label ? label->text() : QString();
}

}  // namespace

class TestMainWindow : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { QStandardPaths::setTestModeEnabled(true); }
    void opensValidModel();
    void refusesBrokenModel();
};

void TestMainWindow::opensValidModel()
{
    MainWindow window;
    QVERIFY(window.openModel(dataPath("models/rwkvx-tiny-f32.pth")));
    QCOMPARE(fieldText(window, QStringLiteral("arch")), QStringLiteral("rwkv-x"));
    QCOMPARE(fieldText(window, QStringLiteral("block_order")), QStringLiteral("RRARRA"));
    QVERIFY(window.modelPath().endsWith(QLatin1String("rwkvx-tiny-f32.pth")));
}

void TestMainWindow::refusesBrokenModel()
{
    MainWindow window;
    QVERIFY(window.openModel(dataPath("models/rwkvx-tiny-f32.pth")));
    QVERIFY(!window.openModel(dataPath("broken/wrong-shape.pth")));
    // The previous model stays, and the reason is shown.
    QVERIFY(window.modelPath().endsWith(QLatin1String("rwkvx-tiny-f32.pth")));
    bool shown = false;
    for (const QLabel* label : window.findChildren<QLabel*>())
        shown = shown || label->text().contains(QLatin1String("expected"));
    QVERIFY2(shown, "the error message is not shown");
}

QTEST_MAIN(TestMainWindow)
#include "tst_mainwindow.moc"
