// ChatPanel: conversations of one document, streamed answers, and the chat actions.
#include "chatpanel.h"

#include <QComboBox>
#include <QDateTime>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QTimer>
#include <QVBoxLayout>

#include "chatinput.h"
#include "librarycontroller.h"
#include "messagewidget.h"

ChatPanel::ChatPanel(LibraryController* controller, QWidget* parent)
    : QWidget(parent), m_controller(controller)
{
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);

    auto* top = new QHBoxLayout;
    m_conversations = new QComboBox(this);
    m_conversations->setAccessibleName(tr("Conversation"));
    m_conversations->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_conversations->setMinimumContentsLength(16);
    m_asOf = new QComboBox(this);
    m_asOf->setAccessibleName(tr("Ask as of"));
    m_asOf->setToolTip(tr("A new conversation can ask about the whole document or only about "
                          "what comes before a checkpoint (spoiler-free)."));
    m_newConversation = new QPushButton(tr("New"), this);
    m_newConversation->setToolTip(tr("Start a new conversation about this document"));
    m_export = new QPushButton(tr("Export…"), this);
    m_export->setToolTip(tr("Export this conversation to Markdown"));
    top->addWidget(new QLabel(tr("Conversation:"), this));
    top->addWidget(m_conversations, 1);
    top->addWidget(new QLabel(tr("As of:"), this));
    top->addWidget(m_asOf);
    top->addWidget(m_newConversation);
    top->addWidget(m_export);
    layout->addLayout(top);

    m_scroll = new QScrollArea(this);
    m_scroll->setWidgetResizable(true);
    m_scroll->setAccessibleName(tr("Messages"));
    m_scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    m_messagesHost = new QWidget(m_scroll);
    m_messages = new QVBoxLayout(m_messagesHost);
    m_placeholder = new QLabel(m_messagesHost);
    m_placeholder->setAlignment(Qt::AlignCenter);
    m_placeholder->setWordWrap(true);
    m_placeholder->setForegroundRole(QPalette::PlaceholderText);
    m_messages->addWidget(m_placeholder);
    m_messages->addStretch(1);
    m_scroll->setWidget(m_messagesHost);
    layout->addWidget(m_scroll, 1);

    m_error = new QLabel(this);
    m_error->setObjectName(QStringLiteral("chatError"));
    m_error->setWordWrap(true);
    m_error->setStyleSheet(QStringLiteral("color: #b00020;"));
    m_error->hide();
    layout->addWidget(m_error);

    auto* bottom = new QHBoxLayout;
    m_input = new ChatInput(this);
    m_send = new QPushButton(tr("Send"), this);
    m_send->setToolTip(tr("Send the question (Enter)"));
    m_stop = new QPushButton(tr("Stop"), this);
    m_stop->setToolTip(tr("Stop the answer (Esc)"));
    auto* buttons = new QVBoxLayout;
    buttons->addWidget(m_send);
    buttons->addWidget(m_stop);
    buttons->addStretch(1);
    bottom->addWidget(m_input, 1);
    bottom->addLayout(buttons);
    layout->addLayout(bottom);

    connect(m_input, &ChatInput::sendRequested, this, &ChatPanel::send);
    connect(m_input, &ChatInput::stopRequested, this, &ChatPanel::stop);
    connect(m_send, &QPushButton::clicked, this, &ChatPanel::send);
    connect(m_stop, &QPushButton::clicked, this, &ChatPanel::stop);
    connect(m_export, &QPushButton::clicked, this, &ChatPanel::exportMarkdown);
    connect(m_newConversation, &QPushButton::clicked, this, [this] { startConversation(); });
    connect(m_conversations, &QComboBox::activated, this, [this](int index) {
        showConversation(m_conversations->itemData(index).toLongLong());
    });

    connect(controller, &LibraryController::messageAdded, this, [this](qint64 conv, qint64 id) {
        if (conv != m_conversationId || m_widgets.contains(id))
            return;
        if (const auto m = m_controller->library()->message(id)) {
            addMessageWidget(*m);
            scrollToEnd();
        }
        updateControls();
    });
    connect(controller, &LibraryController::messagesRemoved, this, [this](qint64 conv, qint64) {
        if (conv == m_conversationId)
            reloadMessages();
    });
    connect(controller, &LibraryController::answerUpdated, this,
            [this](qint64 conv, qint64 id, const QString& text) {
                if (conv != m_conversationId)
                    return;
                MessageWidget* w = widgetFor(id);
                if (!w) {
                    if (const auto m = m_controller->library()->message(id))
                        w = addMessageWidget(*m);
                }
                if (w)
                    w->setStreamingText(text);
                scrollToEnd();
                updateControls();
            });
    connect(controller, &LibraryController::answerFinished, this, [this](qint64 conv, qint64 id) {
        if (conv != m_conversationId)
            return;
        if (MessageWidget* w = widgetFor(id)) {
            if (const auto m = m_controller->library()->message(id))
                w->setRecord(*m);
        }
        updateControls();
    });
    connect(controller, &LibraryController::documentChanged, this, [this](qint64 id) {
        if (id == m_documentId)
            setDocument(id);
    });
    setDocument(0);
}

