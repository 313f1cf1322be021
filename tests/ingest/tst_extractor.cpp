// Extractor: format chosen by content (not by name), text pages at form feeds, HTML and
// Markdown, and the errors for directories, missing, empty, binary and non-EPUB zip files.
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include "extractor.h"
#include "ingesttestutil.h"
#include "locationmap.h"

using Ingest::ExtractedDocument;
using Ingest::Extractor;
using Ingest::LocationMap;
using Ingest::PageInfo;

class TstExtractor : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void sniffsByContent()
    {
        // A PDF named .txt is still read as a PDF.
        QTemporaryDir dir;
        const QString renamed = dir.filePath(QStringLiteral("not-really.txt"));
        QVERIFY(QFile::copy(documentFixture("layout-two-column.pdf"), renamed));
        auto doc = Extractor::extractFile(renamed);
        QVERIFY(doc);
        QCOMPARE(doc->format, ExtractedDocument::Format::Pdf);
        QCOMPARE(Extractor::sniff("%PDF-1.7\n"), Extractor::Kind::Pdf);
        QCOMPARE(Extractor::sniff("PK\x03\x04"), Extractor::Kind::Zip);
        QCOMPARE(Extractor::sniff("hello"), Extractor::Kind::Text);
    }

    // What ingest keeps with a source: the map survives serialization, and byte ranges of the
    // text are described by the pages (labels) or chapters they touch.
    void locationMapRoundTrip()
    {
        auto pdf = Extractor::extractFile(documentFixture("layout-running-headers.pdf"));
        QVERIFY(pdf);
        const LocationMap map = LocationMap::fromDocument(*pdf);
        auto back = LocationMap::parse(map.serialize());
        QVERIFY(back);
        QCOMPARE(back->format, ExtractedDocument::Format::Pdf);
        QCOMPARE(back->textBytes, pdf->text.size());
        QCOMPARE(back->pages.size(), pdf->pages.size());
        QCOMPARE(back->spans.size(), pdf->map.size());
        for (int i = 0; i < pdf->pages.size(); ++i) {
            QCOMPARE(back->pages[i].label, pdf->pages[i].label);
            QCOMPARE(back->pages[i].textBegin, pdf->pages[i].textBegin);
            QCOMPARE(back->pages[i].textEnd, pdf->pages[i].textEnd);
        }
        const PageInfo& p2 = pdf->pages[1];
        const PageInfo& p4 = pdf->pages[3];
        QCOMPARE(back->describe(p2.textBegin, p2.textBegin + 1), QStringLiteral("pages 2"));
        QCOMPARE(back->describe(p2.textBegin + 1, p4.textEnd), QStringLiteral("pages 2-4"));
        // The blank line between two pages belongs to neither.
        QCOMPARE(back->describe(p2.textEnd, p2.textEnd + 2), QString());
        QCOMPARE(back->describe(0, pdf->text.size()), QStringLiteral("pages 1-5"));

        auto epub = Extractor::extractFile(documentFixture("book-epub3.epub"));
        QVERIFY(epub);
        auto e = LocationMap::parse(LocationMap::fromDocument(*epub).serialize());
        QVERIFY(e);
        QCOMPARE(e->describe(0, epub->text.size()),
                 QStringLiteral("chapters %1-%2").arg(e->pagesOf(0, 1).first + 1).arg(epub->pages.size()));

        for (const char* bad : {"", "[]", "{\"lectern_location_map\": 2}",
                                "{\"lectern_location_map\": 1, \"format\": \"pdf\", \"text_bytes\": 5, "
                                "\"pages\": [[0, 9, \"1\", 1, 0]]}",
                                // Offsets no integer type holds (fuzz_ingest: a cast of 2.2e109
                                // was undefined), and a heading outside the text.
                                "{\"lectern_location_map\": 1, \"format\": \"pdf\", \"text_bytes\": 60, "
                                "\"pages\": [[0, 20, \"i\", 1, 0], [2.2e109, 40, \"1\", 1, 0]]}",
                                "{\"lectern_location_map\": 1, \"format\": \"pdf\", \"text_bytes\": 1e300, "
                                "\"pages\": []}",
                                "{\"lectern_location_map\": 1, \"format\": \"pdf\", \"text_bytes\": 60, "
                                "\"pages\": [], \"spans\": [[-1e30, 5, 0, 0, 0, 1, 1]]}",
                                "{\"lectern_location_map\": 1, \"format\": \"pdf\", \"text_bytes\": 60, "
                                "\"pages\": [], \"headings\": [[1e200, 1, 0, \"H\"]]}"})
            QVERIFY2(!LocationMap::parse(QByteArray(bad)), bad);
    }

    void formFeedPages()
    {
        auto doc = Extractor::extractFile(documentFixture("form-feed.txt"));
        QVERIFY(doc);
        checkInvariants(*doc);
        QCOMPARE(doc->pages.size(), 3);
        QCOMPARE(doc->textOf(doc->pages[0]), QStringLiteral("Page one text.\n\nSecond paragraph."));
        QCOMPARE(doc->textOf(doc->pages[1]), QStringLiteral("Page two text."));
        QCOMPARE(doc->textOf(doc->pages[2]), QStringLiteral("Page three."));
        QCOMPARE(doc->map.size(), 4);
        QCOMPARE(doc->map[2].page, 1);
    }

    void htmlAndMarkdown()
    {
        auto html = Extractor::extractFile(documentFixture("sample.html"));
        QVERIFY(html);
        checkInvariants(*html);
        QCOMPARE(html->format, ExtractedDocument::Format::Html);
        QCOMPARE(html->title, QStringLiteral("Sample & Test"));
        QVERIFY(html->text.startsWith("First Heading\n\nA paragraph with bold"));
        QCOMPARE(html->headings.size(), 2);
        QCOMPARE(html->headings[1].text, QStringLiteral("Second Heading"));

        auto md = Extractor::extractFile(documentFixture("book.md"));
        QVERIFY(md);
        QCOMPARE(md->format, ExtractedDocument::Format::Text);
        QVERIFY(md->text.contains("# The Storm\n\nOn the third night"));  // kept as written
    }

    void encodingsThroughExtractor()
    {
        auto doc = Extractor::extractFile(documentFixture("shift-jis.txt"));
        QVERIFY(doc);
        QCOMPARE(doc->encoding, QStringLiteral("Shift_JIS"));
        QVERIFY(QString::fromUtf8(doc->text).startsWith(QStringLiteral("吾輩は猫である。")));
        checkInvariants(*doc);
        auto bad = Extractor::extractFile(documentFixture("invalid-utf8.txt"));
        QVERIFY(bad);
        QCOMPARE(bad->warnings.size(), 1);
        QVERIFY(bad->text.contains("\xEF\xBF\xBD"));
    }

    void errors_data()
    {
        QTest::addColumn<QString>("path");
        QTest::addColumn<QString>("message");
        QTest::newRow("directory") << QStringLiteral(LECTERN_TEST_DATA_DIR "/documents")
                                   << "is a directory, not a document";
#ifdef Q_OS_UNIX
        QTest::newRow("device") << QStringLiteral("/dev/zero") << "not a regular file";
#endif
        QTest::newRow("missing") << documentFixture("no-such-file.pdf") << "no such file";
        QTest::newRow("empty") << documentFixture("empty.txt") << "the file is empty";
        QTest::newRow("binary") << documentFixture("binary.dat") << "binary data";
        QTest::newRow("plain zip") << documentFixture("not-an-epub.zip") << "not an EPUB";
        QTest::newRow("zip bomb") << documentFixture("zip-bomb.epub") << "zip bomb";
        QTest::newRow("no opf") << documentFixture("no-opf.epub") << "no OPF";
        QTest::newRow("encrypted") << documentFixture("encrypted.pdf") << "--password";
    }
    void errors()
    {
        QFETCH(QString, path);
        QFETCH(QString, message);
        auto doc = Extractor::extractFile(path);
        QVERIFY(!doc);
        const QString error = QString::fromStdString(doc.error().message);
        QVERIFY2(error.contains(message) && error.startsWith(path) && !error.contains(u'\n'),
                 qPrintable(error));
    }
};

QTEST_GUILESS_MAIN(TstExtractor)
#include "tst_extractor.moc"
