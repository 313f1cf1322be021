// ReaderPanel, the coverage strip: the store's coverage (DocumentStore::coverage through
// AnswerProvenance) computed on the thread pool whenever the store commits (the folder is
// watched: every commit replaces its manifest), live reading progress in between, and a click on
// the strip opening that page.
#include "readerpanel.h"

#include <QFileInfo>
#include <QFileSystemWatcher>
#include <QFutureWatcher>
#include <QTimer>
#include <QtConcurrent/QtConcurrentRun>

#include <optional>
#include <utility>

#include "answerprovenance.h"
#include "coveragestrip.h"

namespace {

using MaybeCoverage = std::optional<lectern::StoreCoverage>;

}  // namespace

void ReaderPanel::setUpCoverage()
{
    m_watcher = new QFileSystemWatcher(this);
    m_coverageTimer = new QTimer(this);
    m_coverageTimer->setSingleShot(true);
    m_coverageTimer->setInterval(200);  // a commit writes several files: one refresh for them
    connect(m_watcher, &QFileSystemWatcher::directoryChanged, m_coverageTimer,
            qOverload<>(&QTimer::start));
    connect(m_coverageTimer, &QTimer::timeout, this, &ReaderPanel::refreshCoverage);
    connect(m_strip, &CoverageStrip::pageRequested, this, [this](int page) { showPage(page); });
}

void ReaderPanel::watchStore()
{
    const QStringList watched = m_watcher->directories();
    if (!watched.isEmpty())
        m_watcher->removePaths(watched);
    // The folder appears when reading starts; setReadingProgress watches it then.
    const QString dir = m_document.storeDir;
    if (!dir.isEmpty() && QFileInfo(dir).isDir())
        m_watcher->addPath(dir);
    refreshCoverage();
}

void ReaderPanel::refreshCoverage()
{
    if (m_coverageRunning) {
        m_coverageAgain = true;
        return;
    }
    const QString dir = m_document.storeDir;
    if (dir.isEmpty()) {
        m_strip->setCoverage(std::nullopt);
        Q_EMIT coverageUpdated();
        return;
    }
    m_coverageRunning = true;
    // The watcher is this panel's child: a result for a panel that is gone is never delivered.
    auto* watcher = new QFutureWatcher<MaybeCoverage>(this);
    connect(watcher, &QFutureWatcher<MaybeCoverage>::finished, this, [this, watcher, dir] {
        m_coverageRunning = false;
        const MaybeCoverage coverage = watcher->result();
        watcher->deleteLater();
        if (dir == m_document.storeDir) {
            m_strip->setCoverage(coverage);
            Q_EMIT coverageUpdated();
        }
        if (std::exchange(m_coverageAgain, false))
            refreshCoverage();
    });
    watcher->setFuture(QtConcurrent::run([dir]() -> MaybeCoverage {
        auto coverage = AnswerProvenance::coverage(dir);
        return coverage ? MaybeCoverage(std::move(*coverage)) : std::nullopt;
    }));
}

void ReaderPanel::setReadingProgress(qint64 documentId, qint64 tokensDone, qint64 tokensTotal)
{
    if (documentId != m_document.id || m_document.path.isEmpty())
        return;
    m_strip->setReading(tokensDone, tokensTotal);
    if (m_watcher->directories().isEmpty() && !m_document.storeDir.isEmpty() &&
        QFileInfo(m_document.storeDir).isDir())
        watchStore();
}
