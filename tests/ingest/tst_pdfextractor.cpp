// PdfExtractor on generated PDFs with known text (columns, running headers, hyphenation,
// ligatures, pages without text), encrypted and broken PDFs, and real PDFs from Debian
// documentation checked against poppler-utils (pdfinfo page counts, pdftotext words).
#include <QProcess>
#include <QStandardPaths>
#include <QTest>

#include "extractor.h"
#include "ingesttestutil.h"
#include "pageocr.h"
#include "pdfextractor.h"

using Ingest::ExtractedDocument;
using Ingest::PdfExtractor;

class TstPdfExtractor : public QObject {
    Q_OBJECT

    static ExtractedDocument extractOk(const char* name, const QByteArray& password = {})
    {
        Ingest::ExtractOptions options;
        options.password = password;
        auto doc = PdfExtractor::extract(documentFixture(name), options);
        if (!doc)
            qWarning("%s: %s", name, doc.error().message.c_str());
        return doc ? std::move(*doc) : ExtractedDocument{};
    }

    static QString run(const QString& program, const QStringList& args)
    {
        QProcess p;
        p.start(program, args);
        p.waitForFinished(60000);
        return QString::fromUtf8(p.readAllStandardOutput());
    }

private Q_SLOTS:
    void twoColumnReadingOrder()
    {
        const ExtractedDocument doc = extractOk("layout-two-column.pdf");
        checkInvariants(doc);
        QCOMPARE(doc.pages.size(), 1);
        QCOMPARE(QString::fromUtf8(doc.text),
                 QStringLiteral(
                     "A Two Column Study of Reading\n\n"
                     "The left column opens the study. Every line here belongs to the first column "
                     "and must be read before the right one. A reader that goes across the page "
                     "would mix the two columns line by line.\n\n"
                     "The second paragraph of the left column ends the left side of the page here.\n\n"
                     "The right column continues the study. Its lines come after all of the left "
                     "column in the extracted reading order. Gutter detection keeps them together.\n\n"
                     "This final paragraph closes the page and the right column with it."));
    }

    void runningHeadersHyphenationLigatures()
    {
        const ExtractedDocument doc = extractOk("layout-running-headers.pdf");
        checkInvariants(doc);
        QCOMPARE(doc.pages.size(), 5);
        QCOMPARE(doc.title, QStringLiteral("Lectern test fixture"));
        const QString text = QString::fromUtf8(doc.text);
        QVERIFY2(!text.contains(QStringLiteral("Lectern Test Manual")), qPrintable(text.left(200)));
        QVERIFY(!text.contains(QStringLiteral("Page ")));
        QVERIFY(!text.contains(QChar(0xFB01)) && !text.contains(QChar(0xFB02)));
        QCOMPARE(doc.textOf(doc.pages[2]),
                 QStringLiteral("Chapter 3 of the manual explains how a document is read once and "
                                "answered from later. The well-known approach keeps the state on "
                                "disk so a question can find the passage and its page.\n\n"
                                "A second paragraph shows the flow of text from one line to the "
                                "next, written by Jean-Paul Sartre's admirers, and it ends here."));
        QCOMPARE(doc.pages[0].size, QSizeF(612, 792));
        QCOMPARE(doc.pages[4].label, QStringLiteral("5"));
    }

    void spansCarryPageAndRectangle()
    {
        const ExtractedDocument doc = extractOk("layout-running-headers.pdf");
        QVERIFY(!doc.map.isEmpty());
        // The first body line: baseline at y=690 from the bottom, so about 100 pt from the top.
        const Ingest::TextSpan& first = doc.map.first();
        QCOMPARE(first.page, 0);
        QVERIFY(QString::fromUtf8(doc.text.mid(first.begin, first.end - first.begin))
                    .startsWith(QStringLiteral("Chapter 1 of the manual")));
        QVERIFY2(first.rect.top() > 85 && first.rect.bottom() < 110 && std::abs(first.rect.left() - 72) < 1,
                 qPrintable(QStringLiteral("%1 %2 %3").arg(first.rect.left()).arg(first.rect.top()).arg(first.rect.bottom())));
        // Every later page's spans point at that page.
        for (const Ingest::TextSpan& s : doc.map)
            QVERIFY(s.page == 0 || doc.text.mid(s.begin, 9) != "Chapter 1");
        QCOMPARE(doc.map.last().page, 4);
    }

