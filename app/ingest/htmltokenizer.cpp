// Tolerant HTML tag scanner; see htmltokenizer.h.
#include "htmltokenizer.h"

namespace Ingest {

namespace {

struct Entity {
    const char* name;
    char16_t value;
};

// The named entities seen in practice in books and web pages; the full HTML5 table is 2,000+.
constexpr Entity kEntities[] = {
    {"amp", u'&'},      {"lt", u'<'},        {"gt", u'>'},       {"quot", u'"'},
    {"apos", u'\''},    {"nbsp", u'\u00A0'}, {"shy", u'\u00AD'}, {"mdash", u'\u2014'},
    {"ndash", u'\u2013'}, {"hellip", u'\u2026'}, {"lsquo", u'\u2018'}, {"rsquo", u'\u2019'},
    {"ldquo", u'\u201C'}, {"rdquo", u'\u201D'}, {"laquo", u'\u00AB'}, {"raquo", u'\u00BB'},
    {"copy", u'\u00A9'}, {"reg", u'\u00AE'},  {"trade", u'\u2122'}, {"deg", u'\u00B0'},
    {"middot", u'\u00B7'}, {"bull", u'\u2022'}, {"times", u'\u00D7'}, {"sect", u'\u00A7'},
    {"para", u'\u00B6'}, {"eacute", u'\u00E9'}, {"egrave", u'\u00E8'}, {"ecirc", u'\u00EA'},
    {"aacute", u'\u00E1'}, {"agrave", u'\u00E0'}, {"acirc", u'\u00E2'}, {"auml", u'\u00E4'},
    {"ouml", u'\u00F6'}, {"uuml", u'\u00FC'},  {"Auml", u'\u00C4'}, {"Ouml", u'\u00D6'},
    {"Uuml", u'\u00DC'}, {"szlig", u'\u00DF'}, {"ccedil", u'\u00E7'}, {"iacute", u'\u00ED'},
    {"oacute", u'\u00F3'}, {"uacute", u'\u00FA'}, {"ntilde", u'\u00F1'}, {"euro", u'\u20AC'},
    {"pound", u'\u00A3'}, {"thinsp", u'\u2009'}, {"ensp", u'\u2002'}, {"emsp", u'\u2003'},
};

bool isNameChar(QChar c)
{
    return c.isLetterOrNumber() || c == u'-' || c == u'_' || c == u':' || c == u'.';
}

QString localName(QStringView name)
{
    const qsizetype colon = name.lastIndexOf(u':');
    return (colon >= 0 ? name.mid(colon + 1) : name).toString().toLower();
}

}  // namespace

QString HtmlTokenizer::decodeEntities(QStringView text)
{
    if (!text.contains(u'&'))
        return text.toString();
    QString out;
    out.reserve(text.size());
    for (qsizetype i = 0; i < text.size(); ++i) {
        if (text[i] != u'&') {
            out.append(text[i]);
            continue;
        }
        const qsizetype semi = text.indexOf(u';', i + 1);
        if (semi < 0 || semi - i > 12) {
            out.append(u'&');
            continue;
        }
        const QStringView name = text.mid(i + 1, semi - i - 1);
        bool done = false;
        if (name.startsWith(u'#')) {
            bool ok = false;
            const uint cp = (name.size() > 1 && (name[1] == u'x' || name[1] == u'X'))
                                ? name.mid(2).toUInt(&ok, 16)
                                : name.mid(1).toUInt(&ok, 10);
            if (ok) {
                const bool valid = cp > 0 && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
                const char32_t c = valid ? char32_t(cp) : U'\uFFFD';
                out.append(QString::fromUcs4(&c, 1));
                done = true;
            }
        } else {
            for (const Entity& e : kEntities) {
                if (name == QLatin1String(e.name)) {
                    out.append(QChar(e.value));
                    done = true;
                    break;
                }
            }
        }
        if (done)
            i = semi;
        else
            out.append(u'&');
    }
    return out;
}

HtmlTokenizer::Token HtmlTokenizer::next()
{
    Token token;
    const qsizetype size = m_html.size();
    if (m_pos >= size)
        return token;

    if (!m_rawUntil.isEmpty()) {
        // Raw text of <script>/<style> up to its end tag (case-insensitive).
        qsizetype end = m_pos;
        while (true) {
            end = m_html.indexOf(u'<', end);
            if (end < 0) { end = size; break; }
            if (m_html.mid(end, m_rawUntil.size()).compare(m_rawUntil, Qt::CaseInsensitive) == 0)
                break;
            ++end;
        }
        token.kind = Kind::Text;
        token.text = m_html.mid(m_pos, end - m_pos).toString();
        m_pos = end;
        m_rawUntil.clear();
        if (!token.text.isEmpty())
            return token;
        return next();
    }

    if (m_html[m_pos] == u'<') {
        if (m_html.mid(m_pos, 4) == u"<!--") {
            const qsizetype end = m_html.indexOf(u"-->", m_pos + 4);
            m_pos = end < 0 ? size : end + 3;
            return next();
        }
        if (m_html.mid(m_pos, 9) == u"<![CDATA[") {
            const qsizetype end = m_html.indexOf(u"]]>", m_pos + 9);
            token.kind = Kind::Text;
            token.text = m_html.mid(m_pos + 9, (end < 0 ? size : end) - m_pos - 9).toString();
            m_pos = end < 0 ? size : end + 3;
            return token;
        }
        const QChar c = m_pos + 1 < size ? m_html[m_pos + 1] : QChar();
        if (c == u'!' || c == u'?') {
            const qsizetype end = m_html.indexOf(u'>', m_pos);
            m_pos = end < 0 ? size : end + 1;
            return next();
        }
        if (c.isLetter() || (c == u'/' && m_pos + 2 < size && m_html[m_pos + 2].isLetter()))
            return readTag();
    }
    // Text up to the next '<' that starts markup; a stray '<' is text.
    qsizetype end = m_html.indexOf(u'<', m_pos + 1);
    if (end < 0)
        end = size;
    token.kind = Kind::Text;
    token.text = decodeEntities(m_html.mid(m_pos, end - m_pos));
    m_pos = end;
    return token;
}

HtmlTokenizer::Token HtmlTokenizer::readTag()
{
    Token token;
    const qsizetype size = m_html.size();
    qsizetype i = m_pos + 1;
    token.kind = Kind::StartTag;
    if (m_html[i] == u'/') {
        token.kind = Kind::EndTag;
        ++i;
    }
    const qsizetype nameStart = i;
    while (i < size && isNameChar(m_html[i]))
        ++i;
    token.name = localName(m_html.mid(nameStart, i - nameStart));

    // Attributes: name, name=value, name="value", name='value'; until '>' outside quotes.
    while (i < size && m_html[i] != u'>') {
        if (m_html[i] == u'/' ) {
            token.selfClosing = true;
            ++i;
            continue;
        }
        if (!isNameChar(m_html[i])) {
            ++i;
            continue;
        }
        token.selfClosing = false;
        const qsizetype aStart = i;
        while (i < size && isNameChar(m_html[i]))
            ++i;
        const QString attrName = m_html.mid(aStart, i - aStart).toString().toLower();
        while (i < size && m_html[i].isSpace())
            ++i;
        QString value;
        if (i < size && m_html[i] == u'=') {
            ++i;
            while (i < size && m_html[i].isSpace())
                ++i;
            if (i < size && (m_html[i] == u'"' || m_html[i] == u'\'')) {
                const QChar quote = m_html[i];
                const qsizetype end = m_html.indexOf(quote, i + 1);
                const qsizetype stop = end < 0 ? size : end;
                value = decodeEntities(m_html.mid(i + 1, stop - i - 1));
                i = end < 0 ? size : end + 1;
            } else {
                const qsizetype vStart = i;
                while (i < size && !m_html[i].isSpace() && m_html[i] != u'>')
                    ++i;
                value = decodeEntities(m_html.mid(vStart, i - vStart));
            }
        }
        token.attributes.insert(attrName, value);
    }
    m_pos = i < size ? i + 1 : size;
    if (token.kind == Kind::StartTag && !token.selfClosing &&
        (token.name == QLatin1String("script") || token.name == QLatin1String("style")))
        m_rawUntil = QStringLiteral("</") + token.name;
    return token;
}

}  // namespace Ingest
