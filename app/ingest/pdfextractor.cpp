// PDF extraction; see pdfextractor.h.
#include "pdfextractor.h"

#include "documentbuilder.h"
#include "pageocr.h"
#include "pdfcoretext.h"
#include "pdflayout.h"

#include <QFile>
#include <QImage>
#include <QThread>

#include <poppler-qt6.h>

#include <algorithm>
#include <atomic>
#include <memory>
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

// Poppler messages while a thread opens another copy of the document: they were already
// collected when the first copy was opened, so they are dropped.
struct SilenceMessages {
    QStringList* saved = t_popplerMessages;
    SilenceMessages() { t_popplerMessages = nullptr; }
    ~SilenceMessages() { t_popplerMessages = saved; }
};

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

// Where the PDF is read from, to open it again for each thread: the bytes (kept alive by the
// caller) or the file.
struct PdfSource {
    const QByteArray* data = nullptr;
    QString path;
    QByteArray password;
    bool core = true;  // words through Poppler's core API when built with it

    std::unique_ptr<Poppler::Document> openPoppler() const
    {
        return data ? Poppler::Document::loadFromData(*data, password, password)
                    : Poppler::Document::load(path, password, password);
    }
    // Null without the core API (or when it fails to open): the thread uses textList().
    std::unique_ptr<PdfCoreText> openCore() const
    {
        if (!core)
            return nullptr;
        SilenceMessages silence;
        return data ? PdfCoreText::openData(*data, password)
                    : PdfCoreText::openFile(path, password);
    }
};

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

