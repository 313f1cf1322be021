// The main window: the library list (left), the chat of the selected document (center) and the
// reader (right) in a splitter; File > Open (documents and .lectern sessions), recent files,
// drag and drop, session export/import, Markdown export, Settings, standard shortcuts, window
// state kept in QSettings, and errors shown in the status bar and inline in the chat.
#pragma once

#include <QElapsedTimer>
#include <QHash>
#include <QMainWindow>

class ChatPanel;
class LibraryController;
class LibraryPanel;
class QLabel;
class QMenu;
class QSplitter;
class QSystemTrayIcon;
class ReaderPanel;
struct AttendedPage;

class MainWindow : public QMainWindow
{
    Q_OBJECT

public:
    explicit MainWindow(LibraryController* controller, QWidget* parent = nullptr);

    // Validate a model file and use it for new documents; false (reason shown) when unusable.
    bool openModel(const QString& path);
    QString modelPath() const { return m_modelPath; }
    void setTokenizer(const QString& spec);
    QString tokenizer() const { return m_tokenizer; }

    LibraryController* controller() const { return m_controller; }
    LibraryPanel* libraryPanel() const { return m_library; }
    ChatPanel* chatPanel() const { return m_chat; }
    ReaderPanel* readerPanel() const { return m_reader; }

public Q_SLOTS:
    // A document is added and read; a .lectern file is opened as a session. Returns false when
    // nothing could start (the reason is shown).
    bool openPath(const QString& path);
    void openPage(qint64 documentId, const AttendedPage& page);
    // Help > Open the Sample Document: the bundled sample, once (see openDocumentOnce). False
    // (reason shown) when it is missing.
    bool openSampleDocument();
    // openPath, except that a document already in the library (same file, current model) is
    // selected (and its reading resumed) instead of being read again: for files named on the
    // command line, which a launcher passes on every start.
    bool openDocumentOnce(const QString& path);
    void showSettings();
    // Shows, restores (when minimized), raises and activates the window: another launch of
    // Lectern handed its files over.
    void bringToFront();

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void createMenus();
    void chooseFile();
    void importSession();
    void exportSession();
    void showAbout();
    void addRecent(const QString& path);
    void rebuildRecent();
    void clearRecent();
    void showError(const QString& message);
    void documentSelected(qint64 documentId);
    void trackReading(qint64 documentId);

    // A tray notification when a long reading ends while the window is in the background.
    static constexpr qint64 kLongReadingMs = 30000;

    LibraryController* m_controller;
    LibraryPanel* m_library = nullptr;
    ChatPanel* m_chat = nullptr;
    ReaderPanel* m_reader = nullptr;
    QSplitter* m_splitter = nullptr;
    QMenu* m_recent = nullptr;
    QLabel* m_modelLabel = nullptr;
    QString m_modelPath;
    QString m_tokenizer = QStringLiteral("world");
    QSystemTrayIcon* m_tray = nullptr;  // only where the desktop has a system tray
    QHash<qint64, QElapsedTimer> m_readingSince;  // document -> when this reading run began
};
