// PDF words through Poppler's core text API (PdfCoreText) against poppler-qt6's textList(), and
// whole documents extracted both ways: the fast path must change nothing (text, map, pages,
// labels, warnings, errors) on every PDF fixture, whole or broken, in one thread or several.
#include <QFile>
#include <QTest>

#include <poppler-qt6.h>

#include "ingesttestutil.h"
#include "pdfcoretext.h"
#include "pdfextractor.h"

using Ingest::ExtractedDocument;
using Ingest::PdfCoreText;
using Ingest::PdfExtractor;

namespace {

struct Fixture {
    const char* name;
    QByteArray password;
};

// Every PDF in tests/data/documents: readable, scanned, blank, damaged, encrypted, not a PDF.
const Fixture kFixtures[] = {
    {"layout-two-column.pdf", {}}, {"layout-running-headers.pdf", {}},
    {"no-text-layer.pdf", {}},     {"scanned.pdf", {}},
    {"real-libtasn1.pdf", {}},     {"real-shared-mime-info-spec.pdf", {}},
    {"broken-xref.pdf", {}},       {"encrypted.pdf", "secret"},
    {"encrypted.pdf", {}},         {"encrypted.pdf", "wrong"},
    {"truncated.pdf", {}},         {"zero-pages.pdf", {}},
    {"garbage.pdf", {}},
};

// A PDF of `pages` pages (Helvetica, page labels "i", "ii", ... on the first three): text with a
// running header and a page number, every 7th page blank and every 11th only a grey square (a
// "scan"), so that several threads meet every kind of page.
QByteArray generatedPdf(int pages)
{
    QList<QByteArray> objects;  // object i + 1
    objects.append(
        "<< /Type /Catalog /Pages 2 0 R /PageLabels << /Nums [0 << /S /r >> 3 << /S /D "
        "/St 1 >>] >> >>");
    objects.append(QByteArray());  // the page tree, written last
    objects.append(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>");
    QByteArray kids;
    for (int p = 0; p < pages; ++p) {
        QByteArray content;
        if (p % 11 == 5) {
            content = "0.3 g 100 200 300 300 re f\n";
        } else if (p % 7 != 3) {
            content = "BT /F1 9 Tf 72 750 Td (Generated Test Document) Tj ET\n";
            for (int l = 0; l < 12; ++l)
                content += QByteArray("BT /F1 11 Tf 72 ") + QByteArray::number(700 - 14 * l) +
                           " Td (Line " + QByteArray::number(l) + " of page " +
                           QByteArray::number(p) + " has some words, a hyphen-) Tj ET\n";
            content += "BT /F1 9 Tf 300 40 Td (" + QByteArray::number(p + 1) + ") Tj ET\n";
        }
        objects.append("<< /Length " + QByteArray::number(content.size()) + " >>\nstream\n" +
                       content + "\nendstream");
        objects.append("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents " +
                       QByteArray::number(objects.size()) +
                       " 0 R /Resources << /Font << /F1 3 0 R >> >> >>");
        kids += QByteArray::number(objects.size()) + " 0 R ";
    }
    objects[1] = "<< /Type /Pages /Kids [" + kids + "] /Count " + QByteArray::number(pages) + " >>";
    QByteArray pdf = "%PDF-1.4\n";
    QList<qsizetype> offsets;
    for (int i = 0; i < objects.size(); ++i) {
        offsets.append(pdf.size());
        pdf += QByteArray::number(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
    }
    const qsizetype xref = pdf.size();
    pdf += "xref\n0 " + QByteArray::number(objects.size() + 1) + "\n0000000000 65535 f \n";
    for (qsizetype o : offsets)
        pdf += QByteArray::number(o).rightJustified(10, '0') + " 00000 n \n";
    pdf += "trailer\n<< /Size " + QByteArray::number(objects.size() + 1) +
           " /Root 1 0 R >>\nstartxref\n" + QByteArray::number(xref) + "\n%%EOF\n";
    return pdf;
}

void compareDocuments(const ExtractedDocument& a, const ExtractedDocument& b)
{
    QCOMPARE(a.title, b.title);
    QCOMPARE(a.text, b.text);
    QCOMPARE(a.warnings, b.warnings);
    QCOMPARE(a.map.size(), b.map.size());
    for (qsizetype i = 0; i < a.map.size(); ++i) {
        QCOMPARE(a.map[i].begin, b.map[i].begin);
        QCOMPARE(a.map[i].end, b.map[i].end);
        QCOMPARE(a.map[i].page, b.map[i].page);
        QCOMPARE(a.map[i].rect, b.map[i].rect);
    }
    QCOMPARE(a.pages.size(), b.pages.size());
    for (qsizetype i = 0; i < a.pages.size(); ++i) {
        QCOMPARE(a.pages[i].label, b.pages[i].label);
        QCOMPARE(a.pages[i].size, b.pages[i].size);
        QCOMPARE(a.pages[i].hasTextLayer, b.pages[i].hasTextLayer);
        QCOMPARE(a.pages[i].ocr, b.pages[i].ocr);
        QCOMPARE(a.pages[i].warnings, b.pages[i].warnings);
        QCOMPARE(a.pages[i].textBegin, b.pages[i].textBegin);
        QCOMPARE(a.pages[i].textEnd, b.pages[i].textEnd);
    }
}

}  // namespace

class TstPdfCoreText : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        // Poppler's messages on the damaged fixtures are expected; keep the log readable.
        Poppler::setDebugErrorFunction([](const QString&, const QVariant&) {}, QVariant());
    }