    void pagesWithoutText()
    {
        const ExtractedDocument doc = extractOk("no-text-layer.pdf");
        checkInvariants(doc);
        QCOMPARE(doc.pages.size(), 3);
        QVERIFY(doc.pages[0].hasTextLayer);
        QVERIFY(!doc.pages[1].hasTextLayer);
        QVERIFY(!doc.pages[2].hasTextLayer);
        QVERIFY2(doc.pages[1].warnings.value(0).contains(QStringLiteral("page 2 has no text layer")),
                 qPrintable(doc.pages[1].warnings.join(u';')));
        QVERIFY(doc.pages[2].warnings.value(0).contains(QStringLiteral("page 3 is empty")));
        QCOMPARE(doc.warnings.size(), 2);
        QVERIFY(doc.textOf(doc.pages[0]).startsWith(QStringLiteral("This page has a text layer.")));
    }

    void ocrOfScannedPage()
    {
        // Without --ocr: reported, no text.
        const ExtractedDocument plain = extractOk("scanned.pdf");
        QCOMPARE(plain.pages.size(), 1);
        QVERIFY(!plain.pages[0].hasTextLayer && !plain.pages[0].ocr);
        QVERIFY(plain.warnings.value(0).contains(QStringLiteral("try --ocr")));
        QVERIFY(plain.text.isEmpty());
        if (!Ingest::PageOcr::available())
            QSKIP("built without Tesseract");
        Ingest::ExtractOptions options;
        options.ocr = true;
        auto doc = PdfExtractor::extract(documentFixture("scanned.pdf"), options);
        QVERIFY2(doc, doc ? "" : doc.error().message.c_str());
        checkInvariants(*doc);
        QVERIFY(doc->pages[0].ocr);
        QVERIFY2(doc->warnings.isEmpty(), qPrintable(doc->warnings.join(u';')));
        // The scan is page 1 of layout-running-headers.pdf at 150 dpi: OCR must give back at
        // least 90% of its words in order (the header and footer stay: one page, no repetition).
        const QStringList expected = normalisedWords(extractOk("layout-running-headers.pdf").textOf(
            extractOk("layout-running-headers.pdf").pages[0]));
        const QStringList got = normalisedWords(QString::fromUtf8(doc->text));
        const int common = lcsLength(expected, got);
        qInfo("OCR: %d of %lld words", common, qint64(expected.size()));
        QVERIFY(common >= 0.9 * expected.size());
        QVERIFY(doc->text.contains("document"));
        // Spans carry OCR boxes in points, inside the page.
        for (const Ingest::TextSpan& s : doc->map)
            QVERIFY(QRectF(QPointF(0, 0), doc->pages[0].size).contains(s.rect));
    }

    void encrypted()
    {
        auto none = PdfExtractor::extract(documentFixture("encrypted.pdf"), {});
        QVERIFY(!none);
        QCOMPARE(QString::fromStdString(none.error().message),
                 QStringLiteral("the PDF is encrypted; give its password (--password)"));
        Ingest::ExtractOptions wrong;
        wrong.password = "nope";
        auto bad = PdfExtractor::extract(documentFixture("encrypted.pdf"), wrong);
        QVERIFY(!bad);
        QVERIFY(QString::fromStdString(bad.error().message).contains(QStringLiteral("password is wrong")));
        const ExtractedDocument doc = extractOk("encrypted.pdf", "secret");
        QCOMPARE(doc.pages.size(), 5);
        QVERIFY(doc.text.contains("a document is read once"));
    }

    void broken_data()
    {
        QTest::addColumn<QString>("file");
        QTest::newRow("truncated") << "truncated.pdf";
        QTest::newRow("garbage") << "garbage.pdf";
        QTest::newRow("zero pages") << "zero-pages.pdf";
    }
    void broken()
    {
        // A clear error, or a partial result that says what went wrong; never a crash.
        QFETCH(QString, file);
        auto doc = Ingest::Extractor::extractFile(documentFixture(file.toLatin1().constData()));
        if (doc) {
            checkInvariants(*doc);
            QVERIFY2(!doc->warnings.isEmpty(), "a damaged PDF must come with a warning");
        } else {
            QVERIFY(!doc.error().message.empty());
            QVERIFY(doc.error().message.find('\n') == std::string::npos);
            QVERIFY(QString::fromStdString(doc.error().message).contains(file));
        }
    }

    void brokenXrefIsRebuiltWithWarning()
    {
        const ExtractedDocument doc = extractOk("broken-xref.pdf");
        checkInvariants(doc);
        QCOMPARE(doc.pages.size(), 5);
        QVERIFY(doc.text.contains("a document is read once"));
        QCOMPARE(doc.warnings.size(), 1);
        QVERIFY2(doc.warnings.first().startsWith(QStringLiteral("the PDF has structural errors")) &&
                     !doc.warnings.first().contains(QStringLiteral("<0a>")),
                 qPrintable(doc.warnings.first()));
    }

