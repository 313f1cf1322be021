// What the reader needs of a document besides its pages' pixels: the location map (the pages'
// byte ranges and text-layer flags, the rectangles of the text on PDF pages) and, for text-like
// documents, the extracted text. Loaded off the GUI thread (the store's kept location map when it
// has one, else the extractor with the options the app reads documents with) and cached per
// document file, so that opening a page or highlighting a passage never extracts on the GUI
// thread.
#pragma once

#include <QByteArray>
#include <QList>
#include <QObject>
#include <QRectF>
#include <QString>

#include <memory>

#include "locationmap.h"

struct ReaderSource {
    QString error;       // why nothing could be loaded (map and text empty)
    QByteArray text;     // the extracted text (text-like documents only)
    Ingest::LocationMap map;
    bool fromStore = false;  // the map is the store's own (no extraction ran)

    // Rectangles (page points) of the text of `page` within bytes [begin, end) of the text.
    QList<QRectF> rects(int page, qint64 begin, qint64 end) const;
    // False for a PDF page that had no text layer (a scan; its text was not read).
    bool hasTextLayer(int page) const;
    bool isOcr(int page) const;
};
using ReaderSourcePtr = std::shared_ptr<const ReaderSource>;

class ReaderSourceLoader : public QObject
{
    Q_OBJECT

public:
    explicit ReaderSourceLoader(QObject* parent = nullptr);
    ~ReaderSourceLoader() override;

    // The cached source of this document file (as it is on disk now), or null.
    static ReaderSourcePtr cached(const QString& path, const QString& storeDir, bool needText);
    // Loads on the thread pool unless cached; `loaded` follows, queued, in every case (also
    // with an error). Requests for the same document while one runs share it.
    void request(const QString& path, const QString& storeDir, bool needText);
    // The blocking load the pool runs (also caches the result).
    static ReaderSourcePtr load(const QString& path, const QString& storeDir, bool needText);

    // Test hooks: extractions run so far, and how many of them ran on the GUI thread (never any).
    static int extractions();
    static int guiThreadExtractions();
    static void clearCache();

Q_SIGNALS:
    void loaded(const QString& path, const ReaderSourcePtr& source);

private:
    QStringList m_running;  // cache keys being loaded
};