lectern::Result<ExtractedDocument> fromDocument(const PdfSource& source,
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

bool PdfExtractor::hasCoreTextApi()
{
    return PdfCoreText::available();
}

lectern::Result<ExtractedDocument> PdfExtractor::extract(const QString& path,
                                                         const ExtractOptions& options,
                                                         TextApi api)
{
    MessageScope scope;
    PdfSource source;
    source.password = options.password;
    source.core = api == TextApi::Auto;
    // Poppler reads a file through small pread calls; from memory (a read-only mapping, copied
    // once by poppler-qt6, read in place by the core API) it reads faster. Files that cannot be
    // mapped are read by Poppler itself.
    QFile file(path);
    const qint64 size = file.open(QIODevice::ReadOnly) ? file.size() : 0;
    const uchar* mapped = size > 0 && size <= kMaxMappedBytes ? file.map(0, size) : nullptr;
    if (mapped) {
        const QByteArray data =
            QByteArray::fromRawData(reinterpret_cast<const char*>(mapped), qsizetype(size));
        source.data = &data;
        return fromDocument(source, options, scope.messages);
    }
    source.path = path;
    return fromDocument(source, options, scope.messages);
}

lectern::Result<ExtractedDocument> PdfExtractor::extractData(const QByteArray& data,
                                                             const ExtractOptions& options,
                                                             TextApi api)
{
    MessageScope scope;
    PdfSource source;
    source.data = &data;
    source.password = options.password;
    source.core = api == TextApi::Auto;
    return fromDocument(source, options, scope.messages);
}

namespace {

// The words of a page through poppler-qt6 (the fallback without the core API).
QVector<PdfWord> textListWords(Poppler::Page& page)
{
    QVector<PdfWord> words;
    const auto boxes = page.textList();
    words.reserve(qsizetype(boxes.size()));
    for (const std::unique_ptr<Poppler::TextBox>& box : boxes)
        words.append(PdfWord{box->text(), box->boundingBox(), box->hasSpaceAfter()});
    return words;
}

// A page without words: a scan (OCR'd later when asked for) or a blank page. Only such pages are
// rendered (a tiny image tells a scan from a blank page).
void classifyPageWithoutWords(Poppler::Page& page, const ExtractOptions& options, PageLines* pl)
{
    pl->info.hasTextLayer = false;
    if (!pageHasInk(page))
        pl->info.warnings.append(QStringLiteral("page %1 is empty").arg(pl->info.label));
    else if (!options.ocr)
        pl->info.warnings.append(QStringLiteral("page %1 has no text layer (a scanned "
                                                "image?); its text is missing (try --ocr)")
                                     .arg(pl->info.label));
    else
        pl->needsOcr = true;
}

PageLines unreadablePage(int i)
{
    PageLines pl;
    pl.info.hasTextLayer = false;
    pl.info.warnings.append(QStringLiteral("page %1 could not be read").arg(i + 1));
    return pl;
}

// One thread's documents: the core API's (when built with it and it opens) for words, and a
// poppler-qt6 one, opened only when needed (no core document, or a page without words to render).
struct ThreadDocuments {
    const PdfSource* source;
    PdfCoreText* core;
    Poppler::Document* doc;
    std::unique_ptr<Poppler::Document> owned;

    ThreadDocuments(const PdfSource* s, PdfCoreText* c, Poppler::Document* d = nullptr)
        : source(s), core(c), doc(d)
    {
    }

    Poppler::Document* poppler()
    {
        if (!doc && !owned) {
            SilenceMessages silence;  // seen when the first copy was opened
            owned = source->openPoppler();
            if (owned && !owned->isLocked())
                doc = owned.get();
        }
        return doc;
    }
};

// Pass 1 for one page: words -> ordered lines, through the core API when the thread has it,
// else poppler-qt6.
PageLines readPage(ThreadDocuments& docs, int i, const ExtractOptions& options)
{
    PageLines pl;
    QVector<PdfWord> words;
    std::unique_ptr<Poppler::Page> page;
    if (docs.core) {
        if (!docs.core->pageInfo(i, &pl.info.label, &pl.info.size))
            return unreadablePage(i);
        words = docs.core->words(i);
    } else {
        page = docs.poppler() ? docs.doc->page(i) : nullptr;
        if (!page)
            return unreadablePage(i);
        pl.info.label = page->label();
        pl.info.size = page->pageSizeF();
        words = textListWords(*page);
    }
    if (pl.info.label.isEmpty())
        pl.info.label = QString::number(i + 1);
    words.removeIf([](const PdfWord& w) {
        return std::all_of(w.text.cbegin(), w.text.cend(), [](QChar c) { return c.isSpace(); });
    });
    if (words.isEmpty()) {
        if (!page && docs.poppler())
            page = docs.doc->page(i);  // the core path renders through poppler-qt6 too
        if (!page)
            return unreadablePage(i);
        classifyPageWithoutWords(*page, options, &pl);
        return pl;
    }
    pl.lines = PdfLayout::readingOrder(std::move(words), pl.info.size);
    return pl;
}

// The core API's copy of the document for one thread, or null (then textList() is used).
std::unique_ptr<PdfCoreText> openCore(const PdfSource& source, int pageCount)
{
    std::unique_ptr<PdfCoreText> core = source.openCore();
    if (core && core->pageCount() != pageCount)
        core.reset();  // not expected (same library, same bytes); the Qt path is always right
    return core;
}

// Pass 1 over all pages. Poppler's text extraction is the bulk of the work and pages are
// independent, so with several cores pages are read by worker threads, each with its own
// documents (a document is not shared between threads), in batches handed out in order; the
// result is the same as reading them one by one.
void readPages(Poppler::Document& doc, const PdfSource& source, const ExtractOptions& options,
               QVector<PageLines>& pages, QStringList& messages)
{
    const int pageCount = int(pages.size());
    constexpr int kBatch = 8;
    int threads = options.threads > 0 ? options.threads : QThread::idealThreadCount();
    threads = std::clamp(std::min(threads, pageCount / (2 * kBatch)), 1, 64);
    std::atomic<int> next{0};
    const auto work = [&](ThreadDocuments& docs) {
        for (;;) {
            const int first = next.fetch_add(kBatch);
            if (first >= pageCount)
                return;
            for (int i = first; i < std::min(pageCount, first + kBatch); ++i)
                pages[i] = readPage(docs, i, options);
        }
    };
    std::vector<std::thread> workers;
    std::vector<QStringList> workerMessages(std::size_t(threads > 1 ? threads - 1 : 0));
    for (int t = 0; t + 1 < threads; ++t) {
        workers.emplace_back([&, t] {
            const std::unique_ptr<PdfCoreText> core = openCore(source, pageCount);
            ThreadDocuments docs{&source, core.get()};
            if (!core && !docs.poppler())
                return;  // the pages it would have read are read below
            t_popplerMessages = &workerMessages[std::size_t(t)];
            work(docs);
            t_popplerMessages = nullptr;
        });
    }
    const std::unique_ptr<PdfCoreText> core = openCore(source, pageCount);
    ThreadDocuments docs{&source, core.get(), &doc};
    work(docs);
    for (std::thread& w : workers)
        w.join();
    for (const QStringList& m : workerMessages)
        for (const QString& line : m)
            if (messages.size() < 100)
                messages.append(line);
}

lectern::Result<ExtractedDocument> fromDocument(const PdfSource& source,
                                                const ExtractOptions& options,
                                                QStringList& messages)
{
    // This document lives through the whole extraction: it keeps Poppler's global parameters
    // (and error callback) for the core documents opened beside it.
    const std::unique_ptr<Poppler::Document> doc = source.openPoppler();
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
    readPages(*doc, source, options, pages, messages);
    // OCR (slow, rare) on this thread, for pages without a text layer.
    for (int i = 0; i < pageCount; ++i) {
        PageLines& pl = pages[i];
        if (!pl.needsOcr)
            continue;
        std::unique_ptr<Poppler::Page> page = doc->page(i);
        if (page)
            pl.lines = PdfLayout::readingOrder(ocrPage(*page, &pl.info), pl.info.size);
    }

    // Running headers, footers and page numbers are dropped across pages.
    QVector<QVector<PdfLine>*> lines;
    lines.reserve(pages.size());
    for (PageLines& p : pages)
        lines.append(&p.lines);
    PdfLayout::dropRunningLines(lines);

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
