// PdfLayout on synthetic words (no PDF needed): line grouping, gutter detection and column
// order, paragraphs, hyphenation repair, ligatures, header/footer footprints.
#include <QTest>

#include "ingesttestutil.h"
#include "pdflayout.h"

using Ingest::PdfLayout;
using Ingest::PdfLine;
using Ingest::PdfPiece;
using Ingest::PdfWord;

namespace {

// Words of `text` on one line at (x, y), 10 pt high, 5 pt per character, 3 pt between words.
QVector<PdfWord> line(const QString& text, double x, double y)
{
    QVector<PdfWord> out;
    for (const QString& w : text.split(u' ', Qt::SkipEmptyParts)) {
        out.append(PdfWord{w, QRectF(x, y, 5.0 * w.size(), 10), true});
        x += 5.0 * w.size() + 3;
    }
    return out;
}

QString join(const QVector<PdfPiece>& pieces)
{
    QString out;
    for (const PdfPiece& p : pieces)
        out += p.separator + p.text;
    return out;
}

}  // namespace

class TstPdfLayout : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void ligatures()
    {
        QCOMPARE(PdfLayout::expandLigatures(QStringLiteral("\uFB01nd \uFB02ow o\uFB03ce \uFB00 \uFB04 \uFB06")),
                 QStringLiteral("find flow office ff ffl st"));
        // Only the ligatures: other compatibility characters stay (NFKC would fold these).
        QCOMPARE(PdfLayout::expandLigatures(QStringLiteral("x\u00B2 \u2126 \uFB01")),
                 QStringLiteral("x\u00B2 \u2126 fi"));
    }

    void hyphenation_data()
    {
        QTest::addColumn<QString>("first");
        QTest::addColumn<QString>("second");
        QTest::addColumn<QString>("joined");
        QTest::newRow("broken word") << "a docu-" << "ment here" << "a document here";
        QTest::newRow("soft hyphen") << "a docu\u00AD" << "Ment" << "a docuMent";
        QTest::newRow("capital continuation") << "by Jean-" << "Paul Sartre" << "by Jean-Paul Sartre";
        QTest::newRow("dash after space") << "wait -" << "then go" << "wait - then go";
        QTest::newRow("mid-line hyphen") << "a well-known" << "approach" << "a well-known approach";
        QTest::newRow("plain") << "one line" << "and another" << "one line and another";
    }
    void hyphenation()
    {
        QFETCH(QString, first);
        QFETCH(QString, second);
        QFETCH(QString, joined);
        QVector<PdfWord> words = line(first, 72, 100) + line(second, 72, 112);
        const QVector<PdfLine> lines = PdfLayout::readingOrder(words, QSizeF(612, 792));
        QCOMPARE(lines.size(), 2);
        QCOMPARE(join(PdfLayout::paragraphs(lines)), joined);
    }

    void paragraphBreaks()
    {
        // Same column: a larger gap, and a short line ending a sentence, both start paragraphs.
        QVector<PdfWord> words = line(QStringLiteral("first paragraph line one goes on and on"), 72, 100) +
                                 line(QStringLiteral("ends here."), 72, 112) +
                                 line(QStringLiteral("second paragraph after a short line"), 72, 124) +
                                 line(QStringLiteral("third after a gap"), 72, 150);
        const QString text = join(PdfLayout::paragraphs(PdfLayout::readingOrder(words, QSizeF(612, 792))));
        QCOMPARE(text, QStringLiteral("first paragraph line one goes on and on ends here.\n\n"
                                      "second paragraph after a short line\n\nthird after a gap"));
    }

    void listsAndTableOfContents()
    {
        // Same spacing as body text, yet each bullet and each leader-dotted entry is its own line.
        QVector<PdfWord> words = line(QStringLiteral("Supported types:"), 72, 100) +
                                 line(QStringLiteral("\u2022 INTEGER;"), 72, 112) +
                                 line(QStringLiteral("\u2022 BOOLEAN."), 72, 124) +
                                 line(QStringLiteral("1 Introduction . . . . . . . . 1"), 72, 200) +
                                 line(QStringLiteral("2 Structures.......... 2"), 72, 212);
        const QString text = join(PdfLayout::paragraphs(PdfLayout::readingOrder(words, QSizeF(612, 792))));
        QCOMPARE(text, QStringLiteral("Supported types:\n\n\u2022 INTEGER;\n\u2022 BOOLEAN.\n\n"
                                      "1 Introduction \u2026 1\n2 Structures \u2026 2"));
    }

    void twoColumnsReadColumnByColumn()
    {
        QVector<PdfWord> words = line(QStringLiteral("A Title Across The Whole Page Width Here"), 150, 60);
        for (int i = 0; i < 10; ++i) {
            words += line(QStringLiteral("left%1 aa bb cc dd ee ff").arg(i), 72, 100 + 12 * i);
            words += line(QStringLiteral("right%1 gg hh ii jj kk ll").arg(i), 330, 100 + 12 * i);
        }
        words += line(QStringLiteral("A closing line that spans both columns again"), 150, 300);
        double l = 0, r = 0;
        QVERIFY(PdfLayout::findGutter(words, QSizeF(612, 792), &l, &r));
        QVERIFY2(l >= 180 && r <= 330 && r - l >= 8, qPrintable(QStringLiteral("%1..%2").arg(l).arg(r)));
        bool two = false;
        const QVector<PdfLine> lines = PdfLayout::readingOrder(words, QSizeF(612, 792), &two);
        QVERIFY(two);
        QStringList order;
        for (const PdfLine& pl : lines)
            order.append(pl.text.section(u' ', 0, 0));
        QStringList expected{QStringLiteral("A")};
        for (int i = 0; i < 10; ++i) expected.append(QStringLiteral("left%1").arg(i));
        for (int i = 0; i < 10; ++i) expected.append(QStringLiteral("right%1").arg(i));
        expected.append(QStringLiteral("A"));
        QCOMPARE(order, expected);
        QCOMPARE(lines.first().text, QStringLiteral("A Title Across The Whole Page Width Here"));
    }

    void singleColumnHasNoGutter()
    {
        QVector<PdfWord> words;
        for (int i = 0; i < 20; ++i)
            words += line(QStringLiteral("justified text with words at shifting places %1 xx").arg(i * 7),
                          72 + (i % 3) * 7, 100 + 12 * i);
        double l = 0, r = 0;
        QVERIFY(!PdfLayout::findGutter(words, QSizeF(612, 792), &l, &r));
    }

    void bands()
    {
        QVector<PdfWord> words = line(QStringLiteral("Running Header"), 72, 30) +
                                 line(QStringLiteral("body text"), 72, 300) +
                                 line(QStringLiteral("Page 3 of 9"), 280, 760);
        const QVector<PdfLine> lines = PdfLayout::readingOrder(words, QSizeF(612, 792));
        QCOMPARE(lines.size(), 3);
        QVERIFY(lines[0].inTopBand && !lines[0].inBottomBand);
        QVERIFY(!lines[1].inTopBand && !lines[1].inBottomBand);
        QVERIFY(lines[2].inBottomBand);
    }

    void footprints()
    {
        QCOMPARE(PdfLayout::footprint(QStringLiteral("Page 12 of  30")), QStringLiteral("page # of #"));
        QCOMPARE(PdfLayout::footprint(QStringLiteral("Chapter 2: Setup 17")),
                 PdfLayout::footprint(QStringLiteral("chapter 2: setup 18")));
        for (const char* s : {"12", "- 12 -", "Page 3", "iv", "[7]", "3 / 10"})
            QVERIFY2(PdfLayout::isPageNumber(QString::fromLatin1(s)), s);
        for (const char* s : {"12 Monkeys", "Chapter 3", "vivid", ""})
            QVERIFY2(!PdfLayout::isPageNumber(QString::fromLatin1(s)), s);
    }

    void emptyPage()
    {
        QVERIFY(PdfLayout::readingOrder({}, QSizeF(612, 792)).isEmpty());
        QVERIFY(PdfLayout::paragraphs({}).isEmpty());
    }
};

QTEST_GUILESS_MAIN(TstPdfLayout)
#include "tst_pdflayout.moc"
