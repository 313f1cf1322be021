// Text and HTML extraction; see plaintextextractor.h.
#include "plaintextextractor.h"

#include "documentbuilder.h"
#include "htmltotext.h"
#include "textdecoder.h"

#include <QRegularExpression>

namespace Ingest {

bool PlainTextExtractor::looksLikeHtml(const QString& text)
{
    const QString head = text.left(2048).trimmed().toLower();
    return head.startsWith(QLatin1String("<!doctype html")) || head.startsWith(QLatin1String("<html")) ||
           (head.startsWith(QLatin1String("<?xml")) && head.contains(QLatin1String("<html"))) ||
           head.contains(QLatin1String("<body")) || head.contains(QLatin1String("<head>"));
}

lectern::Result<ExtractedDocument> PlainTextExtractor::extract(const QByteArray& bytes)
{
    auto decoded = TextDecoder::decode(bytes);
    if (!decoded)
        return decoded.error();

    if (looksLikeHtml(decoded->text)) {
        DocumentBuilder builder(ExtractedDocument::Format::Html);
        const HtmlToText::Result html = HtmlToText::convert(decoded->text);
        builder.document().title = html.title;
        for (const QString& w : decoded->warnings)
            builder.addWarning(w);
        PageInfo info;
        info.label = QStringLiteral("1");
        builder.beginPage(info);
        for (const HtmlToText::Block& b : html.blocks) {
            builder.paragraphBreak();
            const qint64 at = builder.append(b.text);
            if (b.headingLevel > 0)
                builder.addHeading(b.headingLevel, b.text, at);
        }
        ExtractedDocument doc = builder.finish();
        doc.encoding = decoded->encoding;
        return doc;
    }

    DocumentBuilder builder(ExtractedDocument::Format::Text);
    for (const QString& w : decoded->warnings)
        builder.addWarning(w);
    QString text = decoded->text;
    text.replace(QLatin1String("\r\n"), QLatin1String("\n")).replace(u'\r', u'\n');
    static const QRegularExpression blankLines(QStringLiteral("\\n[ \\t]*\\n\\s*"));
    const QStringList pages = text.split(u'\f');
    for (int i = 0; i < pages.size(); ++i) {
        PageInfo info;
        info.label = QString::number(i + 1);
        builder.beginPage(info);
        for (const QString& paragraph : pages[i].split(blankLines)) {
            QString p = paragraph;
            while (!p.isEmpty() && p.back().isSpace())
                p.chop(1);
            while (!p.isEmpty() && (p.front() == u'\n'))
                p.remove(0, 1);
            if (p.trimmed().isEmpty())
                continue;
            builder.paragraphBreak();
            builder.append(p);
        }
        builder.endPage();
    }
    if (builder.document().text.isEmpty())
        builder.addWarning(QStringLiteral("the file has no text"));
    ExtractedDocument doc = builder.finish();
    doc.encoding = decoded->encoding;
    return doc;
}

}  // namespace Ingest
