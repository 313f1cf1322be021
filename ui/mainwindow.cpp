// MainWindow: panes, menus, file opening, recent files, drag and drop and window state.
#include "mainwindow.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QStyle>
#include <QSystemTrayIcon>

#include "backendlabel.h"
#include "chatpanel.h"
#include "lectern/version.h"
#include "librarycontroller.h"
#include "librarypanel.h"
#include "modelcard.h"
#include "modelinfo.h"
#include "readerpanel.h"
#include "settingsdialog.h"

namespace {
constexpr int kMaxRecent = 10;
const QString kRecentKey = QStringLiteral("recent/files");
}  // namespace

MainWindow::MainWindow(LibraryController* controller, QWidget* parent)
    : QMainWindow(parent), m_controller(controller)
{
    setWindowTitle(tr("Lectern"));
    setAcceptDrops(true);

    m_splitter = new QSplitter(this);
    m_splitter->setObjectName(QStringLiteral("mainSplitter"));
    m_splitter->setChildrenCollapsible(false);
    m_library = new LibraryPanel(controller, m_splitter);
    m_chat = new ChatPanel(controller, m_splitter);
    m_reader = new ReaderPanel(m_splitter);
    m_library->setAccessibleName(tr("Library"));
    m_chat->setAccessibleName(tr("Chat"));
    m_reader->setAccessibleName(tr("Reader"));
    m_library->setMinimumWidth(200);
    m_chat->setMinimumWidth(320);
    m_reader->setMinimumWidth(260);
    m_splitter->addWidget(m_library);
    m_splitter->addWidget(m_chat);
    m_splitter->addWidget(m_reader);
    m_splitter->setStretchFactor(0, 0);
    m_splitter->setStretchFactor(1, 1);
    m_splitter->setStretchFactor(2, 1);
    m_splitter->setSizes({260, 520, 480});
    setCentralWidget(m_splitter);

    m_modelLabel = new QLabel(this);
    m_modelLabel->setObjectName(QStringLiteral("modelLabel"));
    m_modelLabel->setAccessibleName(tr("Model status"));
    statusBar()->addPermanentWidget(m_modelLabel);
    statusBar()->addPermanentWidget(new BackendLabel(controller, this));
    createMenus();

    connect(m_library, &LibraryPanel::currentDocumentChanged, this, &MainWindow::documentSelected);
    connect(m_chat, &ChatPanel::pageRequested, this, &MainWindow::openPage);
    connect(controller, &LibraryController::errorOccurred, this, &MainWindow::showError);
    if (QSystemTrayIcon::isSystemTrayAvailable()) {
        QIcon icon = QApplication::windowIcon();
        if (icon.isNull())
            icon = style()->standardIcon(QStyle::SP_FileDialogContentsView);
        m_tray = new QSystemTrayIcon(icon, this);
        m_tray->setToolTip(tr("Lectern"));
        connect(m_tray, &QSystemTrayIcon::activated, this, &MainWindow::bringToFront);
        m_tray->show();
    }
    connect(controller, &LibraryController::readingProgress, this,
            [this](qint64 id) { trackReading(id); });
    connect(controller, &LibraryController::readingProgress, m_reader,
            &ReaderPanel::setReadingProgress);
    connect(controller, &LibraryController::documentChanged, this, [this](qint64 id) {
        const auto d = m_controller->library()->document(id);
        if (d && id == m_reader->documentId())
            m_reader->openDocument(*d);  // the coverage strip follows its store
        if (!d) {
            m_readingSince.remove(id);
            return;
        }
        if (d->state == DocumentState::Reading || m_controller->isReading(id)) {
            trackReading(id);
            return;
        }
        const QElapsedTimer since = m_readingSince.take(id);
        if (d->state != DocumentState::Ready)
            return;
        const QString message = tr("“%1” is read and ready for questions.").arg(d->title);
        statusBar()->showMessage(message, 5000);
        if (m_tray && since.isValid() && since.elapsed() > kLongReadingMs && !isActiveWindow())
            m_tray->showMessage(tr("Lectern"), message);
    });
    connect(controller, &LibraryController::sessionExported, this,
            [this](qint64, const QString& path) {
                statusBar()->showMessage(tr("Session saved to %1").arg(path), 5000);
            });
    connect(controller, &LibraryController::sessionImported, this, [this](qint64 id) {
        statusBar()->showMessage(tr("Session opened."), 5000);
        m_library->selectDocument(id);
    });

    QSettings settings;
    m_tokenizer = settings.value(QStringLiteral("model/tokenizer"), m_tokenizer).toString();
    // First launch (no model chosen yet): the bundled demo model, when this installation has it.
    QString model = settings.value(QStringLiteral("model/path")).toString();
    if (model.isEmpty() && QFileInfo(DemoResources::demoModelPath()).isFile())
        model = DemoResources::demoModelPath();
    if (model.isEmpty() || !openModel(model))
        m_modelLabel->setText(tr("No model: choose one in Settings"));
    if (!restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray()))
        resize(1280, 800);
    restoreState(settings.value(QStringLiteral("window/state")).toByteArray());
    m_splitter->restoreState(settings.value(QStringLiteral("window/splitter")).toByteArray());
    documentSelected(m_library->currentDocument());
}

