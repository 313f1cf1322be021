// The chat pane of the selected document: its conversations (a selector, "New" with an
// "as of" checkpoint choice), the messages with answers streamed in as LibraryController
// reports them, the question box (Enter sends, Esc stops), Regenerate, Edit and resend, and
// export of the conversation to Markdown. Attended-page chips ask the window to open the reader.
#pragma once

#include <QHash>
#include <QWidget>

#include "library.h"

class ChatInput;
class LibraryController;
class MessageWidget;
class QComboBox;
class QLabel;
class QPushButton;
class QScrollArea;
class QVBoxLayout;

class ChatPanel : public QWidget
{
    Q_OBJECT

public:
    explicit ChatPanel(LibraryController* controller, QWidget* parent = nullptr);

    void setDocument(qint64 documentId);  // 0: none
    qint64 documentId() const { return m_documentId; }
    qint64 conversationId() const { return m_conversationId; }
    void showConversation(qint64 conversationId);
    qint64 startConversation();  // with the selected "as of"; returns its id
    ChatInput* input() const { return m_input; }
    QList<MessageWidget*> messageWidgets() const;

public Q_SLOTS:
    void send();
    void stop();
    void exportMarkdown();
    void regenerate(qint64 messageId);
    void editMessage(qint64 messageId);
    void showError(const QString& message);  // inline, above the question box

Q_SIGNALS:
    void pageRequested(qint64 documentId, const AttendedPage& page);

private:
    void reloadConversations();
    void reloadMessages();
    MessageWidget* addMessageWidget(const MessageRecord& message);
    MessageWidget* widgetFor(qint64 messageId) const;
    void updateControls();
    void scrollToEnd();

    LibraryController* m_controller;
    qint64 m_documentId = 0;
    qint64 m_conversationId = 0;
    qint64 m_editingMessageId = 0;
    QComboBox* m_conversations = nullptr;
    QComboBox* m_asOf = nullptr;
    QPushButton* m_newConversation = nullptr;
    QPushButton* m_export = nullptr;
    QLabel* m_placeholder = nullptr;
    QScrollArea* m_scroll = nullptr;
    QWidget* m_messagesHost = nullptr;
    QVBoxLayout* m_messages = nullptr;
    QLabel* m_error = nullptr;
    ChatInput* m_input = nullptr;
    QPushButton* m_send = nullptr;
    QPushButton* m_stop = nullptr;
    QHash<qint64, MessageWidget*> m_widgets;
};
