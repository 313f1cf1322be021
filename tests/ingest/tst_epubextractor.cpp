// EpubExtractor: spine order, chapter titles from nav.xhtml (EPUB 3) and toc.ncx (EPUB 2),
// headings as chapter marks, and hostile archives (no OPF, zip bomb, path traversal).
#include <QFile>
#include <QTest>

#include "epubextractor.h"
#include "extractor.h"
#include "ingesttestutil.h"

using Ingest::ExtractedDocument;

class TstEpubExtractor : public QObject {
    Q_OBJECT

    static QByteArray read(const char* name)
    {
        QFile f(documentFixture(name));
        return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
    }

private Q_SLOTS:
    void spineAndChapterTitles_data()
    {
        QTest::addColumn<QString>("file");
        QTest::newRow("epub3 nav") << "book-epub3.epub";
        QTest::newRow("epub2 ncx") << "book-epub2.epub";
    }
    void spineAndChapterTitles()
    {
        QFETCH(QString, file);
        auto result = Ingest::Extractor::extractFile(documentFixture(file.toLatin1().constData()));
        QVERIFY2(result, result ? "" : result.error().message.c_str());
        const ExtractedDocument& doc = *result;
        checkInvariants(doc);
        QCOMPARE(doc.format, ExtractedDocument::Format::Epub);
        QCOMPARE(doc.title, QStringLiteral("The Lighthouse Keeper"));
        // pandoc's spine: the title page, then one XHTML file per chapter.
        QCOMPARE(doc.pages.size(), 4);
        QCOMPARE(doc.pages[1].label, QStringLiteral("The Arrival"));
        QCOMPARE(doc.pages[2].label, QStringLiteral("The Storm"));
        QCOMPARE(doc.pages[3].label, QStringLiteral("The Letter"));
        QVERIFY(doc.textOf(doc.pages[1]).startsWith(QStringLiteral("The Arrival\n\nMr. Smith arrived")));
        QVERIFY(doc.textOf(doc.pages[3]).endsWith(QStringLiteral("climbed the stairs to the lamp.")));
        const QString text = QString::fromUtf8(doc.text);
        QVERIFY(text.indexOf(QStringLiteral("grey morning")) < text.indexOf(QStringLiteral("third night")));
        QVERIFY(text.indexOf(QStringLiteral("third night")) < text.indexOf(QStringLiteral("supply boat")));
        // Hard-wrapped Markdown lines are one paragraph in the XHTML, hence in the text.
        QVERIFY(text.contains(QStringLiteral("Mrs. Hale, had been waiting")));
        // Headings are chapter marks pointing at their text.
        QStringList headings;
        for (const Ingest::Heading& h : doc.headings) {
            if (h.level == 1) headings.append(h.text);
            QCOMPARE(QString::fromUtf8(doc.text.mid(h.offset, h.text.toUtf8().size())), h.text);
        }
        QVERIFY(headings.contains(QStringLiteral("The Storm")));
        for (const Ingest::TextSpan& s : doc.map)
            QVERIFY(s.rect.isNull());
        QVERIFY2(doc.warnings.isEmpty(), qPrintable(doc.warnings.join(u';')));
    }

    void utf16ChapterWithoutMimetype()
    {
        // No "mimetype" entry: sniffed as a plain zip, still read as an EPUB by its container.
        auto doc = Ingest::Extractor::extractFile(documentFixture("utf16-chapter.epub"));
        QVERIFY2(doc, doc ? "" : doc.error().message.c_str());
        checkInvariants(*doc);
        QCOMPARE(QString::fromUtf8(doc->text), QStringLiteral("Über\n\nGrüße, café."));
        QCOMPARE(doc->pages[0].label, QStringLiteral("Über"));
    }

    void noOpf()
    {
        auto doc = Ingest::EpubExtractor::extract(read("no-opf.epub"), {});
        QVERIFY(!doc);
        QVERIFY2(QString::fromStdString(doc.error().message).contains(QStringLiteral("no OPF package")),
                 doc.error().message.c_str());
    }

    void zipBomb()
    {
        auto doc = Ingest::EpubExtractor::extract(read("zip-bomb.epub"), {});
        QVERIFY(!doc);
        QVERIFY2(QString::fromStdString(doc.error().message).contains(QStringLiteral("zip bomb")),
                 doc.error().message.c_str());
        // A lower total limit trips on an ordinary book too, with the same clear error.
        Ingest::ExtractOptions tight;
        tight.maxTotalBytes = 2000;
        auto small = Ingest::EpubExtractor::extract(read("book-epub3.epub"), tight);
        QVERIFY(!small);
        QVERIFY(QString::fromStdString(small.error().message).contains(QStringLiteral("over the limits")));
    }

    void pathTraversalIgnored()
    {
        auto doc = Ingest::EpubExtractor::extract(read("path-traversal.epub"), {});
        QVERIFY2(doc, doc ? "" : doc.error().message.c_str());
        QCOMPARE(doc->pages.size(), 1);
        QCOMPARE(doc->pages[0].label, QStringLiteral("Only"));
        QVERIFY(!doc->text.contains("outside"));
        QVERIFY(doc->warnings.join(u';').contains(QStringLiteral("spine item 'evil' is missing")));
    }

    void garbageZip()
    {
        QByteArray bytes = read("book-epub3.epub");
        QVERIFY(!bytes.isEmpty());
        // Truncated: the central directory is gone.
        auto cut = Ingest::Extractor::extractBytes(bytes.left(bytes.size() / 2), {});
        QVERIFY(!cut);
        QVERIFY(QString::fromStdString(cut.error().message).contains(QStringLiteral("zip")));
        // Corrupt compressed data in place (past the stored mimetype and container).
        for (qsizetype i = bytes.size() / 3; i < bytes.size() / 3 + 200; ++i)
            bytes[i] = char(bytes[i] ^ 0x5A);
        auto corrupt = Ingest::Extractor::extractBytes(bytes, {});
        if (corrupt)
            checkInvariants(*corrupt);
        else
            QVERIFY(!corrupt.error().message.empty());
    }
};

QTEST_GUILESS_MAIN(TstEpubExtractor)
#include "tst_epubextractor.moc"