    // Page by page: the same words (text, box, space after, blank ones included), labels and
    // sizes as poppler-qt6 gives.
    void wordsLabelsAndSizesMatchPopplerQt()
    {
        if (!PdfExtractor::hasCoreTextApi())
            QSKIP("built without Poppler's core text API (LECTERN_POPPLER_CORE=OFF)");
        int pagesCompared = 0;
        for (const Fixture& f : kFixtures) {
            const QString path = documentFixture(f.name);
            // The poppler-qt6 document comes first and stays open (global parameters).
            std::unique_ptr<Poppler::Document> doc =
                Poppler::Document::load(path, f.password, f.password);
            std::unique_ptr<PdfCoreText> core = PdfCoreText::openFile(path, f.password);
            if (!doc || doc->isLocked()) {
                QVERIFY2(!core, f.name);  // what poppler-qt6 cannot open, neither does the core
                continue;
            }
            QVERIFY2(core, f.name);
            QCOMPARE(core->pageCount(), doc->numPages());
            QFile file(path);
            QVERIFY(file.open(QIODevice::ReadOnly));
            const QByteArray bytes = file.readAll();
            std::unique_ptr<PdfCoreText> fromMemory = PdfCoreText::openData(bytes, f.password);
            QVERIFY2(fromMemory, f.name);
            for (int i = 0; i < doc->numPages(); ++i) {
                std::unique_ptr<Poppler::Page> page = doc->page(i);
                QString label;
                QSizeF size;
                QCOMPARE(core->pageInfo(i, &label, &size), bool(page));
                if (!page)
                    continue;
                QCOMPARE(label, page->label());
                QCOMPARE(size, page->pageSizeF());
                const auto boxes = page->textList();
                const QVector<Ingest::PdfWord> words = core->words(i);
                QCOMPARE(words.size(), qsizetype(boxes.size()));
                for (qsizetype w = 0; w < words.size(); ++w) {
                    QCOMPARE(words[w].text, boxes[size_t(w)]->text());
                    QCOMPARE(words[w].box, boxes[size_t(w)]->boundingBox());
                    QCOMPARE(words[w].spaceAfter, boxes[size_t(w)]->hasSpaceAfter());
                }
                const QVector<Ingest::PdfWord> again = fromMemory->words(i);
                QCOMPARE(again.size(), words.size());
                for (qsizetype w = 0; w < words.size(); ++w) QCOMPARE(again[w].text, words[w].text);
                ++pagesCompared;
            }
        }
        QVERIFY(pagesCompared >= 50);
        QVERIFY(!PdfCoreText::openFile(documentFixture("no-such-file.pdf"), {}));
    }

    // A longer generated document (page labels, blank and "scanned" pages, headers) read by
    // several threads: the same through both APIs and for any thread count.
    void generatedDocumentInThreads()
    {
        const QByteArray pdf = generatedPdf(150);
        Ingest::ExtractOptions one;
        one.threads = 1;
        auto reference = PdfExtractor::extractData(pdf, one, PdfExtractor::TextApi::PopplerQt);
        QVERIFY(reference);
        QCOMPARE(reference->pages.size(), 150);
        QCOMPARE(reference->pages[0].label, QStringLiteral("i"));
        QCOMPARE(reference->pages[3].label, QStringLiteral("1"));
        QVERIFY(!reference->pages[3].hasTextLayer);  // blank
        QVERIFY(!reference->pages[5].hasTextLayer);  // only a square
        QVERIFY(reference->pages[4].hasTextLayer);
        for (const int threads : {1, 2, 4}) {
            Ingest::ExtractOptions options;
            options.threads = threads;
            auto fast = PdfExtractor::extractData(pdf, options);
            QVERIFY(fast);
            compareDocuments(*fast, *reference);
            if (QTest::currentTestFailed())
                return;
        }
    }

    // Whole documents: the default path (core API when built with it) and the poppler-qt6 path
    // give the same result or the same error, from a file or from memory, in 1 or 3 threads.
    void extractionMatchesPopplerQtPath()
    {
        for (const Fixture& f : kFixtures) {
            for (const int threads : {1, 3}) {
                Ingest::ExtractOptions options;
                options.password = f.password;
                options.threads = threads;
                const QString path = documentFixture(f.name);
                auto fast = PdfExtractor::extract(path, options);
                auto qt = PdfExtractor::extract(path, options, PdfExtractor::TextApi::PopplerQt);
                QCOMPARE(bool(fast), bool(qt));
                if (!fast) {
                    QCOMPARE(fast.error().message, qt.error().message);
                    continue;
                }
                compareDocuments(*fast, *qt);
                if (QTest::currentTestFailed()) {
                    qWarning("%s, %d threads", f.name, threads);
                    return;
                }
                QFile file(path);
                QVERIFY(file.open(QIODevice::ReadOnly));
                auto fromMemory = PdfExtractor::extractData(file.readAll(), options);
                QVERIFY(fromMemory);
                compareDocuments(*fromMemory, *qt);
            }
        }
    }
};

QTEST_GUILESS_MAIN(TstPdfCoreText)
#include "tst_pdfcoretext.moc"
