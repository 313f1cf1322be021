// The reader beside a real store (the tiny test model reading a 5-page PDF): the coverage
// strip's segments and checkpoint ticks from DocumentStore::coverage, updating as the store
// commits and while reading, a missing chunk file shown as "only in recurrent memory", a click
// on the strip opening that page; attended passages highlighted from the store's location map
// or from an extraction that never runs on the GUI thread; the notice on a page without a text
// layer.
#include <QDir>
#include <QFile>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QThreadPool>

#include <memory>

#include "../app/apptestutil.h"
#include "coveragestrip.h"
#include "enginecontroller.h"
#include "extractor.h"
#include "lectern/document_store.h"
#include "librarycontroller.h"
#include "librarypanel.h"
#include "locationmap.h"
#include "mainwindow.h"
#include "readerpanel.h"
#include "readersource.h"

namespace {

const QString kPdf = QStringLiteral(LECTERN_TEST_DATA_DIR "/documents/layout-running-headers.pdf");
const QString kNoText = QStringLiteral(LECTERN_TEST_DATA_DIR "/documents/no-text-layer.pdf");
constexpr int kBytesPerToken = 4;  // the test's stand-in tokenization: one token per 4 bytes

}  // namespace

class TestReaderCoverage : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::shared_ptr<const lectern::Model> m_model;
    Ingest::ExtractedDocument m_doc;
    QList<DocumentPage> m_pages;
    qint64 m_tokens = 0;

    // A store of the PDF's extracted text read up to `upTo` tokens, with its location map kept
    // as the source's attachment (as `lectern-cli ingest` keeps it).
    std::unique_ptr<lectern::DocumentStore> makeStore(const QString& name, qint64 upTo)
    {
        lectern::StoreOptions options;
        options.attention.chunk_size = 32;
        options.attention.top_k = 3;
        options.checkpoint_every = 256;
        auto store = lectern::DocumentStore::create(QDir(m_dir.path()).filePath(name).toStdString(),
                                                    m_model, {"world", "test"}, options);
        if (!store)
            return nullptr;
        lectern::SourceInfo source;
        source.name = "layout-running-headers.pdf";
        source.sha256 = "ab12";
        source.bytes = std::uint64_t(m_doc.text.size());
        source.tokens = m_tokens;
        const QByteArray map = Ingest::LocationMap::fromDocument(m_doc).serialize();
        if (!store->begin_source(source, {reinterpret_cast<const std::byte*>(map.constData()),
                                          std::size_t(map.size())}))
            return nullptr;
        auto result = std::make_unique<lectern::DocumentStore>(std::move(*store));
        if (upTo > 0 && !feed(*result, upTo))
            return nullptr;
        return result;
    }
    bool feed(lectern::DocumentStore& store, qint64 upTo)
    {
        std::vector<lectern::token_id> ids;
        std::vector<std::int64_t> offsets;
        for (qint64 t = store.tokens(); t < upTo; ++t) {
            ids.push_back(lectern::token_id(quint8(m_doc.text[t * kBytesPerToken]) % 200 + 10));
            offsets.push_back(t * kBytesPerToken);
        }
        return bool(store.ingest(ids, offsets));
    }
    DocumentRecord record(const QString& path, const QString& storeDir) const
    {
        DocumentRecord r;
        r.id = 7;
        r.path = path;
        r.format = QStringLiteral("pdf");
        r.storeDir = storeDir;
        r.pages = path == kPdf ? m_pages : QList<DocumentPage>();
        r.tokensTotal = m_tokens;
        return r;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        QStandardPaths::setTestModeEnabled(true);
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope,
                           m_dir.filePath(QStringLiteral("settings")));
        lectern::RuntimeOptions rt;
        rt.threads = 2;
        auto model = lectern::Model::load(AppTest::modelPath().toStdString(), rt);
        QVERIFY2(model, model ? "" : model.error().message.c_str());
        m_model = *model;
        auto doc = Ingest::Extractor::extractFile(kPdf);
        QVERIFY(doc);
        m_doc = *doc;
        QCOMPARE(m_doc.pages.size(), 5);
        for (const Ingest::PageInfo& p : std::as_const(m_doc.pages))
            m_pages.append(DocumentPage{p.textBegin, p.textEnd, p.label});
        m_tokens = m_doc.text.size() / kBytesPerToken;
        QVERIFY(m_tokens > 256);
    }

    void layoutCountsEveryPage()
    {
        // Page 2 of 3 is a scan (no text): read up to page 3's start, it still counts as read.
        const QList<DocumentPage> pages{{0, 100, QStringLiteral("1")},
                                        {102, 102, QStringLiteral("2")},
                                        {104, 204, QStringLiteral("3")}};
        lectern::StoreCoverage c;
        c.tokens = c.tokens_expected = 204;
        c.source_bytes = 204;
        c.exact.push_back({0, 52, 0, 104});
        c.recurrent_only.push_back({52, 102, 104, 204});
        c.checkpoints.push_back({52, "Chapter 3", 104});
        const CoverageLayout l = CoverageStrip::layoutFor(&c, 3, pages, 0, 0);
        QCOMPARE(l.segments.size(), 2);
        QCOMPARE(l.segments[0].to, 2.0 / 3.0);
        QCOMPARE(l.exact, 2.0 / 3.0);
        QCOMPARE(l.recurrentOnly, 1.0 / 3.0);
        QCOMPARE(l.ticks.size(), 1);
        QCOMPARE(l.ticks[0].at, 2.0 / 3.0);
        QCOMPARE(l.ticks[0].label, QStringLiteral("Chapter 3"));
        // Live progress past the commit is "being read".
        c.tokens = 52;
        c.recurrent_only.clear();
        c.checkpoints.clear();
        const CoverageLayout live = CoverageStrip::layoutFor(&c, 3, pages, 78, 102);
        QCOMPARE(live.segments.size(), 2);
        QCOMPARE(live.segments[1].kind, CoverageSegment::Kind::Unsaved);
        QVERIFY(live.unsaved > 0.0 && live.read() < 1.0);
    }

    void stripFollowsTheStore()
    {
        const qint64 half = 320;  // a checkpoint (256) and a partial commit at the end
        auto store = makeStore(QStringLiteral("strip"), half);
        QVERIFY(store);
        ReaderPanel panel;
        panel.resize(700, 600);
        panel.show();
        QVERIFY(panel.openDocument(record(kPdf, QString::fromStdString(store->dir()))));
        CoverageStrip* strip = panel.coverageStrip();
        QVERIFY(strip->isVisible());
        QCOMPARE(strip->pageCount(), 5);
        QTRY_VERIFY(strip->coverageLayout().read() > 0.0);
        const auto expected = lectern::DocumentStore::coverage(store->dir());
        QVERIFY(expected);
        QCOMPARE(strip->coverageLayout().ticks.size(), qsizetype(expected->checkpoints.size()));
        const double firstRead = strip->coverageLayout().read();
        QVERIFY(firstRead < 0.9);
        QCOMPARE(strip->coverageLayout().recurrentOnly, 0.0);
        QVERIFY(strip->accessibleDescription().contains(QStringLiteral("Held exactly")));

        // Live progress between commits, then the commits themselves (the folder is watched).
        panel.setReadingProgress(7, half + 100, m_tokens);
        QVERIFY(strip->coverageLayout().unsaved > 0.0);
        QVERIFY(feed(*store, m_tokens));
        QTRY_VERIFY_WITH_TIMEOUT(strip->coverageLayout().exact > 0.99, 10000);
        QCOMPARE(strip->coverageLayout().unsaved, 0.0);

        // A chunk whose KV files are gone is read but only in recurrent memory.
        const qint64 chunk = m_tokens / 32 - 2;  // a complete chunk near the end
        for (int b = 0; b < m_model->config().n_attn; ++b)
            QVERIFY(QFile::remove(QStringLiteral("%1/kv/b%2/c%3.kv")
                                      .arg(QString::fromStdString(store->dir()))
                                      .arg(b)
                                      .arg(chunk)));
        panel.openDocument(record(kPdf, QString::fromStdString(store->dir())));  // a newer record
        QTRY_VERIFY(strip->coverageLayout().recurrentOnly > 0.0);
        const CoverageLayout& l = strip->coverageLayout();
        QVERIFY(l.recurrentOnly > 0.0 && l.recurrentOnly < 0.1);
        QVERIFY(l.exact > 0.9);
        const auto it = std::find_if(l.segments.begin(), l.segments.end(), [](const auto& s) {
            return s.kind == CoverageSegment::Kind::RecurrentOnly;
        });
        QVERIFY(it != l.segments.end());
        // It sits on the page holding the chunk's first byte.
        const qint64 byte = chunk * 32 * kBytesPerToken;
        int page = 0;
        while (page + 1 < m_pages.size() && m_pages[page].textEnd <= byte)
            ++page;
        QCOMPARE(int(it->from * 5), page);
        const int y = int(2 + ((it->from + it->to) / 2) * (strip->height() - 4));
        QVERIFY2(strip->describeAt(y).contains(QStringLiteral("recurrent memory")),
                 qPrintable(strip->describeAt(y)));
        QVERIFY(strip->describeAt(y).startsWith(QStringLiteral("Page ")));

        const QImage shot = panel.grab().toImage();
        shot.save(QDir(m_dir.path()).filePath(QStringLiteral("reader-strip.png")));
        if (qEnvironmentVariableIsSet("LECTERN_SHOT_DIR"))
            shot.save(qEnvironmentVariable("LECTERN_SHOT_DIR") + QStringLiteral("/reader-strip.png"));
    }

    void readingInTheWindowFillsTheStrip()
    {
        // The real flow: the window reads a 4-page text document with the tiny model; the strip
        // beside the reader follows the progress and ends held exactly, with checkpoint ticks.
        const QString root = m_dir.filePath(QStringLiteral("app"));
        QVERIFY(QDir().mkpath(root));
        const QString document = AppTest::writeDocument(root);
        Library library;
        QVERIFY(library.open(root + QStringLiteral("/library.sqlite")));
        EngineController engine;
        LibraryController controller(&library, &engine, root + QStringLiteral("/stores"));
        controller.setStoreTemplate(AppTest::storeTemplate());
        MainWindow window(&controller);
        window.openModel(AppTest::modelPath());
        window.setTokenizer(AppTest::tokenizerPath());
        window.show();
        CoverageStrip* strip = window.readerPanel()->coverageStrip();
        double seenWhileReading = 0.0;
        connect(&controller, &LibraryController::readingProgress, this, [&] {
            seenWhileReading = qMax(seenWhileReading, strip->coverageLayout().read());
        });
        QVERIFY(window.openPath(document));
        const qint64 doc = window.libraryPanel()->currentDocument();
        QVERIFY(doc > 0);
        QTRY_VERIFY_WITH_TIMEOUT(library.document(doc)->state == DocumentState::Ready, 120000);
        QTRY_VERIFY_WITH_TIMEOUT(strip->coverageLayout().exact > 0.99, 10000);
        QVERIFY(seenWhileReading > 0.0);
        QCOMPARE(strip->pageCount(), 4);
        QVERIFY(!strip->coverageLayout().ticks.isEmpty());
        QCOMPARE(strip->coverageLayout().recurrentOnly, 0.0);
        // A click on the last quarter opens the last page.
        QTest::mouseClick(strip, Qt::LeftButton, {}, QPoint(strip->width() / 2, strip->height() - 3));
        QTRY_COMPARE(window.readerPanel()->currentPage(), 3);
    }

    void clickOpensThePage()
    {
        ReaderPanel panel;
        panel.resize(700, 600);
        panel.show();
        QVERIFY(panel.openDocument(record(kPdf, {})));
        CoverageStrip* strip = panel.coverageStrip();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        QCOMPARE(panel.currentPage(), 0);
        const int h = strip->height() - 4;
        QTest::mouseClick(strip, Qt::LeftButton, {}, QPoint(strip->width() / 2, 2 + h * 7 / 10));
        QCOMPARE(panel.currentPage(), 3);
        QTest::mouseClick(strip, Qt::LeftButton, {}, QPoint(strip->width() / 2, 3));
        QCOMPARE(panel.currentPage(), 0);
        QTest::mouseClick(strip, Qt::LeftButton, {}, QPoint(strip->width() / 2, strip->height() - 1));
        QCOMPARE(panel.currentPage(), 4);
        QCOMPARE(strip->accessibleName(), QStringLiteral("Reading coverage"));
        // From the keyboard too.
        QTest::keyClick(strip, Qt::Key_Up);
        QCOMPARE(panel.currentPage(), 3);
        QTest::keyClick(strip, Qt::Key_Home);
        QCOMPARE(panel.currentPage(), 0);
    }

    void highlightFromTheStoreMap()
    {
        auto store = makeStore(QStringLiteral("highlight"), m_tokens);
        QVERIFY(store);
        QThreadPool::globalInstance()->waitForDone();  // loads an earlier panel started
        ReaderSourceLoader::clearCache();
        const int extractions = ReaderSourceLoader::extractions();
        ReaderPanel panel;
        panel.show();
        QSignalSpy loaded(&panel, &ReaderPanel::sourceLoaded);
        QVERIFY(panel.openDocument(record(kPdf, QString::fromStdString(store->dir()))));
        // Asked for before the map is loaded: remembered, shown when it arrives.
        const DocumentPage& p = m_pages[2];
        panel.showPage(2, p.textBegin, p.textBegin + 40);
        QCOMPARE(panel.currentPage(), 2);
        QTRY_VERIFY(!loaded.isEmpty());
        QVERIFY(panel.source()->fromStore);
        QVERIFY(!panel.highlights().isEmpty());
        QCOMPARE(ReaderSourceLoader::extractions(), extractions);  // the store's map: none ran
        // Once loaded, a highlight is immediate.
        panel.showPage(3, m_pages[3].textBegin, m_pages[3].textEnd);
        QVERIFY(!panel.highlights().isEmpty());
        for (const QRectF& r : panel.highlights())
            QVERIFY(r.isValid() && r.top() >= 0);
        QCOMPARE(ReaderSourceLoader::guiThreadExtractions(), 0);
    }

    void highlightWithoutAStoreExtractsOffTheGuiThread()
    {
        QThreadPool::globalInstance()->waitForDone();  // loads an earlier panel started
        ReaderSourceLoader::clearCache();
        const int extractions = ReaderSourceLoader::extractions();
        ReaderPanel panel;
        panel.show();
        QSignalSpy loaded(&panel, &ReaderPanel::sourceLoaded);
        QVERIFY(panel.openDocument(record(kPdf, {})));
        panel.showPage(1, m_pages[1].textBegin, m_pages[1].textEnd);
        QTRY_VERIFY(!loaded.isEmpty());
        QVERIFY(!panel.source()->fromStore);
        QVERIFY(!panel.highlights().isEmpty());
        QCOMPARE(ReaderSourceLoader::extractions(), extractions + 1);
        QCOMPARE(ReaderSourceLoader::guiThreadExtractions(), 0);

        // Cached per document: opening it again extracts nothing.
        panel.closeDocument();
        loaded.clear();
        QVERIFY(panel.openDocument(record(kPdf, {})));
        QTRY_VERIFY(!loaded.isEmpty());
        panel.showPage(4, m_pages[4].textBegin, m_pages[4].textEnd);
        QVERIFY(!panel.highlights().isEmpty());
        QCOMPARE(ReaderSourceLoader::extractions(), extractions + 1);
    }

    void noTextLayerNotice()
    {
        ReaderPanel panel;
        panel.resize(600, 500);
        panel.show();
        QSignalSpy loaded(&panel, &ReaderPanel::sourceLoaded);
        QVERIFY(panel.openDocument(record(kNoText, {})));
        QTRY_VERIFY(!loaded.isEmpty());
        QCOMPARE(panel.pageCount(), 3);
        QVERIFY(panel.pageNotice().isEmpty());  // page 1 has text
        panel.showPage(1);
        QVERIFY2(panel.pageNotice().contains(QStringLiteral("no text layer")),
                 qPrintable(panel.pageNotice()));
        auto* notice = panel.findChild<QWidget*>(QStringLiteral("pageNotice"));
        QVERIFY(notice && notice->isVisible() && !notice->isWindow());  // not a dialog
        QVERIFY(!notice->accessibleName().isEmpty());
        panel.showPage(0);
        QVERIFY(panel.pageNotice().isEmpty());
        QVERIFY(!notice->isVisible());
        if (qEnvironmentVariableIsSet("LECTERN_SHOT_DIR")) {
            panel.showPage(1);
            panel.grab().save(qEnvironmentVariable("LECTERN_SHOT_DIR") +
                            QStringLiteral("/reader-notice.png"));
        }
    }
};

QTEST_MAIN(TestReaderCoverage)
#include "tst_readercoverage.moc"
