// Page words through Poppler's core TextOutputDev; see pdfcoretext.h.
#include "pdfcoretext.h"

#ifdef LECTERN_HAVE_POPPLER_CORE

#include <QFile>
#include <QVarLengthArray>

#include <Catalog.h>
#include <GlobalParams.h>
#include <PDFDoc.h>
#include <PDFDocEncoding.h>
#include <Stream.h>
#include <TextOutputDev.h>
#include <goo/GooString.h>

#include <optional>
#include <type_traits>

namespace Ingest {

namespace {

// Only called when no Poppler::Document is alive (which would have set poppler-qt6's own); the
// extractor never does that, so messages there would be dropped anyway.
void ignoreError(ErrorCategory, Goffset, const char*) {}

// The password as poppler-qt6 passes it: always given, empty when none.
std::optional<GooString> password(const QByteArray& p)
{
    return GooString(p.constData());
}

// TextWord::getText() returns an owned GooString* in Poppler 22 and a smart pointer in later ones.
QString wordText(GooString* s)
{
    QString text = QString::fromUtf8(s->c_str());
    delete s;
    return text;
}
template <class S>
QString wordText(std::unique_ptr<S> s)
{
    return QString::fromUtf8(s->c_str());
}

// The word's text as QString::fromUtf8(getText()) gives it (what textList() does), without a
// GooString and a lookup of the text encoding (a mutex and a map) per word: with the UTF-8 text
// encoding, code points that survive UTF-8 and QString::fromUtf8 unchanged are the text itself.
// NUL (ends the C string), surrogates (invalid UTF-8), U+FEFF (a leading one is dropped as a
// byte order mark) and values past U+10FFFF (not encoded) take the exact, slow path.
QString textOf(const TextWord* word, bool utf8)
{
    if (utf8) {
        QVarLengthArray<char16_t, 64> utf16;
        bool plain = true;
        for (int i = 0; i < word->getLength() && plain; ++i) {
            const Unicode u = *word->getChar(i);
            plain = u != 0 && (u < 0xD800 || u > 0xDFFF) && u != 0xFEFF && u <= 0x10FFFF;
            if (plain && u < 0x10000) {
                utf16.append(char16_t(u));
            } else if (plain) {
                utf16.append(QChar::highSurrogate(u));
                utf16.append(QChar::lowSurrogate(u));
            }
        }
        if (plain)
            return QString(reinterpret_cast<const QChar*>(utf16.constData()), utf16.size());
    }
    return wordText(word->getText());
}

// A PDF text string to QString as poppler-qt6 does (UnicodeParsedString): UTF-16 with a byte
// order mark, else PDFDocEncoding. pdfDocEncodingToUTF16 returns new[]'d bytes in Poppler 22.
template <class F>
QString parsedString(F toUtf16, const std::string& s)
{
    if (s.empty())
        return QString();
    if (GooString::hasUnicodeMarker(s) || GooString::hasUnicodeMarkerLE(s))
        return QString::fromUtf16(reinterpret_cast<const char16_t*>(s.c_str()),
                                  qsizetype(s.size() / 2));
    if constexpr (std::is_invocable_v<F, const std::string&, int*>) {
        int length = 0;
        const char* utf16 = toUtf16(s, &length);
        QString result = QString::fromUtf16(reinterpret_cast<const char16_t*>(utf16), length / 2);
        delete[] utf16;
        return result;
    } else {
        const std::string utf16 = toUtf16(s);
        return QString::fromUtf16(reinterpret_cast<const char16_t*>(utf16.data()),
                                  qsizetype(utf16.size() / 2));
    }
}

// PDFDoc takes a raw BaseStream* in Poppler 22 and a std::unique_ptr in later ones.
template <class Doc = PDFDoc>
std::unique_ptr<Doc> docFromStream(BaseStream* stream, const QByteArray& pw)
{
    if constexpr (std::is_constructible_v<Doc, BaseStream*, const std::optional<GooString>&,
                                          const std::optional<GooString>&>)
        return std::make_unique<Doc>(stream, password(pw), password(pw));
    else
        return std::make_unique<Doc>(std::unique_ptr<BaseStream>(stream), password(pw),
                                     password(pw));
}

}  // namespace

struct PdfCoreText::Impl {
    // Holds a reference on Poppler's global parameters (fonts, encodings) for as long as this
    // document lives; normally the poppler-qt6 document made them and this only counts.
    GlobalParamsIniter params{ignoreError};
    std::unique_ptr<PDFDoc> doc;
    // Poppler's text encoding is UTF-8 (poppler-qt6 never changes it): words take the fast path.
    bool utf8 = globalParams->getTextEncodingName() == "UTF-8";
    // Without /PageLabels, Catalog::indexToLabel() gives the page number, but it parses the
    // catalog object again on every call to find that out: asked once here.
    bool numberLabels = false;
};

bool PdfCoreText::available()
{
    return true;
}

PdfCoreText::PdfCoreText(std::unique_ptr<Impl> impl) : d(std::move(impl)) {}
PdfCoreText::~PdfCoreText() = default;

std::unique_ptr<PdfCoreText> PdfCoreText::opened(std::unique_ptr<Impl> impl)
{
    if (!impl->doc->isOk())
        return nullptr;
    // A catalog that is not a dictionary keeps Poppler's own path (it reports an error per call).
    const Object catalog = impl->doc->getXRef()->getCatalog();
    impl->numberLabels = catalog.isDict() && !catalog.dictLookup("PageLabels").isDict();
    return std::unique_ptr<PdfCoreText>(new PdfCoreText(std::move(impl)));
}

std::unique_ptr<PdfCoreText> PdfCoreText::openData(const QByteArray& data, const QByteArray& pw)
{
    auto impl = std::make_unique<Impl>();
    // MemStream reads `data` in place (the caller keeps it alive); the PDFDoc owns the stream.
    auto* stream = new MemStream(data.constData(), 0, data.size(), Object(objNull));
    impl->doc = docFromStream(stream, pw);
    return opened(std::move(impl));
}

std::unique_ptr<PdfCoreText> PdfCoreText::openFile(const QString& path, const QByteArray& pw)
{
    auto impl = std::make_unique<Impl>();
#ifdef _WIN32
    // On Windows the GooString constructor opens the file with CreateFileA (ANSI code page, which
    // cannot spell every name); Poppler's wide-name constructor takes any path.
    std::wstring wide = path.toStdWString();
    impl->doc = std::make_unique<PDFDoc>(wide.data(), int(wide.size()), password(pw), password(pw));
#else
    impl->doc =
        std::make_unique<PDFDoc>(std::make_unique<GooString>(QFile::encodeName(path).constData()),
                                 password(pw), password(pw));
#endif
    return opened(std::move(impl));
}

int PdfCoreText::pageCount() const
{
    return d->doc->getNumPages();
}

bool PdfCoreText::pageInfo(int index, QString* label, QSizeF* size) const
{
    Page* page = index >= 0 && index < d->doc->getNumPages() ? d->doc->getPage(index + 1) : nullptr;
    if (!page)
        return false;
    GooString text;
    if (d->numberLabels)
        *label = QString::number(index + 1);  // indexToLabel's "%d", ASCII in PDFDocEncoding
    else if (d->doc->getCatalog()->indexToLabel(index, &text))
        *label = parsedString(pdfDocEncodingToUTF16, text.toStr());
    else
        label->clear();
    // pageSizeF(): width and height swap for landscape and seascape (90 and 270 degrees).
    const int rotate = page->getRotate();
    *size = rotate == 90 || rotate == 270 ? QSizeF(page->getCropHeight(), page->getCropWidth())
                                          : QSizeF(page->getCropWidth(), page->getCropHeight());
    return true;
}

QVector<PdfWord> PdfCoreText::words(int index)
{
    QVector<PdfWord> out;
    if (index < 0 || index >= d->doc->getNumPages())
        return out;
    // As Poppler::Page::textList(): the same device and page slice at 72 dpi, unrotated, but
    // with copyXRef = false (the last argument): this document belongs to one thread only.
    TextOutputDev device(nullptr, false, 0, false, false);
    d->doc->displayPageSlice(&device, index + 1, 72, 72, 0, false, false, false, -1, -1, -1, -1,
                             nullptr, nullptr, nullptr, nullptr, false);
    const std::unique_ptr<TextWordList> list = device.makeWordList();
    const int count = list ? list->getLength() : 0;
    out.reserve(count);
    for (int i = 0; i < count; ++i) {
        const TextWord* word = list->get(i);
        double xMin, yMin, xMax, yMax;
        word->getBBox(&xMin, &yMin, &xMax, &yMax);
        out.append(PdfWord{textOf(word, d->utf8), QRectF(xMin, yMin, xMax - xMin, yMax - yMin),
                           word->hasSpaceAfter()});
    }
    return out;
}

}  // namespace Ingest

#else  // without Poppler's core headers: poppler-qt6 is used instead

namespace Ingest {

struct PdfCoreText::Impl {};

bool PdfCoreText::available()
{
    return false;
}

PdfCoreText::PdfCoreText(std::unique_ptr<Impl> impl) : d(std::move(impl)) {}
PdfCoreText::~PdfCoreText() = default;

std::unique_ptr<PdfCoreText> PdfCoreText::opened(std::unique_ptr<Impl>)
{
    return nullptr;
}

std::unique_ptr<PdfCoreText> PdfCoreText::openData(const QByteArray&, const QByteArray&)
{
    return nullptr;
}

std::unique_ptr<PdfCoreText> PdfCoreText::openFile(const QString&, const QByteArray&)
{
    return nullptr;
}

bool PdfCoreText::pageInfo(int, QString*, QSizeF*) const
{
    return false;
}

int PdfCoreText::pageCount() const
{
    return 0;
}

QVector<PdfWord> PdfCoreText::words(int)
{
    return {};
}

}  // namespace Ingest

#endif
