// The main window: menus, the model panel, and window state kept in QSettings.
#include "mainwindow.h"

#include <QApplication>
#include <QCloseEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QSettings>
#include <QStatusBar>
#include <QVBoxLayout>

#include "lectern/version.h"
#include "modelinfo.h"

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent)
{
    setWindowTitle(QStringLiteral("Lectern"));
    setAcceptDrops(false);

    auto* central = new QWidget(this);
    auto* layout = new QVBoxLayout(central);
    auto* title = new QLabel(tr("<h2>Lectern</h2><p>Read a long document once, ask about it "
                                "forever.</p>"),
                             central);
    title->setTextFormat(Qt::RichText);
    m_status = new QLabel(tr("No model loaded. Use Model → Add Model File… to choose an "
                             "RWKV-7 or RWKV-X checkpoint (.pth or .safetensors)."),
                          central);
    m_status->setWordWrap(true);
    m_status->setAccessibleName(tr("Model status"));
    m_modelFields = new QFormLayout;
    layout->addWidget(title);
    layout->addWidget(m_status);
    layout->addLayout(m_modelFields);
    layout->addStretch(1);
    setCentralWidget(central);

    createMenus();
    statusBar()->showMessage(tr("Ready"));

    QSettings settings;
    if (!restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray()))
        resize(900, 640);
}

void MainWindow::createMenus()
{
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

    QMenu* model = menuBar()->addMenu(tr("&Model"));
    model->addAction(tr("&Add Model File…"), this, &MainWindow::chooseModel);

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About Lectern"), this, &MainWindow::showAbout);
}

void MainWindow::chooseModel()
{
    QSettings settings;
    const QString dir = settings.value(QStringLiteral("paths/lastModelDir")).toString();
    const QString path = QFileDialog::getOpenFileName(
        this, tr("Add Model File"), dir, tr("Model checkpoints (*.pth *.safetensors);;All files (*)"));
    if (path.isEmpty())
        return;
    settings.setValue(QStringLiteral("paths/lastModelDir"), QFileInfo(path).absolutePath());
    if (openModel(path))
        settings.setValue(QStringLiteral("model/path"), path);
}

bool MainWindow::openModel(const QString& path)
{
    auto info = ModelInfo::load(path);
    if (!info) {
        const QString why = QString::fromStdString(info.error().message);
        statusBar()->showMessage(tr("Could not use the model"), 5000);
        if (isVisible())
            QMessageBox::warning(this, tr("Model cannot be used"), why);
        m_status->setText(tr("Model cannot be used: %1").arg(why));
        return false;
    }
    clearModelFields();
    for (const auto& [key, value] : info->fields()) {
        const QString text = value.isDouble() ? QLocale().toString(qint64(value.toDouble()))
                             : value.isBool() ? (value.toBool() ? tr("yes") : tr("no"))
                                              : value.toString();
        auto* field = new QLabel(text);
        field->setObjectName(QStringLiteral("field_") + key);
        field->setTextInteractionFlags(Qt::TextSelectableByMouse);
        m_modelFields->addRow(key + QLatin1Char(':'), field);
    }
    m_modelPath = path;
    m_status->setText(tr("Model: %1").arg(QFileInfo(path).fileName()));
    return true;
}

void MainWindow::clearModelFields()
{
    while (m_modelFields->rowCount() > 0)
        m_modelFields->removeRow(0);
}

void MainWindow::showAbout()
{
    QMessageBox::about(this, tr("About Lectern"),
                       tr("<p><b>Lectern %1</b></p><p>A desktop assistant for very long "
                          "documents, on a local RWKV-X language model.</p>")
                           .arg(QStringLiteral(LECTERN_VERSION_STRING)));
}

void MainWindow::closeEvent(QCloseEvent* event)
{
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    event->accept();
}
