// LibraryPanel: the documents list, its rows' text and the reading actions.
#include "librarypanel.h"

#include <QFileInfo>
#include <QHBoxLayout>
#include <QListWidget>
#include <QLocale>
#include <QMessageBox>
#include <QToolButton>
#include <QVBoxLayout>

#include "librarycontroller.h"

namespace {

QString durationText(double seconds)
{
    if (seconds < 0)
        return {};
    if (seconds < 90)
        return LibraryPanel::tr("%1 s").arg(qRound(seconds));
    if (seconds < 90 * 60)
        return LibraryPanel::tr("%1 min").arg(qRound(seconds / 60));
    return LibraryPanel::tr("%1 h").arg(seconds / 3600, 0, 'f', 1);
}

QToolButton* actionButton(const QString& text, const QString& tip, QWidget* parent)
{
    auto* b = new QToolButton(parent);
    b->setText(text);
    b->setToolTip(tip);
    b->setAccessibleName(text);
    return b;
}

}  // namespace

LibraryPanel::LibraryPanel(LibraryController* controller, QWidget* parent)
    : QWidget(parent), m_controller(controller)
{
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    m_list = new QListWidget(this);
    m_list->setAccessibleName(tr("Library"));
    m_list->setWordWrap(true);
    m_list->setTextElideMode(Qt::ElideMiddle);
    m_list->setSpacing(2);
    m_list->setAlternatingRowColors(true);
    layout->addWidget(m_list, 1);

    auto* buttons = new QHBoxLayout;
    m_pause = actionButton(tr("Pause"), tr("Pause reading; everything read so far is kept"), this);
    m_resume = actionButton(tr("Resume"), tr("Continue reading from where it stopped"), this);
    m_cancel = actionButton(tr("Cancel"), tr("Stop reading and discard what was read"), this);
    m_remove = actionButton(tr("Remove"), tr("Remove the document and its conversations"), this);
    for (QToolButton* b : {m_pause, m_resume, m_cancel, m_remove})
        buttons->addWidget(b);
    buttons->addStretch(1);
    layout->addLayout(buttons);

    connect(m_pause, &QToolButton::clicked, this, &LibraryPanel::pauseCurrent);
    connect(m_resume, &QToolButton::clicked, this, &LibraryPanel::resumeCurrent);
    connect(m_cancel, &QToolButton::clicked, this, &LibraryPanel::cancelCurrent);
    connect(m_remove, &QToolButton::clicked, this, &LibraryPanel::removeCurrent);
    connect(m_list, &QListWidget::currentItemChanged, this, [this] {
        updateActions();
        Q_EMIT currentDocumentChanged(currentDocument());
    });

    connect(controller, &LibraryController::documentAdded, this, [this](qint64 id) {
        refresh(id);
        selectDocument(id);
    });
    connect(controller, &LibraryController::documentChanged, this, &LibraryPanel::refresh);
    connect(controller, &LibraryController::documentRemoved, this, [this](qint64 id) {
        delete itemFor(id);
        m_progress.remove(id);
        updateActions();
    });
    connect(controller, &LibraryController::readingProgress, this,
            [this](qint64 id, qint64 done, qint64 total, double rate, double eta) {
                m_progress.insert(id, Progress{done, total, rate, eta});
                refresh(id);
            });
    reload();
}

void LibraryPanel::reload()
{
    m_list->clear();
    for (const DocumentRecord& d : m_controller->library()->documents())
        refresh(d.id);
    if (m_list->count() > 0 && !m_list->currentItem())
        m_list->setCurrentRow(0);
    updateActions();
}

QListWidgetItem* LibraryPanel::itemFor(qint64 documentId) const
{
    for (int i = 0; i < m_list->count(); ++i)
        if (m_list->item(i)->data(Qt::UserRole).toLongLong() == documentId)
            return m_list->item(i);
    return nullptr;
}

QString LibraryPanel::rowText(qint64 documentId) const
{
    const QListWidgetItem* item = itemFor(documentId);
    return item ? item->text() : QString();
}

