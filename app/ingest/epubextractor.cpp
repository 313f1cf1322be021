// EPUB extraction; see epubextractor.h.
#include "epubextractor.h"

#include "documentbuilder.h"
#include "htmltokenizer.h"
#include "htmltotext.h"
#include "textdecoder.h"
#include "ziparchive.h"

#include <QDir>
#include <QHash>
#include <QUrl>
#include <QXmlStreamReader>

namespace Ingest {

namespace {

struct ManifestItem {
    QString href;  // resolved path inside the archive
    QString mediaType;
    QString properties;
};

struct Package {
    QString title;
    QHash<QString, ManifestItem> manifest;  // by id
    QStringList spine;                      // manifest ids in reading order
    QString ncxId;                          // <spine toc="...">
};

// Resolves an href relative to the directory of `base` (both archive paths); "" when it leaves
// the archive.
QString resolve(const QString& base, const QString& href)
{
    QString path = QUrl::fromPercentEncoding(href.section(u'#', 0, 0).toUtf8());
    if (path.isEmpty() || path.startsWith(u'/') || path.contains(QLatin1String("://")))
        return QString();
    const qsizetype slash = base.lastIndexOf(u'/');
    const QString dir = slash >= 0 ? base.left(slash + 1) : QString();
    const QString clean = QDir::cleanPath(dir + path);
    if (clean.startsWith(QLatin1String("..")) || clean.startsWith(u'/'))
        return QString();
    return clean;
}

lectern::Result<QString> findOpf(ZipArchive& zip)
{
    if (zip.contains(QStringLiteral("META-INF/container.xml"))) {
        auto container = zip.read(QStringLiteral("META-INF/container.xml"));
        if (!container)
            return container.error();
        QXmlStreamReader xml(*container);
        while (!xml.atEnd()) {
            if (xml.readNext() == QXmlStreamReader::StartElement &&
                xml.name() == QLatin1String("rootfile")) {
                const QString path = xml.attributes().value(QLatin1String("full-path")).toString();
                if (zip.contains(path))
                    return path;
            }
        }
    }
    // No usable container.xml: accept a single .opf anywhere, as readers do.
    for (const QString& name : zip.names())
        if (name.endsWith(QLatin1String(".opf"), Qt::CaseInsensitive))
            return name;
    return lectern::make_error("not a valid EPUB: no OPF package document (META-INF/container.xml "
                               "names none that exists)");
}

lectern::Result<Package> parseOpf(const QByteArray& bytes, const QString& opfPath)
{
    Package pkg;
    QXmlStreamReader xml(bytes);
    while (!xml.atEnd()) {
        if (xml.readNext() != QXmlStreamReader::StartElement)
            continue;
        const auto attrs = xml.attributes();
        if (xml.name() == QLatin1String("title") && pkg.title.isEmpty()) {
            pkg.title = xml.readElementText(QXmlStreamReader::IncludeChildElements).simplified();
        } else if (xml.name() == QLatin1String("item")) {
            const QString id = attrs.value(QLatin1String("id")).toString();
            pkg.manifest.insert(id, ManifestItem{
                                        resolve(opfPath, attrs.value(QLatin1String("href")).toString()),
                                        attrs.value(QLatin1String("media-type")).toString(),
                                        attrs.value(QLatin1String("properties")).toString()});
        } else if (xml.name() == QLatin1String("itemref")) {
            if (attrs.value(QLatin1String("linear")) != QLatin1String("no"))
                pkg.spine.append(attrs.value(QLatin1String("idref")).toString());
        } else if (xml.name() == QLatin1String("spine")) {
            pkg.ncxId = attrs.value(QLatin1String("toc")).toString();
        }
    }
    if (xml.hasError())
        return lectern::make_error(opfPath.toStdString() + ": not valid XML (" +
                                   xml.errorString().toStdString() + ")");
    if (pkg.spine.isEmpty())
        return lectern::make_error(opfPath.toStdString() + ": the spine lists no documents");
    return pkg;
}

// Chapter titles by archive path (first entry wins), from an EPUB 3 nav document.
void readNav(const QString& navPath, const QByteArray& bytes, QHash<QString, QString>* titles)
{
    const QString html = TextDecoder::decodeUtf8Lossy(bytes, nullptr);
    HtmlTokenizer tok(html);
    int navDepth = 0;
    bool inToc = false;
    QString href, text;
    bool inLink = false;
    for (auto t = tok.next(); t.kind != HtmlTokenizer::Kind::End; t = tok.next()) {
        if (t.kind == HtmlTokenizer::Kind::StartTag && t.name == QLatin1String("nav")) {
            ++navDepth;
            const QString type = t.attributes.value(QStringLiteral("epub:type"));
            inToc = navDepth == 1 && (type.split(u' ').contains(QStringLiteral("toc")) || type.isEmpty());
        } else if (t.kind == HtmlTokenizer::Kind::EndTag && t.name == QLatin1String("nav")) {
            navDepth = std::max(0, navDepth - 1);
            inToc = inToc && navDepth > 0;
        } else if (inToc && t.kind == HtmlTokenizer::Kind::StartTag && t.name == QLatin1String("a")) {
            inLink = true;
            href = t.attributes.value(QStringLiteral("href"));
            text.clear();
        } else if (inLink && t.kind == HtmlTokenizer::Kind::Text) {
            text += t.text;
        } else if (inLink && t.kind == HtmlTokenizer::Kind::EndTag && t.name == QLatin1String("a")) {
            inLink = false;
            const QString path = resolve(navPath, href);
            if (!path.isEmpty() && !titles->contains(path) && !text.simplified().isEmpty())
                titles->insert(path, text.simplified());
        }
    }
}

// The same from an EPUB 2 toc.ncx (navPoint > navLabel > text, content@src).
void readNcx(const QString& ncxPath, const QByteArray& bytes, QHash<QString, QString>* titles)
{
    QXmlStreamReader xml(bytes);
    QString label;
    while (!xml.atEnd()) {
        if (xml.readNext() != QXmlStreamReader::StartElement)
            continue;
        if (xml.name() == QLatin1String("navPoint")) {
            label.clear();
        } else if (xml.name() == QLatin1String("text") && label.isEmpty()) {
            label = xml.readElementText().simplified();
        } else if (xml.name() == QLatin1String("content")) {
            const QString path =
                resolve(ncxPath, xml.attributes().value(QLatin1String("src")).toString());
            if (!path.isEmpty() && !titles->contains(path) && !label.isEmpty())
                titles->insert(path, label);
            label.clear();
        }
    }
}

}  // namespace

lectern::Result<ExtractedDocument> EpubExtractor::extract(const QByteArray& bytes,
                                                          const ExtractOptions& options)
{
    ZipArchive::Limits limits;
    limits.maxEntryBytes = options.maxEntryBytes;
    limits.maxTotalBytes = options.maxTotalBytes;
    limits.maxRatio = options.maxRatio;
    auto zipResult = ZipArchive::open(bytes, limits);
    if (!zipResult)
        return zipResult.error();
    ZipArchive& zip = *zipResult;

    auto opfPath = findOpf(zip);
    if (!opfPath)
        return opfPath.error();
    auto opfBytes = zip.read(*opfPath);
    if (!opfBytes)
        return opfBytes.error();
    auto pkg = parseOpf(*opfBytes, *opfPath);
    if (!pkg)
        return pkg.error();

    DocumentBuilder builder(ExtractedDocument::Format::Epub);
    builder.document().title = pkg->title;

    QHash<QString, QString> titles;
    for (const ManifestItem& item : pkg->manifest) {
        if (item.properties.split(u' ').contains(QStringLiteral("nav")) && zip.contains(item.href)) {
            if (auto nav = zip.read(item.href))
                readNav(item.href, *nav, &titles);
        }
    }
    if (titles.isEmpty() && pkg->manifest.contains(pkg->ncxId)) {
        const QString ncx = pkg->manifest.value(pkg->ncxId).href;
        if (auto data = zip.read(ncx))
            readNcx(ncx, *data, &titles);
    }

    for (const QString& id : pkg->spine) {
        const ManifestItem item = pkg->manifest.value(id);
        if (item.href.isEmpty() || !zip.contains(item.href)) {
            builder.addWarning(QStringLiteral("spine item '%1' is missing from the archive").arg(id));
            continue;
        }
        if (!item.mediaType.contains(QLatin1String("html")) && !item.mediaType.isEmpty()) {
            builder.addWarning(QStringLiteral("spine item '%1' (%2) is not XHTML; skipped")
                                   .arg(id, item.mediaType));
            continue;
        }
        auto data = zip.read(item.href);
        if (!data) {
            // A bomb or corrupt entry ends the extraction: the rest cannot be trusted either.
            return lectern::make_error("EPUB entry " + data.error().message);
        }
        // XHTML in EPUB is UTF-8 or UTF-16 (with a byte-order mark); anything else is repaired.
        qsizetype invalid = 0;
        QString html;
        if (data->startsWith("\xFF\xFE") || data->startsWith("\xFE\xFF")) {
            auto decoded = TextDecoder::decode(*data);
            if (decoded)
                html = decoded->text;
        } else {
            html = TextDecoder::decodeUtf8Lossy(data->startsWith("\xEF\xBB\xBF") ? data->mid(3) : *data,
                                                &invalid);
        }
        const HtmlToText::Result converted = HtmlToText::convert(html);
        PageInfo info;
        info.label = titles.value(item.href);
        if (info.label.isEmpty())
            for (const HtmlToText::Block& b : converted.blocks)
                if (b.headingLevel > 0) { info.label = b.text; break; }
        if (info.label.isEmpty())
            info.label = converted.title;
        builder.beginPage(info);
        if (invalid > 0)
            builder.addPageWarning(QStringLiteral("%1: invalid UTF-8 repaired (%2 sequences)")
                                       .arg(item.href).arg(invalid));
        for (const HtmlToText::Block& b : converted.blocks) {
            builder.paragraphBreak();
            const qint64 at = builder.append(b.text);
            if (b.headingLevel > 0)
                builder.addHeading(b.headingLevel, b.text, at);
        }
        builder.endPage();
    }
    if (builder.document().pages.isEmpty())
        return lectern::make_error("the EPUB's spine has no readable XHTML documents");
    return builder.finish();
}

}  // namespace Ingest