    void fromMemoryMatchesFile()
    {
        QFile f(documentFixture("layout-two-column.pdf"));
        QVERIFY(f.open(QIODevice::ReadOnly));
        auto mem = PdfExtractor::extractData(f.readAll(), {});
        QVERIFY(mem);
        QCOMPARE(mem->text, extractOk("layout-two-column.pdf").text);
    }

    // Pages read by several threads (each with its own Poppler::Document) give exactly the
    // text, map and pages of one thread.
    void threadsDoNotChangeTheResult()
    {
        for (const char* name : {"real-libtasn1.pdf", "real-shared-mime-info-spec.pdf",
                                 "no-text-layer.pdf"}) {
            Ingest::ExtractOptions one;
            one.threads = 1;
            Ingest::ExtractOptions many;
            many.threads = 4;
            auto a = PdfExtractor::extract(documentFixture(name), one);
            auto b = PdfExtractor::extract(documentFixture(name), many);
            QVERIFY(a && b);
            QCOMPARE(a->text, b->text);
            QCOMPARE(a->map.size(), b->map.size());
            for (int i = 0; i < a->map.size(); ++i) {
                QCOMPARE(a->map[i].begin, b->map[i].begin);
                QCOMPARE(a->map[i].page, b->map[i].page);
                QCOMPARE(a->map[i].rect, b->map[i].rect);
            }
            QCOMPARE(a->pages.size(), b->pages.size());
            for (int i = 0; i < a->pages.size(); ++i) {
                QCOMPARE(a->pages[i].label, b->pages[i].label);
                QCOMPARE(a->pages[i].textBegin, b->pages[i].textBegin);
                QCOMPARE(a->pages[i].warnings, b->pages[i].warnings);
            }
            QCOMPARE(a->warnings, b->warnings);
        }
    }

    // Against poppler-utils. Words are compared after lower-casing and dropping punctuation;
    // the longest common subsequence of the two word lists must cover >= 90% of pdftotext's
    // words (we drop running headers and page numbers, which pdftotext keeps) and >= 95% of ours
    // (we must not invent or reorder text).
    void realPdfs_data()
    {
        QTest::addColumn<QString>("file");
        QTest::newRow("libtasn1") << "real-libtasn1.pdf";
        QTest::newRow("shared-mime-info") << "real-shared-mime-info-spec.pdf";
    }
    void realPdfs()
    {
        QFETCH(QString, file);
        const QString pdfinfo = QStandardPaths::findExecutable(QStringLiteral("pdfinfo"));
        const QString pdftotext = QStandardPaths::findExecutable(QStringLiteral("pdftotext"));
        if (pdfinfo.isEmpty() || pdftotext.isEmpty())
            QSKIP("poppler-utils (pdfinfo, pdftotext) not installed");
        const QString path = documentFixture(file.toLatin1().constData());
        const ExtractedDocument doc = extractOk(file.toLatin1().constData());
        checkInvariants(doc);

        const QString info = run(pdfinfo, {path});
        const QRegularExpressionMatch m =
            QRegularExpression(QStringLiteral("Pages:\\s+(\\d+)")).match(info);
        QVERIFY(m.hasMatch());
        QCOMPARE(doc.pages.size(), m.captured(1).toInt());

        const QStringList reference = run(pdftotext, {path, QStringLiteral("-")}).split(u'\f');
        QStringList refWords, ourWords;
        int weakPages = 0;
        for (int i = 0; i < doc.pages.size(); ++i) {
            const QStringList r = normalisedWords(reference.value(i));
            const QStringList o = normalisedWords(doc.textOf(doc.pages[i]));
            refWords += r;
            ourWords += o;
            if (r.size() >= 30 && lcsLength(r, o) < 0.8 * r.size())
                ++weakPages;
        }
        const int common = lcsLength(refWords, ourWords);
        const double recall = double(common) / refWords.size();
        const double precision = double(common) / ourWords.size();
        qInfo("%s: %lld reference words, %lld ours, recall %.3f, precision %.3f, weak pages %d",
              qPrintable(file), qint64(refWords.size()), qint64(ourWords.size()), recall, precision,
              weakPages);
        QVERIFY(recall >= 0.90);
        QVERIFY(precision >= 0.95);
        QCOMPARE(weakPages, 0);
    }
};

QTEST_GUILESS_MAIN(TstPdfExtractor)
#include "tst_pdfextractor.moc"
