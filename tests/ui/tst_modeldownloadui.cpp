// The model download part of SettingsDialog against a local HTTP server: a download shows its
// progress, checks the SHA-256 and then shows the model's configuration; a wrong checksum, a
// dropped connection (then Resume), Pause during a download (then Resume), a server error and
// an empty address are each explained next to the download controls.
#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

#include "enginecontroller.h"
#include "library.h"
#include "librarycontroller.h"
#include "modeldownloader.h"
#include "settingsdialog.h"
#include "tinyhttpserver.h"
#include "uitestutil.h"

namespace {

// The dialog's download controls.
struct DownloadUi {
    QLineEdit* url;
    QLineEdit* sha;
    QPushButton* button;
    QProgressBar* progress;
    QLabel* status;
    explicit DownloadUi(const SettingsDialog& d)
        : url(UiTest::findByAccessibleName<QLineEdit>(&d, QStringLiteral("Download address"))),
          sha(UiTest::findByAccessibleName<QLineEdit>(&d, QStringLiteral("Expected SHA-256"))),
          button(d.findChild<QPushButton*>(QStringLiteral("downloadButton"))),
          progress(UiTest::findByAccessibleName<QProgressBar>(&d,
                                                              QStringLiteral("Download progress"))),
          status(d.findChild<QLabel*>(QStringLiteral("downloadStatus")))
    {
    }
    bool complete() const { return url && sha && button && progress && status; }
};

QString fieldText(const QWidget& dialog, const QString& key)
{
    const auto* label = dialog.findChild<QLabel*>(QStringLiteral("field_") + key);
    return label ? label->text() : QString();
}

}  // namespace

