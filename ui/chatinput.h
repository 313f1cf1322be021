// The chat's question box: Enter sends, Shift+Enter starts a new line, Esc asks to stop the
// answer being streamed. A plain-text edit so pasted rich text arrives as text.
#pragma once

#include <QPlainTextEdit>

class ChatInput : public QPlainTextEdit
{
    Q_OBJECT

public:
    explicit ChatInput(QWidget* parent = nullptr);
    QSize sizeHint() const override;

Q_SIGNALS:
    void sendRequested();
    void stopRequested();

protected:
    void keyPressEvent(QKeyEvent* event) override;
};
