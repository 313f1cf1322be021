// PDF extraction; see pdfextractor.h.
#include "pdfextractor.h"

#include "documentbuilder.h"
#include "pageocr.h"
#include "pdflayout.h"

#include <QFile>
#include <QHash>
#include <QImage>
#include <QSet>
#include <QThread>

#include <poppler-qt6.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace Ingest {

namespace {

// Poppler reports syntax problems through a global callback; collect them for the extraction
// running on this thread instead of letting them reach stderr.
thread_local QStringList* t_popplerMessages = nullptr;

void collectPopplerMessage(const QString& message, const QVariant&)
{
    if (t_popplerMessages && t_popplerMessages->size() < 100)
        t_popplerMessages->append(message);
}

struct MessageScope {
    QStringList messages;
    MessageScope()
    {
        Poppler::setDebugErrorFunction(collectPopplerMessage, QVariant());
        t_popplerMessages = &messages;
    }
    ~MessageScope() { t_popplerMessages = nullptr; }
};

// Larger PDFs are read by Poppler from the file (each Document copies mapped bytes).
constexpr qint64 kMaxMappedBytes = 256ll << 20;

struct PageLines {
    PageInfo info;
    QVector<PdfLine> lines;
    bool needsOcr = false;  // no text layer but ink, and OCR asked for: done after pass 1
};

// Opens another Poppler::Document on the same file or bytes, for a worker thread.
using DocumentLoader = std::function<std::unique_ptr<Poppler::Document>()>;

// A page without words: does it draw anything? A tiny render tells a scan from a blank page.
bool pageHasInk(Poppler::Page& page)
{
    const QImage image = page.renderToImage(12, 12);
    if (image.isNull())
        return false;
    for (int y = 0; y < image.height(); ++y)
        for (int x = 0; x < image.width(); ++x)
            if (qGray(image.pixel(x, y)) < 240)
                return true;
    return false;
}

lectern::Result<ExtractedDocument> fromDocument(std::unique_ptr<Poppler::Document> doc,
                                                const DocumentLoader& loader,
                                                const ExtractOptions& options,
                                                QStringList& messages);

// Words of a page without a text layer, by OCR; a warning on the page when that fails.
QVector<PdfWord> ocrPage(Poppler::Page& page, PageInfo* info)
{
    auto words = PageOcr::recognise(page.renderToImage(PageOcr::kDpi, PageOcr::kDpi), PageOcr::kDpi);
    if (!words) {
        info->warnings.append(QStringLiteral("page %1 has no text layer and was not read: %2")
                                  .arg(info->label, QString::fromStdString(words.error().message)));
        return {};
    }
    info->ocr = true;
    if (words->isEmpty())
        info->warnings.append(QStringLiteral("page %1: OCR found no text").arg(info->label));
    return std::move(*words);
}

}  // namespace

lectern::Result<ExtractedDocument> PdfExtractor::extract(const QString& path,
                                                         const ExtractOptions& options)
{
    MessageScope scope;
    // Poppler reads a file through small pread calls; from memory (a read-only mapping, copied
    // once by Poppler) it reads faster. Files that cannot be mapped are read by Poppler itself.
    QFile file(path);
    const qint64 size = file.open(QIODevice::ReadOnly) ? file.size() : 0;
    const uchar* mapped = size > 0 && size <= kMaxMappedBytes ? file.map(0, size) : nullptr;
    if (mapped) {
        const QByteArray data =
            QByteArray::fromRawData(reinterpret_cast<const char*>(mapped), qsizetype(size));
        const DocumentLoader loader = [&data, &options] {
            return Poppler::Document::loadFromData(data, options.password, options.password);
        };
        return fromDocument(loader(), loader, options, scope.messages);
    }
    const DocumentLoader loader = [&path, &options] {
        return Poppler::Document::load(path, options.password, options.password);
    };
    return fromDocument(loader(), loader, options, scope.messages);
}