void ChatPanel::setDocument(qint64 documentId)
{
    const bool same = documentId == m_documentId;
    m_documentId = documentId;
    m_asOf->clear();
    m_asOf->addItem(tr("Whole document"), qint64(-1));
    if (const auto d = m_controller->library()->document(documentId)) {
        for (qint64 position : d->checkpoints) {
            if (position <= 0 || position >= d->tokens)
                continue;
            const int percent = d->tokens ? int(position * 100 / d->tokens) : 0;
            m_asOf->addItem(tr("First %1% (%2 tokens)").arg(percent).arg(position), position);
        }
    }
    if (!same) {
        m_conversationId = 0;
        m_error->hide();
        reloadConversations();
        if (m_conversations->count() > 0)
            showConversation(m_conversations->itemData(m_conversations->count() - 1).toLongLong());
        else
            reloadMessages();
    }
    updateControls();
}

void ChatPanel::reloadConversations()
{
    m_conversations->clear();
    if (!m_documentId)
        return;
    for (const ConversationRecord& c : m_controller->library()->conversations(m_documentId)) {
        QString title = c.title.isEmpty() ? tr("Conversation %1").arg(c.id) : c.title;
        if (c.asOf >= 0)
            title += tr(" (as of %1 tokens)").arg(c.asOf);
        m_conversations->addItem(title, c.id);
    }
    const int index = m_conversations->findData(m_conversationId);
    if (index >= 0)
        m_conversations->setCurrentIndex(index);
}

void ChatPanel::showConversation(qint64 conversationId)
{
    m_conversationId = conversationId;
    m_editingMessageId = 0;
    const int index = m_conversations->findData(conversationId);
    if (index >= 0)
        m_conversations->setCurrentIndex(index);
    reloadMessages();
    updateControls();
}

qint64 ChatPanel::startConversation()
{
    if (!m_documentId)
        return 0;
    const qint64 asOf = m_asOf->currentData().toLongLong();
    const QString title = QLocale().toString(QDateTime::currentDateTime(), QLocale::ShortFormat);
    const qint64 id = m_controller->newConversation(m_documentId, asOf, title);
    if (!id)
        return 0;
    m_conversationId = id;
    reloadConversations();
    showConversation(id);
    m_input->setFocus();
    return id;
}

QList<MessageWidget*> ChatPanel::messageWidgets() const
{
    QList<MessageWidget*> out;
    for (int i = 0; i < m_messages->count(); ++i)
        if (auto* w = qobject_cast<MessageWidget*>(m_messages->itemAt(i)->widget()))
            out.append(w);
    return out;
}

void ChatPanel::reloadMessages()
{
    for (MessageWidget* w : messageWidgets())
        delete w;
    m_widgets.clear();
    if (m_conversationId) {
        for (const MessageRecord& m : m_controller->library()->messages(m_conversationId))
            addMessageWidget(m);
    }
    scrollToEnd();
}

