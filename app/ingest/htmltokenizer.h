// A tolerant HTML/XHTML tag scanner: splits markup into start tags (with attributes), end tags
// and text, and never fails. Real-world HTML is not XML (unclosed <p>, bare '&', stray '<'), so
// QXmlStreamReader is no use here. Comments, doctypes and processing instructions are skipped;
// the bodies of <script> and <style> are returned as one raw text token so callers can drop them.
#pragma once

#include <QHash>
#include <QString>
#include <QStringView>

namespace Ingest {

class HtmlTokenizer {
public:
    enum class Kind { StartTag, EndTag, Text, End };

    struct Token {
        Kind kind = Kind::End;
        QString name;                    // lower-case tag name, without any namespace prefix
        QHash<QString, QString> attributes;  // lower-case names, entity-decoded values
        bool selfClosing = false;
        QString text;                    // Text: entity-decoded, whitespace as in the source
    };

    explicit HtmlTokenizer(QStringView html) : m_html(html) {}
    Token next();

    // Decodes &amp; &#233; &#xE9; and the common named entities; unknown ones stay as written.
    static QString decodeEntities(QStringView text);

private:
    Token readTag();
    QStringView m_html;
    qsizetype m_pos = 0;
    QString m_rawUntil;  // after <script>/<style>: the end tag that ends the raw text
};

}  // namespace Ingest
