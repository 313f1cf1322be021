// MessageWidget: a message's text, state, actions and attended-page chips.
#include "messagewidget.h"

#include <QApplication>
#include <QClipboard>
#include <QHBoxLayout>
#include <QLabel>
#include <QToolButton>
#include <QVBoxLayout>

MessageWidget::MessageWidget(const MessageRecord& message, QWidget* parent)
    : QFrame(parent), m_message(message)
{
    setObjectName(message.fromUser ? QStringLiteral("userMessage")
                                   : QStringLiteral("assistantMessage"));
    setFrameShape(QFrame::StyledPanel);
    setBackgroundRole(message.fromUser ? QPalette::AlternateBase : QPalette::Base);
    setAutoFillBackground(true);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(10, 6, 10, 6);
    layout->setSpacing(4);

    auto* header = new QHBoxLayout;
    m_who = new QLabel(message.fromUser ? tr("<b>You</b>") : tr("<b>Lectern</b>"), this);
    m_state = new QLabel(this);
    m_state->setObjectName(QStringLiteral("messageState"));
    m_state->setForegroundRole(QPalette::PlaceholderText);
    header->addWidget(m_who);
    header->addWidget(m_state);
    header->addStretch(1);

    auto* copy = new QToolButton(this);
    copy->setText(tr("Copy"));
    copy->setToolTip(tr("Copy this message's text"));
    copy->setAutoRaise(true);
    connect(copy, &QToolButton::clicked, this,
            [this] { QApplication::clipboard()->setText(m_message.text); });
    header->addWidget(copy);
    if (message.fromUser) {
        auto* edit = new QToolButton(this);
        edit->setObjectName(QStringLiteral("editButton"));
        edit->setText(tr("Edit"));
        edit->setToolTip(tr("Edit this question and ask it again"));
        edit->setAutoRaise(true);
        connect(edit, &QToolButton::clicked, this, [this] { Q_EMIT editRequested(m_message.id); });
        header->addWidget(edit);
    } else {
        m_regenerate = new QToolButton(this);
        m_regenerate->setObjectName(QStringLiteral("regenerateButton"));
        m_regenerate->setText(tr("Regenerate"));
        m_regenerate->setToolTip(tr("Answer this question again"));
        m_regenerate->setAutoRaise(true);
        connect(m_regenerate, &QToolButton::clicked, this,
                [this] { Q_EMIT regenerateRequested(m_message.id); });
        header->addWidget(m_regenerate);
    }
    layout->addLayout(header);

    m_body = new QLabel(this);
    m_body->setObjectName(QStringLiteral("messageText"));
    m_body->setWordWrap(true);
    m_body->setTextFormat(message.fromUser ? Qt::PlainText : Qt::MarkdownText);
    m_body->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard |
                                    Qt::LinksAccessibleByMouse);
    m_body->setOpenExternalLinks(false);
    m_body->setAccessibleName(message.fromUser ? tr("Your question") : tr("Answer"));
    layout->addWidget(m_body);

    m_chipRow = new QHBoxLayout;
    m_chipRow->setSpacing(4);
    m_chipCaption = new QLabel(tr("Attended passages:"), this);
    m_chipCaption->setToolTip(
        tr("Pages whose passages the model attended to while answering. What it carries only in "
           "its recurrent memory has no page."));
    m_chipRow->addWidget(m_chipCaption);
    m_chipRow->addStretch(1);
    layout->addLayout(m_chipRow);

    setRecord(message);
}

void MessageWidget::setRecord(const MessageRecord& message)
{
    m_message = message;
    m_body->setText(message.text);
    updateState();
    rebuildChips();
}

void MessageWidget::setStreamingText(const QString& text)
{
    m_message.text = text;
    m_message.state = MessageState::Streaming;
    m_body->setText(text);
    updateState();
}

void MessageWidget::updateState()
{
    QString state;
    switch (m_message.state) {
    case MessageState::Streaming: state = tr("answering…"); break;
    case MessageState::Stopped: state = tr("stopped"); break;
    case MessageState::Failed: state = tr("failed"); break;
    case MessageState::Complete: break;
    }
    m_state->setText(state);
    if (m_regenerate)
        m_regenerate->setEnabled(m_message.state != MessageState::Streaming);
    if (!m_message.fromUser && m_message.text.isEmpty() &&
        m_message.state == MessageState::Streaming)
        m_body->setText(tr("…"));
}

void MessageWidget::rebuildChips()
{
    qDeleteAll(m_chips);
    m_chips.clear();
    // One chip per page, strongest first, at most eight.
    QList<int> seen;
    for (const AttendedPage& page : m_message.attended) {
        if (seen.contains(page.page) || m_chips.size() >= 8)
            continue;
        seen.append(page.page);
        auto* chip = new QToolButton(this);
        chip->setObjectName(QStringLiteral("pageChip"));
        const QString label = page.label.isEmpty() ? QString::number(page.page + 1) : page.label;
        chip->setText(tr("p. %1").arg(label));
        chip->setToolTip(tr("Open page %1 in the reader (%2% of the attention)")
                             .arg(label)
                             .arg(qRound(page.weight * 100)));
        chip->setAccessibleName(tr("Attended page %1").arg(label));
        chip->setCursor(Qt::PointingHandCursor);
        connect(chip, &QToolButton::clicked, this, [this, page] { Q_EMIT pageClicked(page); });
        m_chipRow->insertWidget(m_chipRow->count() - 1, chip);
        m_chips.append(chip);
    }
    const bool show = !m_message.fromUser && !m_chips.isEmpty();
    m_chipCaption->setVisible(show);
}