MessageWidget* ChatPanel::addMessageWidget(const MessageRecord& message)
{
    auto* w = new MessageWidget(message, m_messagesHost);
    m_messages->insertWidget(m_messages->count() - 1, w);
    m_widgets.insert(message.id, w);
    connect(w, &MessageWidget::pageClicked, this,
            [this](const AttendedPage& page) { Q_EMIT pageRequested(m_documentId, page); });
    connect(w, &MessageWidget::regenerateRequested, this, &ChatPanel::regenerate);
    connect(w, &MessageWidget::editRequested, this, &ChatPanel::editMessage);
    updateControls();
    return w;
}

MessageWidget* ChatPanel::widgetFor(qint64 messageId) const
{
    return m_widgets.value(messageId, nullptr);
}

void ChatPanel::updateControls()
{
    const auto d = m_controller->library()->document(m_documentId);
    const bool ready = d && d->state == DocumentState::Ready;
    const bool answering = m_conversationId && m_controller->isAnswering(m_conversationId);
    m_send->setEnabled(ready && !answering);
    m_stop->setEnabled(answering);
    m_input->setEnabled(ready);
    m_newConversation->setEnabled(ready);
    m_asOf->setEnabled(ready);
    m_conversations->setEnabled(m_conversations->count() > 0);
    m_export->setEnabled(m_conversationId != 0 && !m_widgets.isEmpty());
    m_send->setText(m_editingMessageId ? tr("Resend") : tr("Send"));

    QString hint;
    if (!d)
        hint = tr("Open a document (File → Open…, or drop a file here) and select it in the "
                  "library to ask about it.");
    else if (d->state == DocumentState::Failed)
        hint = tr("This document could not be read: %1").arg(d->error);
    else if (!ready)
        hint = tr("“%1” is being read. You can ask once reading is complete.").arg(d->title);
    else if (m_widgets.isEmpty())
        hint = tr("Ask anything about “%1”. Answers cite the pages the model attended to.")
                   .arg(d->title);
    m_placeholder->setText(hint);
    m_placeholder->setVisible(!hint.isEmpty());
}

void ChatPanel::scrollToEnd()
{
    QTimer::singleShot(0, this, [this] {
        m_scroll->verticalScrollBar()->setValue(m_scroll->verticalScrollBar()->maximum());
    });
}

void ChatPanel::send()
{
    const QString text = m_input->toPlainText().trimmed();
    if (text.isEmpty() || !m_send->isEnabled())
        return;
    m_error->hide();
    if (m_editingMessageId) {
        const qint64 id = m_controller->editAndResend(m_editingMessageId, text);
        m_editingMessageId = 0;
        if (!id)
            return;
    } else {
        if (!m_conversationId && !startConversation())
            return;
        if (!m_controller->sendMessage(m_conversationId, text))
            return;
    }
    m_input->clear();
    updateControls();
}

void ChatPanel::stop()
{
    if (m_conversationId && m_controller->isAnswering(m_conversationId))
        m_controller->stopAnswer(m_conversationId);
    else if (m_editingMessageId) {
        m_editingMessageId = 0;
        m_input->clear();
        updateControls();
    }
}

void ChatPanel::regenerate(qint64 messageId)
{
    if (m_conversationId && m_controller->isAnswering(m_conversationId))
        return;
    m_error->hide();
    m_controller->regenerate(messageId);
    updateControls();
}

void ChatPanel::editMessage(qint64 messageId)
{
    const auto m = m_controller->library()->message(messageId);
    if (!m)
        return;
    m_editingMessageId = messageId;
    m_input->setPlainText(m->text);
    m_input->setFocus();
    updateControls();
}

void ChatPanel::exportMarkdown()
{
    if (!m_conversationId)
        return;
    QSettings settings;
    const QString dir = settings.value(QStringLiteral("paths/lastExportDir")).toString();
    const QString path = QFileDialog::getSaveFileName(this, tr("Export Conversation"), dir,
                                                      tr("Markdown (*.md)"));
    if (path.isEmpty())
        return;
    settings.setValue(QStringLiteral("paths/lastExportDir"), QFileInfo(path).absolutePath());
    m_controller->exportMarkdown(m_conversationId, path);
}

void ChatPanel::showError(const QString& message)
{
    m_error->setText(message);
    m_error->setVisible(!message.isEmpty());
}
