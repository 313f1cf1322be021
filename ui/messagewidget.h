// One chat message: who wrote it, its text (assistant answers rendered as Markdown through
// QTextDocument, via a QLabel with Qt::MarkdownText), its state (streaming, stopped, failed),
// Copy, Regenerate (answers) or Edit (questions), and under an answer the attended pages as
// clickable chips ("p. 12") that open the reader there.
#pragma once

#include <QFrame>

#include "library.h"

class QHBoxLayout;
class QLabel;
class QToolButton;

class MessageWidget : public QFrame
{
    Q_OBJECT

public:
    explicit MessageWidget(const MessageRecord& message, QWidget* parent = nullptr);

    qint64 messageId() const { return m_message.id; }
    const MessageRecord& message() const { return m_message; }
    void setRecord(const MessageRecord& message);  // text, state and pages
    void setStreamingText(const QString& text);
    QString text() const { return m_message.text; }
    // The attended-page chips shown under an answer.
    QList<QToolButton*> pageChips() const { return m_chips; }

Q_SIGNALS:
    void pageClicked(const AttendedPage& page);
    void regenerateRequested(qint64 messageId);
    void editRequested(qint64 messageId);

private:
    void updateState();
    void rebuildChips();

    MessageRecord m_message;
    QLabel* m_who = nullptr;
    QLabel* m_body = nullptr;
    QLabel* m_state = nullptr;
    QHBoxLayout* m_chipRow = nullptr;
    QLabel* m_chipCaption = nullptr;
    QToolButton* m_regenerate = nullptr;
    QList<QToolButton*> m_chips;
};