void LibraryPanel::refresh(qint64 documentId)
{
    const auto d = m_controller->library()->document(documentId);
    if (!d)
        return;
    QListWidgetItem* item = itemFor(documentId);
    if (!item) {
        item = new QListWidgetItem(m_list);
        item->setData(Qt::UserRole, documentId);
    }
    const QLocale locale;
    QString state;
    QString tip = d->path;
    switch (d->state) {
    case DocumentState::NotRead: state = tr("Not read"); break;
    case DocumentState::Ready: state = tr("Ready · %1 tokens").arg(locale.toString(d->tokens)); break;
    case DocumentState::Paused:
        state = d->tokensTotal ? tr("Paused at %1%").arg(d->tokens * 100 / d->tokensTotal)
                               : tr("Paused");
        break;
    case DocumentState::Failed:
        state = tr("Could not be read");
        tip += QLatin1Char('\n') + d->error;
        break;
    case DocumentState::Reading: {
        const Progress p = m_progress.value(documentId);
        const qint64 total = p.total ? p.total : d->tokensTotal;
        const qint64 done = p.total ? p.done : d->tokens;
        state = total ? tr("Reading %1%").arg(done * 100 / total) : tr("Reading…");
        if (p.tokensPerSecond > 0)
            state += tr(" · %1 tokens/s").arg(qRound(p.tokensPerSecond));
        if (p.eta >= 0 && p.total)
            state += tr(" · %1 left").arg(durationText(p.eta));
        break;
    }
    }
    QString details = locale.formattedDataSize(d->bytesOnDisk, 1);
    if (!d->modelPath.isEmpty())
        details += QStringLiteral(" · ") + QFileInfo(d->modelPath).fileName();
    QString text = d->title + QLatin1Char('\n') + state + QLatin1Char('\n') + details;
    if (d->state == DocumentState::Failed && !d->error.isEmpty())
        text += QLatin1Char('\n') + d->error;
    item->setText(text);
    item->setToolTip(tip);
    item->setForeground(d->state == DocumentState::Failed ? QBrush(QColor(0xb0, 0x00, 0x20))
                                                          : QBrush());
    if (item == m_list->currentItem())
        updateActions();
}

qint64 LibraryPanel::currentDocument() const
{
    const QListWidgetItem* item = m_list->currentItem();
    return item ? item->data(Qt::UserRole).toLongLong() : 0;
}

void LibraryPanel::selectDocument(qint64 documentId)
{
    if (QListWidgetItem* item = itemFor(documentId))
        m_list->setCurrentItem(item);
}

void LibraryPanel::updateActions()
{
    const qint64 id = currentDocument();
    const auto d = m_controller->library()->document(id);
    const bool reading = id && m_controller->isReading(id);
    m_pause->setEnabled(reading);
    m_resume->setEnabled(d && !reading && d->state != DocumentState::Ready);
    m_cancel->setEnabled(d && d->state != DocumentState::Ready &&
                         d->state != DocumentState::Failed);
    m_remove->setEnabled(bool(d));
}

bool LibraryPanel::confirm(const QString& title, const QString& text)
{
    if (!m_confirm)
        return true;
    return QMessageBox::question(this, title, text, QMessageBox::Yes | QMessageBox::No,
                                 QMessageBox::No) == QMessageBox::Yes;
}

void LibraryPanel::pauseCurrent()
{
    if (const qint64 id = currentDocument())
        m_controller->pauseReading(id);
}

void LibraryPanel::resumeCurrent()
{
    if (const qint64 id = currentDocument())
        m_controller->resumeReading(id);
}

void LibraryPanel::cancelCurrent()
{
    const qint64 id = currentDocument();
    if (!id || !confirm(tr("Cancel Reading"),
                        tr("Stop reading this document and discard what was read so far?")))
        return;
    m_controller->cancelReading(id);
}

void LibraryPanel::removeCurrent()
{
    const qint64 id = currentDocument();
    if (!id || !confirm(tr("Remove Document"),
                        tr("Remove this document, what was read and all its conversations from "
                           "the library? The file itself is not deleted.")))
        return;
    m_controller->removeDocument(id);
}
