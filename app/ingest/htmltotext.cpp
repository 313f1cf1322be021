// HTML to text blocks; see htmltotext.h.
#include "htmltotext.h"

#include "htmltokenizer.h"

#include <QSet>

namespace Ingest {

namespace {

const QSet<QString>& blockElements()
{
    static const QSet<QString> names = {
        QStringLiteral("p"),          QStringLiteral("div"),     QStringLiteral("li"),
        QStringLiteral("ul"),         QStringLiteral("ol"),      QStringLiteral("dl"),
        QStringLiteral("dt"),         QStringLiteral("dd"),      QStringLiteral("table"),
        QStringLiteral("tr"),         QStringLiteral("blockquote"), QStringLiteral("section"),
        QStringLiteral("article"),    QStringLiteral("header"),  QStringLiteral("footer"),
        QStringLiteral("nav"),        QStringLiteral("aside"),   QStringLiteral("main"),
        QStringLiteral("figure"),     QStringLiteral("figcaption"), QStringLiteral("hr"),
        QStringLiteral("pre"),        QStringLiteral("body"),    QStringLiteral("html"),
        QStringLiteral("address"),    QStringLiteral("caption"), QStringLiteral("h1"),
        QStringLiteral("h2"),         QStringLiteral("h3"),      QStringLiteral("h4"),
        QStringLiteral("h5"),         QStringLiteral("h6"),      QStringLiteral("head"),
        QStringLiteral("title"),
    };
    return names;
}

class Converter {
public:
    HtmlToText::Result run(QStringView html)
    {
        HtmlTokenizer tokenizer(html);
        for (HtmlTokenizer::Token t = tokenizer.next(); t.kind != HtmlTokenizer::Kind::End;
             t = tokenizer.next()) {
            switch (t.kind) {
            case HtmlTokenizer::Kind::StartTag: start(t); break;
            case HtmlTokenizer::Kind::EndTag: end(t.name); break;
            case HtmlTokenizer::Kind::Text: text(t.text); break;
            case HtmlTokenizer::Kind::End: break;
            }
        }
        flush();
        m_result.title = m_result.title.simplified();
        return std::move(m_result);
    }

private:
    static int headingLevel(const QString& name)
    {
        if (name.size() == 2 && name[0] == u'h' && name[1] >= u'1' && name[1] <= u'6')
            return name[1].unicode() - u'0';
        return 0;
    }

    void start(const HtmlTokenizer::Token& t)
    {
        if (t.name == QLatin1String("script") || t.name == QLatin1String("style")) {
            if (!t.selfClosing)
                m_skipNextText = true;
            return;
        }
        if (t.name == QLatin1String("br")) {
            appendBreak();
            return;
        }
        if (t.name == QLatin1String("td") || t.name == QLatin1String("th")) {
            appendText(QStringLiteral(" "));
            return;
        }
        if (t.name == QLatin1String("img") && t.attributes.contains(QStringLiteral("alt"))) {
            appendText(t.attributes.value(QStringLiteral("alt")));
            return;
        }
        if (!blockElements().contains(t.name))
            return;
        flush();
        if (t.selfClosing)
            return;
        if (t.name == QLatin1String("pre"))
            ++m_pre;
        else if (t.name == QLatin1String("title"))
            m_inTitle = true;
        else if (t.name == QLatin1String("head"))
            m_inHead = true;
        if (const int level = headingLevel(t.name))
            m_heading = level;
    }

    void end(const QString& name)
    {
        if (name == QLatin1String("script") || name == QLatin1String("style")) {
            m_skipNextText = false;
            return;
        }
        if (!blockElements().contains(name))
            return;
        flush();
        if (name == QLatin1String("pre") && m_pre > 0)
            --m_pre;
        else if (name == QLatin1String("title"))
            m_inTitle = false;
        else if (name == QLatin1String("head"))
            m_inHead = false;
    }

    void text(const QString& s)
    {
        if (m_skipNextText) {  // the raw body of <script> or <style>
            m_skipNextText = false;
            return;
        }
        if (m_inTitle) {
            m_result.title += s;
            return;
        }
        if (m_inHead)
            return;
        appendText(s);
    }

    void appendText(const QString& s)
    {
        if (m_pre > 0) {
            m_current += s;
            return;
        }
        for (QChar c : s) {
            if (c.isSpace()) {  // includes U+00A0
                if (!m_current.isEmpty() && !m_current.endsWith(u' ') &&
                    !m_current.endsWith(u'\n'))
                    m_current += u' ';
            } else if (c != QChar(0x00AD)) {  // soft hyphen: invisible
                m_current += c;
            }
        }
    }

    void appendBreak()
    {
        while (m_current.endsWith(u' '))
            m_current.chop(1);
        if (!m_current.isEmpty())
            m_current += u'\n';
    }

    void flush()
    {
        QString block = m_pre > 0 ? m_current : m_current.trimmed();
        if (m_pre > 0) {  // keep inner whitespace, drop blank edges
            while (block.startsWith(u'\n')) block.remove(0, 1);
            while (block.endsWith(u'\n') || block.endsWith(u' ')) block.chop(1);
        }
        if (!block.isEmpty())
            m_result.blocks.append(HtmlToText::Block{block, m_heading});
        m_current.clear();
        m_heading = 0;
    }

    HtmlToText::Result m_result;
    QString m_current;
    int m_heading = 0;
    int m_pre = 0;
    bool m_inTitle = false;
    bool m_inHead = false;
    bool m_skipNextText = false;
};

}  // namespace

HtmlToText::Result HtmlToText::convert(QStringView html)
{
    return Converter().run(html);
}

QString HtmlToText::toPlainText(const Result& result)
{
    QString out;
    for (const Block& b : result.blocks) {
        if (!out.isEmpty())
            out += QStringLiteral("\n\n");
        out += b.text;
    }
    return out;
}

}  // namespace Ingest