class TestModelDownloadUi : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    TinyHttpServer m_server;
    QString m_sha;
    Library m_library;
    EngineController m_engine;
    std::unique_ptr<LibraryController> m_controller;

    // Where the dialog saves a download of `name`.
    static QString destination(const QString& name)
    {
        return QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) +
               QStringLiteral("/models/") + name;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        UiTest::isolate(m_dir.path(), QStringLiteral("tst_modeldownloadui"));
        QVERIFY(destination(QStringLiteral("x")).startsWith(m_dir.path()));
        QFile model(QStringLiteral(LECTERN_TEST_DATA_DIR "/models/rwkvx-tiny-f32.pth"));
        QVERIFY(model.open(QIODevice::ReadOnly));
        m_server.body = model.readAll();
        m_sha = QString::fromLatin1(
            QCryptographicHash::hash(m_server.body, QCryptographicHash::Sha256).toHex());
        QVERIFY(m_server.listen(QHostAddress::LocalHost));
        QVERIFY(m_library.open(m_dir.filePath(QStringLiteral("library.sqlite"))));
        m_controller = std::make_unique<LibraryController>(&m_library, &m_engine,
                                                           m_dir.filePath(QStringLiteral("s")));
    }
    void init()
    {
        m_server.ranges.clear();
        m_server.dropAfter = -1;
        m_server.stallAfter = -1;
    }

    void downloadsChecksAndShowsTheModel()
    {
        SettingsDialog dialog(m_controller.get());
        DownloadUi ui(dialog);
        QVERIFY(ui.complete());
        QCOMPARE(ui.button->text(), QStringLiteral("Download"));
        ui.url->setText(m_server.url(QStringLiteral("/full.pth")).toString());
        ui.sha->setText(m_sha.toUpper());
        ui.button->click();
        QTRY_VERIFY_WITH_TIMEOUT(ui.status->text().startsWith(QLatin1String("Downloaded.")), 30000);
        QVERIFY(ui.status->text().contains(m_sha));
        QCOMPARE(ui.button->text(), QStringLiteral("Download"));
        QCOMPARE(ui.progress->value(), ui.progress->maximum());
        QCOMPARE(dialog.modelPath(), destination(QStringLiteral("full.pth")));
        QCOMPARE(fieldText(dialog, QStringLiteral("arch")), QStringLiteral("rwkv-x"));
        QVERIFY(!QFile::exists(ModelDownloader::partPath(dialog.modelPath())));
    }

    void wrongChecksumIsExplained()
    {
        SettingsDialog dialog(m_controller.get());
        DownloadUi ui(dialog);
        ui.url->setText(m_server.url(QStringLiteral("/bad.pth")).toString());
        ui.sha->setText(QString(64, QLatin1Char('0')));
        ui.button->click();
        QTRY_VERIFY_WITH_TIMEOUT(ui.status->text().contains(QLatin1String("not the expected one")),
                                 30000);
        QCOMPARE(ui.button->text(), QStringLiteral("Download"));  // nothing to resume
        QVERIFY(dialog.modelPath().isEmpty());
        QVERIFY(!QFile::exists(destination(QStringLiteral("bad.pth"))));
    }

    void droppedConnectionResumes()
    {
        m_server.dropAfter = 200000;
        SettingsDialog dialog(m_controller.get());
        DownloadUi ui(dialog);
        ui.url->setText(m_server.url(QStringLiteral("/dropped.pth")).toString());
        ui.sha->setText(m_sha);
        ui.button->click();
        QTRY_COMPARE_WITH_TIMEOUT(ui.button->text(), QStringLiteral("Resume"), 30000);
        QVERIFY(!ui.status->text().isEmpty());
        const qint64 have =
            QFileInfo(ModelDownloader::partPath(destination(QStringLiteral("dropped.pth")))).size();
        QVERIFY(have > 0);

        ui.button->click();
        QTRY_VERIFY_WITH_TIMEOUT(ui.status->text().startsWith(QLatin1String("Downloaded.")), 30000);
        QCOMPARE(m_server.ranges.last(), "bytes=" + QByteArray::number(have) + '-');
        QCOMPARE(dialog.modelPath(), destination(QStringLiteral("dropped.pth")));
    }

    void pauseThenResume()
    {
        m_server.stallAfter = 100000;
        SettingsDialog dialog(m_controller.get());
        DownloadUi ui(dialog);
        ui.url->setText(m_server.url(QStringLiteral("/paused.pth")).toString());
        ui.sha->setText(m_sha);
        ui.button->click();
        QCOMPARE(ui.button->text(), QStringLiteral("Pause"));
        QTRY_VERIFY_WITH_TIMEOUT(ui.progress->value() > 0, 30000);
        QVERIFY(ui.progress->value() < ui.progress->maximum());

        ui.button->click();  // Pause
        QCOMPARE(ui.button->text(), QStringLiteral("Resume"));
        QVERIFY(ui.status->text().startsWith(QLatin1String("Paused")));
        const QString part = ModelDownloader::partPath(destination(QStringLiteral("paused.pth")));
        QVERIFY(QFile::exists(part));

        ui.button->click();  // Resume
        QTRY_VERIFY_WITH_TIMEOUT(ui.status->text().startsWith(QLatin1String("Downloaded.")), 30000);
        QVERIFY(m_server.ranges.last().startsWith("bytes="));
        QCOMPARE(fieldText(dialog, QStringLiteral("arch")), QStringLiteral("rwkv-x"));
    }

    void serverErrorIsExplained()
    {
        SettingsDialog dialog(m_controller.get());
        DownloadUi ui(dialog);
        ui.url->setText(m_server.url(QStringLiteral("/missing.pth")).toString());
        ui.button->click();
        QTRY_VERIFY_WITH_TIMEOUT(ui.status->text().contains(QLatin1String("404")), 30000);
        QVERIFY(dialog.modelPath().isEmpty());
    }

    void emptyAddressIsExplained()
    {
        SettingsDialog dialog(m_controller.get());
        DownloadUi ui(dialog);
        ui.url->clear();
        ui.button->click();
        QCOMPARE(ui.status->text(), QStringLiteral("Enter the address of a model file."));
        QCOMPARE(ui.button->text(), QStringLiteral("Download"));
    }
};

QTEST_MAIN(TestModelDownloadUi)
#include "tst_modeldownloadui.moc"