lectern::Result<ExtractedDocument> PdfExtractor::extractData(const QByteArray& data,
                                                             const ExtractOptions& options)
{
    MessageScope scope;
    const DocumentLoader loader = [&data, &options] {
        return Poppler::Document::loadFromData(data, options.password, options.password);
    };
    return fromDocument(loader(), loader, options, scope.messages);
}

namespace {

// Pass 1 for one page: words -> ordered lines.
PageLines readPage(Poppler::Document& doc, int i, const ExtractOptions& options)
{
    PageLines pl;
    std::unique_ptr<Poppler::Page> page = doc.page(i);
    if (!page) {
        pl.info.hasTextLayer = false;
        pl.info.warnings.append(QStringLiteral("page %1 could not be read").arg(i + 1));
        return pl;
    }
    pl.info.label = page->label();
    if (pl.info.label.isEmpty())
        pl.info.label = QString::number(i + 1);
    pl.info.size = page->pageSizeF();
    QVector<PdfWord> words;
    const auto boxes = page->textList();
    words.reserve(qsizetype(boxes.size()));
    for (const std::unique_ptr<Poppler::TextBox>& box : boxes) {
        QString text = box->text();
        bool blank = true;
        for (const QChar c : text) {
            if (!c.isSpace()) {
                blank = false;
                break;
            }
        }
        if (blank)
            continue;
        words.append(PdfWord{std::move(text), box->boundingBox(), box->hasSpaceAfter()});
    }
    if (words.isEmpty()) {
        // Only pages without words are rendered (a tiny image tells a scan from a blank page).
        pl.info.hasTextLayer = false;
        if (!pageHasInk(*page))
            pl.info.warnings.append(QStringLiteral("page %1 is empty").arg(pl.info.label));
        else if (!options.ocr)
            pl.info.warnings.append(QStringLiteral("page %1 has no text layer (a scanned "
                                                   "image?); its text is missing (try --ocr)")
                                        .arg(pl.info.label));
        else
            pl.needsOcr = true;
        return pl;
    }
    pl.lines = PdfLayout::readingOrder(std::move(words), pl.info.size);
    return pl;
}

// Pass 1 over all pages. Poppler's text extraction is the bulk of the work and pages are
// independent, so with several cores pages are read by worker threads, each with its own
// Poppler::Document (a document is not shared between threads), in batches handed out in order;
// the result is the same as reading them one by one.
void readPages(Poppler::Document& doc, const DocumentLoader& loader, const ExtractOptions& options,
               QVector<PageLines>& pages, QStringList& messages)
{
    const int pageCount = int(pages.size());
    constexpr int kBatch = 8;
    int threads = options.threads > 0 ? options.threads : QThread::idealThreadCount();
    threads = std::clamp(std::min(threads, pageCount / (2 * kBatch)), 1, 64);
    std::atomic<int> next{0};
    const auto work = [&](Poppler::Document& d) {
        for (;;) {
            const int first = next.fetch_add(kBatch);
            if (first >= pageCount)
                return;
            for (int i = first; i < std::min(pageCount, first + kBatch); ++i)
                pages[i] = readPage(d, i, options);
        }
    };
    std::vector<std::thread> workers;
    std::vector<QStringList> workerMessages(std::size_t(threads > 1 ? threads - 1 : 0));
    for (int t = 0; t + 1 < threads; ++t) {
        workers.emplace_back([&, t] {
            std::unique_ptr<Poppler::Document> d = loader();  // its load messages: already seen
            if (!d || d->isLocked())
                return;  // the pages it would have read are read below
            t_popplerMessages = &workerMessages[std::size_t(t)];
            work(*d);
            t_popplerMessages = nullptr;
        });
    }
    work(doc);
    for (std::thread& w : workers)
        w.join();
    for (const QStringList& m : workerMessages)
        for (const QString& line : m)
            if (messages.size() < 100)
                messages.append(line);
}

lectern::Result<ExtractedDocument> fromDocument(std::unique_ptr<Poppler::Document> doc,
                                                const DocumentLoader& loader,
                                                const ExtractOptions& options,
                                                QStringList& messages)
{
    if (!doc)
        return lectern::make_error("not a readable PDF (damaged or truncated beyond repair)");
    if (doc->isLocked()) {
        if (options.password.isEmpty())
            return lectern::make_error("the PDF is encrypted; give its password (--password)");
        return lectern::make_error("the PDF is encrypted and the password is wrong");
    }
    const int pageCount = doc->numPages();
    if (pageCount <= 0)
        return lectern::make_error("the PDF has no pages");

    DocumentBuilder builder(ExtractedDocument::Format::Pdf);
    builder.document().title = doc->info(QStringLiteral("Title")).trimmed();

    // Pass 1: words -> ordered lines per page (Poppler pages live one at a time per thread).
    QVector<PageLines> pages(pageCount);
    readPages(*doc, loader, options, pages, messages);
    // OCR (slow, rare) on this thread, for pages without a text layer.
    for (int i = 0; i < pageCount; ++i) {
        PageLines& pl = pages[i];
        if (!pl.needsOcr)
            continue;
        std::unique_ptr<Poppler::Page> page = doc->page(i);
        if (page)
            pl.lines = PdfLayout::readingOrder(ocrPage(*page, &pl.info), pl.info.size);
    }

    // Running headers and footers: band lines whose footprint (digits folded) recurs on many
    // pages, or that carry the page number at an edge with the same offset from the page index
    // on many pages ("Chapter 2: Setup    17"), or that are only a page number.
    if (pageCount >= 2) {
        const int minPages = std::max(3, int(std::ceil(0.2 * pageCount)));
        auto key = [](const PdfLine& l) {
            QString k = l.inTopBand ? QStringLiteral("T:") : QStringLiteral("B:");
            k.append(PdfLayout::footprint(l.text));
            return k;
        };
        auto numberOffset = [](const PdfLine& l, int pageIndex) -> std::optional<QString> {
            const QStringList words = l.text.split(u' ', Qt::SkipEmptyParts);
            if (words.size() < 2)
                return std::nullopt;
            bool ok = false;
            int n = words.first().toInt(&ok);
            if (!ok)
                n = words.last().toInt(&ok);
            if (!ok)
                return std::nullopt;
            return (l.inTopBand ? QStringLiteral("T") : QStringLiteral("B")) +
                   QString::number(n - pageIndex);
        };
        QHash<QString, QSet<int>> seen;
        for (int i = 0; i < pages.size(); ++i)
            for (const PdfLine& l : pages[i].lines) {
                if (!l.inTopBand && !l.inBottomBand)
                    continue;
                seen[key(l)].insert(i);
                if (const auto offset = numberOffset(l, i))
                    seen[*offset].insert(i);
            }
        for (int i = 0; i < pages.size(); ++i)
            for (PdfLine& l : pages[i].lines) {
                if (!l.inTopBand && !l.inBottomBand)
                    continue;
                const auto offset = numberOffset(l, i);
                l.dropped = PdfLayout::isPageNumber(l.text) ||
                            (pageCount >= 3 && seen.value(key(l)).size() >= minPages) ||
                            (offset && seen.value(*offset).size() >= minPages);
            }
    }

    // Pass 2: paragraphs into the document; each line one span with its box.
    for (PageLines& p : pages) {
        builder.beginPage(p.info);
        for (const QString& w : p.info.warnings)
            builder.addWarning(w);
        for (const PdfPiece& piece : PdfLayout::paragraphs(p.lines)) {
            if (piece.separator == QLatin1String("\n\n"))
                builder.paragraphBreak();
            else if (piece.separator == QLatin1String("\n"))
                builder.appendSeparator("\n");
            else if (!piece.separator.isEmpty())
                builder.appendSeparator(" ");
            builder.append(piece.text, piece.box);
        }
        p.lines.clear();
        p.lines.squeeze();
    }
    ExtractedDocument out = builder.finish();
    if (!messages.isEmpty())
        out.warnings.append(QStringLiteral("the PDF has structural errors (%1 reported; first: %2)")
                                .arg(messages.size())
                                .arg(QString(messages.first())
                                         .replace(QLatin1String("<0a>"), QLatin1String(" "))
                                         .simplified()));
    return out;
}

}  // namespace

}  // namespace Ingest