void MainWindow::createMenus()
{
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* open = file->addAction(tr("&Open…"), this, &MainWindow::chooseFile);
    open->setShortcut(QKeySequence::Open);
    m_recent = file->addMenu(tr("Open &Recent"));
    m_recent->setObjectName(QStringLiteral("recentMenu"));
    rebuildRecent();
    file->addSeparator();
    file->addAction(tr("Open &Session…"), this, &MainWindow::importSession);
    file->addAction(tr("Export S&ession…"), this, &MainWindow::exportSession);
    QAction* exportMd =
        file->addAction(tr("E&xport Conversation to Markdown…"), m_chat, &ChatPanel::exportMarkdown);
    exportMd->setShortcut(QKeySequence::Save);
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

    QMenu* edit = menuBar()->addMenu(tr("&Edit"));
    QAction* find = edit->addAction(tr("&Find in Document…"), m_reader, &ReaderPanel::focusFind);
    find->setShortcut(QKeySequence::Find);
    QAction* findNext = edit->addAction(tr("Find &Next"), m_reader, &ReaderPanel::findNext);
    findNext->setShortcut(QKeySequence::FindNext);
    edit->addSeparator();
    QAction* prefs = edit->addAction(tr("&Settings…"), this, &MainWindow::showSettings);
    prefs->setShortcut(QKeySequence::Preferences);
    prefs->setMenuRole(QAction::PreferencesRole);

    QMenu* view = menuBar()->addMenu(tr("&View"));
    QAction* zoomIn = view->addAction(tr("Zoom &In"), m_reader, &ReaderPanel::zoomIn);
    zoomIn->setShortcut(QKeySequence::ZoomIn);
    QAction* zoomOut = view->addAction(tr("Zoom &Out"), m_reader, &ReaderPanel::zoomOut);
    zoomOut->setShortcut(QKeySequence::ZoomOut);

    QMenu* document = menuBar()->addMenu(tr("&Document"));
    document->addAction(tr("&Pause Reading"), m_library, &LibraryPanel::pauseCurrent);
    document->addAction(tr("&Resume Reading"), m_library, &LibraryPanel::resumeCurrent);
    document->addAction(tr("&Cancel Reading…"), m_library, &LibraryPanel::cancelCurrent);
    document->addSeparator();
    document->addAction(tr("Re&move from Library…"), m_library, &LibraryPanel::removeCurrent);

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    QAction* sample = help->addAction(tr("Open the &Sample Document"), this,
                                      &MainWindow::openSampleDocument);
    sample->setObjectName(QStringLiteral("openSampleAction"));
    help->addSeparator();
    help->addAction(tr("&About Lectern"), this, &MainWindow::showAbout);
}

bool MainWindow::openModel(const QString& path)
{
    auto info = ModelInfo::load(path);
    if (!info) {
        const QString why = QString::fromStdString(info.error().message);
        showError(tr("The model cannot be used: %1").arg(why));
        return false;
    }
    // A broken card would make every document fail later; say so now.
    const auto card = ModelCard::forModel(path);
    if (!card) {
        showError(tr("The model cannot be used: %1")
                      .arg(QString::fromStdString(card.error().message)));
        return false;
    }
    m_modelPath = QFileInfo(path).absoluteFilePath();
    m_modelLabel->setText(*card ? tr("Model: %1").arg((*card)->name)
                                : tr("Model: %1").arg(QFileInfo(path).fileName()));
    m_modelLabel->setToolTip(info->toText());
    return true;
}

void MainWindow::setTokenizer(const QString& spec)
{
    m_tokenizer = spec.isEmpty() ? QStringLiteral("world") : spec;
}

bool MainWindow::openPath(const QString& path)
{
    const QFileInfo info(path);
    if (!info.isFile()) {
        showError(tr("“%1” cannot be opened: it is not a file.").arg(path));
        return false;
    }
    if (m_modelPath.isEmpty()) {
        showError(tr("Choose a model first (Edit → Settings), then open the document again."));
        return false;
    }
    addRecent(info.absoluteFilePath());
    if (info.suffix().compare(QStringLiteral("lectern"), Qt::CaseInsensitive) == 0) {
        m_controller->importSession(info.absoluteFilePath(), m_modelPath);
        statusBar()->showMessage(tr("Opening the session…"));
        return true;
    }
    const qint64 id = m_controller->addDocument(info.absoluteFilePath(), m_modelPath, m_tokenizer);
    if (id)
        statusBar()->showMessage(tr("Reading “%1”…").arg(info.fileName()), 5000);
    return id != 0;
}

