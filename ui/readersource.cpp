// ReaderSource: the reader's location map and text, loaded on the thread pool and cached.
#include "readersource.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QMutex>
#include <QThread>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <atomic>

#include "answerprovenance.h"
#include "extractor.h"

namespace {

// A 2,000-page PDF's map is a few MB: keep the few documents one switches between.
constexpr int kCacheEntries = 4;

QMutex cacheMutex;
QList<QPair<QString, ReaderSourcePtr>> cache;  // most recently used first
std::atomic<int> extractionCount{0};
std::atomic<int> guiExtractionCount{0};

// The file as it is now (a changed file is loaded again), where its map may come from, and
// whether the text is wanted.
QString cacheKey(const QString& path, const QString& storeDir, bool needText)
{
    const QFileInfo info(path);
    return info.absoluteFilePath() + QLatin1Char('\n') + QString::number(info.size()) +
           QLatin1Char('\n') + QString::number(info.lastModified().toMSecsSinceEpoch()) +
           QLatin1Char('\n') + storeDir + QLatin1Char('\n') + (needText ? u'T' : u'-');
}

bool onGuiThread()
{
    return QCoreApplication::instance() &&
           QThread::currentThread() == QCoreApplication::instance()->thread();
}

}  // namespace

QList<QRectF> ReaderSource::rects(int page, qint64 begin, qint64 end) const
{
    // Spans are ordered by begin and do not overlap: the first that ends after `begin`, then on.
    const auto& spans = map.spans;
    auto it = std::partition_point(spans.begin(), spans.end(),
                                   [begin](const Ingest::TextSpan& s) { return s.end <= begin; });
    QList<QRectF> out;
    for (; it != spans.end() && it->begin < end; ++it)
        if (it->page == page && !it->rect.isNull())
            out.append(it->rect);
    return out;
}

bool ReaderSource::hasTextLayer(int page) const
{
    return page < 0 || page >= map.pages.size() || map.pages[page].hasTextLayer;
}

bool ReaderSource::isOcr(int page) const
{
    return page >= 0 && page < map.pages.size() && map.pages[page].ocr;
}

ReaderSourceLoader::ReaderSourceLoader(QObject* parent) : QObject(parent) {}

ReaderSourceLoader::~ReaderSourceLoader() = default;

ReaderSourcePtr ReaderSourceLoader::cached(const QString& path, const QString& storeDir,
                                           bool needText)
{
    const QString key = cacheKey(path, storeDir, needText);
    QMutexLocker lock(&cacheMutex);
    for (int i = 0; i < cache.size(); ++i)
        if (cache[i].first == key) {
            cache.move(i, 0);
            return cache.first().second;
        }
    return nullptr;
}

ReaderSourcePtr ReaderSourceLoader::load(const QString& path, const QString& storeDir,
                                         bool needText)
{
    if (ReaderSourcePtr hit = cached(path, storeDir, needText))
        return hit;
    auto source = std::make_shared<ReaderSource>();
    // The store's map indexes exactly the text it read; only text-like documents need the text
    // itself, which the store does not keep.
    if (!needText) {
        if (auto stored = AnswerProvenance::storedLocationMap(storeDir)) {
            source->map = std::move(*stored);
            source->fromStore = true;
        }
    }
    if (!source->fromStore) {
        ++extractionCount;
        if (onGuiThread())
            ++guiExtractionCount;
        // The same options the engine worker reads documents with, so offsets agree.
        auto extracted = Ingest::Extractor::extractFile(path);
        if (extracted) {
            source->map = Ingest::LocationMap::fromDocument(*extracted);
            if (needText)
                source->text = std::move(extracted->text);
        } else {
            source->error = QString::fromStdString(extracted.error().message);
        }
    }
    const QString key = cacheKey(path, storeDir, needText);
    QMutexLocker lock(&cacheMutex);
    cache.prepend({key, source});
    while (cache.size() > kCacheEntries)
        cache.removeLast();
    return source;
}

void ReaderSourceLoader::request(const QString& path, const QString& storeDir, bool needText)
{
    if (ReaderSourcePtr hit = cached(path, storeDir, needText)) {
        QMetaObject::invokeMethod(
            this, [this, path, hit] { Q_EMIT loaded(path, hit); }, Qt::QueuedConnection);
        return;
    }
    const QString key = cacheKey(path, storeDir, needText);
    if (m_running.contains(key))
        return;
    m_running.append(key);
    // The watcher is this object's child: if the reader goes away first, nothing is delivered.
    auto* watcher = new QFutureWatcher<ReaderSourcePtr>(this);
    connect(watcher, &QFutureWatcher<ReaderSourcePtr>::finished, this, [this, watcher, key, path] {
        m_running.removeAll(key);
        const ReaderSourcePtr source = watcher->result();
        watcher->deleteLater();
        Q_EMIT loaded(path, source);
    });
    watcher->setFuture(QtConcurrent::run(&ReaderSourceLoader::load, path, storeDir, needText));
}

int ReaderSourceLoader::extractions()
{
    return extractionCount.load();
}

int ReaderSourceLoader::guiThreadExtractions()
{
    return guiExtractionCount.load();
}

void ReaderSourceLoader::clearCache()
{
    QMutexLocker lock(&cacheMutex);
    cache.clear();
}
