// PDF extraction; see pdfextractor.h.
#include "pdfextractor.h"

#include "documentbuilder.h"
#include "pageocr.h"
#include "pdflayout.h"

#include <QHash>
#include <QImage>
#include <QSet>

#include <poppler-qt6.h>

#include <cmath>
#include <memory>
#include <optional>

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

struct PageLines {
    PageInfo info;
    QVector<PdfLine> lines;
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

lectern::Result<ExtractedDocument> fromDocument(std::unique_ptr<Poppler::Document> doc,
                                                const ExtractOptions& options,
                                                const QStringList& messages);

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
    return fromDocument(Poppler::Document::load(path, options.password, options.password),
                        options, scope.messages);
}

lectern::Result<ExtractedDocument> PdfExtractor::extractData(const QByteArray& data,
                                                             const ExtractOptions& options)
{
    MessageScope scope;
    return fromDocument(Poppler::Document::loadFromData(data, options.password, options.password),
                        options, scope.messages);
}

namespace {

lectern::Result<ExtractedDocument> fromDocument(std::unique_ptr<Poppler::Document> doc,
                                                const ExtractOptions& options,
                                                const QStringList& messages)
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

    // Pass 1, page by page: words -> ordered lines. Poppler::Page objects live one at a time.
    QVector<PageLines> pages;
    pages.reserve(pageCount);
    for (int i = 0; i < pageCount; ++i) {
        PageLines pl;
        std::unique_ptr<Poppler::Page> page = doc->page(i);
        if (!page) {
            pl.info.hasTextLayer = false;
            pl.info.warnings.append(QStringLiteral("page %1 could not be read").arg(i + 1));
            pages.append(pl);
            continue;
        }
        pl.info.label = page->label();
        if (pl.info.label.isEmpty())
            pl.info.label = QString::number(i + 1);
        pl.info.size = page->pageSizeF();
        QVector<PdfWord> words;
        for (const std::unique_ptr<Poppler::TextBox>& box : page->textList()) {
            const QString text = box->text();
            if (text.trimmed().isEmpty())
                continue;
            words.append(PdfWord{text, box->boundingBox(), box->hasSpaceAfter()});
        }
        if (words.isEmpty()) {
            pl.info.hasTextLayer = false;
            if (!pageHasInk(*page))
                pl.info.warnings.append(QStringLiteral("page %1 is empty").arg(pl.info.label));
            else if (!options.ocr)
                pl.info.warnings.append(QStringLiteral("page %1 has no text layer (a scanned "
                                                       "image?); its text is missing (try --ocr)")
                                            .arg(pl.info.label));
            else
                words = ocrPage(*page, &pl.info);
        }
        pl.lines = PdfLayout::readingOrder(std::move(words), pl.info.size);
        pages.append(std::move(pl));
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