void MainWindow::chooseFile()
{
    QSettings settings;
    const QString path = QFileDialog::getOpenFileName(
        this, tr("Open Document"), settings.value(QStringLiteral("paths/lastOpenDir")).toString(),
        tr("Documents (*.pdf *.epub *.txt *.md *.markdown *.html *.htm);;Lectern sessions "
           "(*.lectern);;All files (*)"));
    if (path.isEmpty())
        return;
    settings.setValue(QStringLiteral("paths/lastOpenDir"), QFileInfo(path).absolutePath());
    openPath(path);
}

void MainWindow::importSession()
{
    const QString path = QFileDialog::getOpenFileName(this, tr("Open Session"), {},
                                                      tr("Lectern sessions (*.lectern)"));
    if (!path.isEmpty())
        openPath(path);
}

void MainWindow::exportSession()
{
    const qint64 id = m_library->currentDocument();
    const auto d = m_controller->library()->document(id);
    if (!d || d->state != DocumentState::Ready) {
        showError(tr("Select a document that has been read to export its session."));
        return;
    }
    const QString path = QFileDialog::getSaveFileName(this, tr("Export Session"),
                                                      d->title + QStringLiteral(".lectern"),
                                                      tr("Lectern sessions (*.lectern)"));
    if (!path.isEmpty())
        m_controller->exportSession(id, path);
}

void MainWindow::addRecent(const QString& path)
{
    QSettings settings;
    QStringList files = settings.value(kRecentKey).toStringList();
    files.removeAll(path);
    files.prepend(path);
    while (files.size() > kMaxRecent)
        files.removeLast();
    settings.setValue(kRecentKey, files);
    rebuildRecent();
}

void MainWindow::rebuildRecent()
{
    m_recent->clear();
    const QStringList files = QSettings().value(kRecentKey).toStringList();
    for (const QString& file : files) {
        QAction* a = m_recent->addAction(QFileInfo(file).fileName());
        a->setToolTip(file);
        connect(a, &QAction::triggered, this, [this, file] { openPath(file); });
    }
    if (!files.isEmpty()) {
        m_recent->addSeparator();
        QAction* clear = m_recent->addAction(tr("&Clear Menu"), this, &MainWindow::clearRecent);
        clear->setObjectName(QStringLiteral("clearRecent"));
    }
    m_recent->setEnabled(!files.isEmpty());
}

void MainWindow::clearRecent()
{
    // Only the list is forgotten: the documents stay in the library.
    QSettings().remove(kRecentKey);
    rebuildRecent();
}

void MainWindow::documentSelected(qint64 documentId)
{
    m_chat->setDocument(documentId);
    if (const auto d = m_controller->library()->document(documentId))
        m_reader->openDocument(*d);
    else
        m_reader->closeDocument();
}

void MainWindow::trackReading(qint64 documentId)
{
    QElapsedTimer& since = m_readingSince[documentId];
    if (!since.isValid())
        since.start();
}

void MainWindow::bringToFront()
{
    if (isMinimized())
        setWindowState((windowState() & ~Qt::WindowMinimized) | Qt::WindowActive);
    show();
    raise();
    activateWindow();
}

void MainWindow::openPage(qint64 documentId, const AttendedPage& page)
{
    const auto d = m_controller->library()->document(documentId);
    if (!d)
        return;
    m_reader->openDocument(*d);
    m_reader->showPage(page.page, page.textBegin, page.textEnd);
}

void MainWindow::showSettings()
{
    SettingsDialog dialog(m_controller, this);
    if (dialog.exec() != QDialog::Accepted)
        return;
    if (!dialog.modelPath().isEmpty())
        openModel(dialog.modelPath());
    setTokenizer(dialog.tokenizer());
}

void MainWindow::showError(const QString& message)
{
    statusBar()->showMessage(message, 10000);
    m_chat->showError(message);
}

void MainWindow::showAbout()
{
    QMessageBox::about(this, tr("About Lectern"),
                       tr("<p><b>Lectern %1</b></p><p>A desktop assistant for very long "
                          "documents, on a local RWKV-X language model.</p>")
                           .arg(QStringLiteral(LECTERN_VERSION_STRING)));
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event)
{
    if (event->mimeData()->hasUrls())
        event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event)
{
    for (const QUrl& url : event->mimeData()->urls())
        if (url.isLocalFile())
            openPath(url.toLocalFile());
    event->acceptProposedAction();
}

void MainWindow::closeEvent(QCloseEvent* event)
{
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/state"), saveState());
    settings.setValue(QStringLiteral("window/splitter"), m_splitter->saveState());
    event->accept();
}
