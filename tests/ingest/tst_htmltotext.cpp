// HtmlToText and HtmlTokenizer on sloppy HTML: scripts and styles dropped, blocks to paragraphs,
// entities decoded, unclosed tags and stray '<' / '&' tolerated, <pre> spacing kept.
#include <QFile>
#include <QTest>

#include "htmltokenizer.h"
#include "htmltotext.h"
#include "ingesttestutil.h"

using Ingest::HtmlToText;

class TstHtmlToText : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void sampleDocument()
    {
        QFile f(documentFixture("sample.html"));
        QVERIFY(f.open(QIODevice::ReadOnly));
        const HtmlToText::Result r = HtmlToText::convert(QString::fromUtf8(f.readAll()));
        QCOMPARE(r.title, QStringLiteral("Sample & Test"));
        QStringList texts;
        for (const auto& b : r.blocks)
            texts.append(b.text);
        const QStringList expected = {
            QStringLiteral("First Heading"),
            QStringLiteral("A paragraph with bold and an entity: café & crème — done."),
            QStringLiteral("An unclosed paragraph, a stray < sign and a bare & ampersand."),
            QStringLiteral("Line one\nLine two"),
            QStringLiteral("Second Heading"),
            QStringLiteral("Item one"),
            QStringLiteral("Item two"),
            QStringLiteral("  keep   this\n    spacing"),
        };
        QCOMPARE(texts, expected);
        QCOMPARE(r.blocks[0].headingLevel, 1);
        QCOMPARE(r.blocks[4].headingLevel, 2);
        QCOMPARE(r.blocks[1].headingLevel, 0);
        const QString plain = HtmlToText::toPlainText(r);
        QVERIFY(!plain.contains(QStringLiteral("not text")));
        QVERIFY(!plain.contains(QStringLiteral("color")));
        QVERIFY(!plain.contains(QStringLiteral("comment")));
    }

    void entities_data()
    {
        QTest::addColumn<QString>("in");
        QTest::addColumn<QString>("out");
        QTest::newRow("named") << "a &amp; b &lt;c&gt;" << "a & b <c>";
        QTest::newRow("numeric") << "&#233;&#xE9;&#XE9;" << "ééé";
        QTest::newRow("astral") << "&#x1F600;" << QString::fromUcs4(U"\U0001F600", 1);
        QTest::newRow("unknown kept") << "&bogus; & &;" << "&bogus; & &;";
        QTest::newRow("invalid code point") << "&#xD800;&#0;" << "\uFFFD\uFFFD";
        QTest::newRow("unterminated") << "AT&T rocks" << "AT&T rocks";
    }
    void entities()
    {
        QFETCH(QString, in);
        QFETCH(QString, out);
        QCOMPARE(Ingest::HtmlTokenizer::decodeEntities(in), out);
    }

    void tolerantOfBrokenMarkup_data()
    {
        QTest::addColumn<QString>("html");
        QTest::addColumn<QString>("text");
        QTest::newRow("unterminated tag") << "<p>one<p>two <b" << "one\n\ntwo";
        QTest::newRow("unterminated comment") << "<p>one<!-- never closed" << "one";
        QTest::newRow("unterminated script") << "<p>one</p><script>x < y" << "one";
        QTest::newRow("self-closing script") << "<script/><p>one</p>" << "one";
        QTest::newRow("quoted >") << "<p title=\"a>b\">one</p>" << "one";
        QTest::newRow("uppercase") << "<P>one<BR>two</P><SCRIPT>x</SCRIPT>" << "one\ntwo";
        QTest::newRow("cdata") << "<p><![CDATA[a < b]]></p>" << "a < b";
        QTest::newRow("nbsp and soft hyphen") << "<p>a&nbsp;&nbsp;b hy&shy;phen</p>" << "a b hyphen";
        QTest::newRow("empty") << "" << "";
        QTest::newRow("only <") << "<" << "<";
    }
    void tolerantOfBrokenMarkup()
    {
        QFETCH(QString, html);
        QFETCH(QString, text);
        QCOMPARE(HtmlToText::toPlainText(HtmlToText::convert(html)), text);
    }
};

QTEST_GUILESS_MAIN(TstHtmlToText)
#include "tst_htmltotext.moc"
