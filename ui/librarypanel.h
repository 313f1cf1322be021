// The library list: every document with its state (not read / reading x% with tokens/s and
// ETA / paused / ready / could not be read), its size on disk and model, and the reading
// actions (pause, resume, cancel, remove; the destructive ones are confirmed). Errors show in
// the row and its tooltip.
#pragma once

#include <QHash>
#include <QWidget>

class LibraryController;
class QListWidget;
class QListWidgetItem;
class QToolButton;

class LibraryPanel : public QWidget
{
    Q_OBJECT

public:
    explicit LibraryPanel(LibraryController* controller, QWidget* parent = nullptr);

    qint64 currentDocument() const;
    void selectDocument(qint64 documentId);
    QListWidget* list() const { return m_list; }
    QString rowText(qint64 documentId) const;  // what the row shows (tests, screenshots)
    // Set to false by tests so destructive actions run without asking.
    void setConfirmDestructive(bool confirm) { m_confirm = confirm; }

public Q_SLOTS:
    void pauseCurrent();
    void resumeCurrent();
    void cancelCurrent();
    void removeCurrent();

Q_SIGNALS:
    void currentDocumentChanged(qint64 documentId);

private:
    struct Progress {
        qint64 done = 0;
        qint64 total = 0;
        double tokensPerSecond = 0;
        double eta = -1;
    };
    void reload();
    void refresh(qint64 documentId);
    QListWidgetItem* itemFor(qint64 documentId) const;
    void updateActions();
    bool confirm(const QString& title, const QString& text);

    LibraryController* m_controller;
    QListWidget* m_list = nullptr;
    QToolButton* m_pause = nullptr;
    QToolButton* m_resume = nullptr;
    QToolButton* m_cancel = nullptr;
    QToolButton* m_remove = nullptr;
    QHash<qint64, Progress> m_progress;
    bool m_confirm = true;
};
