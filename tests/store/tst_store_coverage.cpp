// DocumentStore::coverage: which committed tokens the attention still holds exactly (chunk files
// present with their size, the checkpoint's tail rows), which only the recurrent state holds (a
// missing or cut chunk file, a model without attention blocks), their byte offsets and the kept
// checkpoints; and read_attachment without a model.
#include <QFile>
#include <QTest>

#include "tst_document_store_util.h"

using namespace store_test;
using lectern::DocumentStore;
using lectern::StoreCoverage;
using lectern::token_id;

class TestStoreCoverage : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void completeStoreIsHeldExactly();
    void missingChunkIsRecurrentOnly();
    void unfinishedAndWithoutOffsets();
    void recurrentOnlyModel();
    void attachmentWithoutModel();
    void errors();

private:
    // A store of the first `tokens` of m_doc in a source of `total` tokens (3 bytes each).
    std::string make(const QTemporaryDir& tmp, std::int64_t tokens, std::int64_t total,
                     bool withOffsets = true, const std::string& attachment = {});
    std::shared_ptr<const lectern::Model> m_model;
    std::vector<token_id> m_doc;
};

void TestStoreCoverage::initTestCase() {
    m_model = infer_test::load(infer_test::model_path(tiny_model));
    QVERIFY(m_model);
    QVERIFY(m_model->config().n_attn > 0);
    m_doc = infer_test::random_tokens(100, m_model->config().vocab, 11u);
}

std::string TestStoreCoverage::make(const QTemporaryDir& tmp, std::int64_t tokens,
                                    std::int64_t total, bool withOffsets,
                                    const std::string& attachment) {
    const std::string dir = str(tmp.path()) + "/doc";
    auto store = DocumentStore::create(dir, m_model, tokenizer(), options());
    if (!store) return {};
    const auto* a = reinterpret_cast<const std::byte*>(attachment.data());
    if (!store->begin_source(source("d.txt", total), {a, attachment.size()})) return {};
    const std::span<const token_id> part(m_doc.data(), std::size_t(tokens));
    const auto offsets = offsets_for(0, std::size_t(tokens));
    if (!store->ingest(part, withOffsets ? std::span<const std::int64_t>(offsets)
                                         : std::span<const std::int64_t>()))
        return {};
    return dir;
}

void TestStoreCoverage::completeStoreIsHeldExactly() {
    QTemporaryDir tmp;
    const std::string dir = make(tmp, 100, 100);
    QVERIFY(!dir.empty());
    auto c = DocumentStore::coverage(dir);
    QVERIFY2(c, c ? "" : c.error().message.c_str());
    QCOMPARE(c->tokens, std::int64_t(100));
    QCOMPARE(c->tokens_expected, std::int64_t(100));
    QCOMPARE(c->chunk_size, std::int64_t(8));
    QCOMPARE(c->source_bytes, std::uint64_t(300));
    QCOMPARE(c->exact.size(), std::size_t(1));
    QVERIFY(c->recurrent_only.empty());
    QCOMPARE(c->exact[0].begin, std::int64_t(0));
    QCOMPARE(c->exact[0].end, std::int64_t(100));  // 12 chunks and 4 tail rows
    QCOMPARE(c->exact[0].byte_begin, std::int64_t(0));
    QCOMPARE(c->exact[0].byte_end, std::int64_t(300));
    // Kept checkpoints: the periodic one at 64 and the end of the source.
    QCOMPARE(c->checkpoints.size(), std::size_t(2));
    QCOMPARE(c->checkpoints[0].position, std::int64_t(64));
    QCOMPARE(c->checkpoints[0].byte, std::int64_t(64 * 3));
    QCOMPARE(c->checkpoints[1].position, std::int64_t(100));
    QCOMPARE(c->checkpoints[1].byte, std::int64_t(300));
}

void TestStoreCoverage::missingChunkIsRecurrentOnly() {
    QTemporaryDir tmp;
    const std::string dir = make(tmp, 100, 100);
    QVERIFY(!dir.empty());
    const QString kv = QString::fromStdString(dir) + "/kv/b0/";
    QVERIFY(QFile::remove(kv + "c3.kv"));  // tokens [24, 32)
    QFile cut(kv + "c7.kv");                // tokens [56, 64): cut short
    QVERIFY(cut.open(QIODevice::ReadWrite) && cut.resize(cut.size() / 2));
    cut.close();
    auto c = DocumentStore::coverage(dir);
    QVERIFY2(c, c ? "" : c.error().message.c_str());
    QCOMPARE(c->exact.size(), std::size_t(3));
    QCOMPARE(c->recurrent_only.size(), std::size_t(2));
    QCOMPARE(c->exact[0].end, std::int64_t(24));
    QCOMPARE(c->recurrent_only[0].begin, std::int64_t(24));
    QCOMPARE(c->recurrent_only[0].end, std::int64_t(32));
    QCOMPARE(c->recurrent_only[0].byte_begin, std::int64_t(72));
    QCOMPARE(c->recurrent_only[0].byte_end, std::int64_t(96));
    QCOMPARE(c->exact[1].begin, std::int64_t(32));
    QCOMPARE(c->exact[1].end, std::int64_t(56));
    QCOMPARE(c->recurrent_only[1].begin, std::int64_t(56));
    QCOMPARE(c->recurrent_only[1].end, std::int64_t(64));
    QCOMPARE(c->exact[2].begin, std::int64_t(64));
    QCOMPARE(c->exact[2].end, std::int64_t(100));
}

void TestStoreCoverage::unfinishedAndWithoutOffsets() {
    {
        QTemporaryDir tmp;
        const std::string dir = make(tmp, 100, 250);
        QVERIFY(!dir.empty());
        auto c = DocumentStore::coverage(dir);
        QVERIFY(c);
        QCOMPARE(c->tokens, std::int64_t(100));
        QCOMPARE(c->tokens_expected, std::int64_t(250));
        QCOMPARE(c->exact.size(), std::size_t(1));
        // Just past the last read token's first byte: its length is not stored.
        QCOMPARE(c->exact[0].byte_end, std::int64_t(99 * 3 + 1));
    }
    {
        QTemporaryDir tmp;
        const std::string dir = make(tmp, 100, 250, false);
        QVERIFY(!dir.empty());
        auto c = DocumentStore::coverage(dir);
        QVERIFY(c);
        QCOMPARE(c->exact.size(), std::size_t(1));
        QCOMPARE(c->exact[0].byte_begin, std::int64_t(-1));
        QCOMPARE(c->exact[0].byte_end, std::int64_t(-1));
        QCOMPARE(c->checkpoints.front().byte, std::int64_t(-1));
    }
}

void TestStoreCoverage::recurrentOnlyModel() {
    auto rwkv7 = infer_test::load(infer_test::model_path("rwkv7-tiny-f32.pth"));
    QVERIFY(rwkv7);
    QCOMPARE(rwkv7->config().n_attn, 0);
    QTemporaryDir tmp;
    const std::string dir = str(tmp.path()) + "/doc";
    {
        auto store = DocumentStore::create(dir, rwkv7, tokenizer(), options());
        QVERIFY2(store, store ? "" : store.error().message.c_str());
        const auto doc = infer_test::random_tokens(40, rwkv7->config().vocab, 3u);
        QVERIFY(store->begin_source(source("d.txt", 40)));
        QVERIFY(store->ingest(doc, offsets_for(0, doc.size())));
    }
    auto c = DocumentStore::coverage(dir);
    QVERIFY2(c, c ? "" : c.error().message.c_str());
    QCOMPARE(c->attention_blocks, 0);
    QVERIFY(c->exact.empty());
    QCOMPARE(c->recurrent_only.size(), std::size_t(1));
    QCOMPARE(c->recurrent_only[0].end, std::int64_t(40));
    QCOMPARE(c->recurrent_only[0].byte_end, std::int64_t(120));
}

void TestStoreCoverage::attachmentWithoutModel() {
    QTemporaryDir tmp;
    const std::string dir = make(tmp, 20, 20, true, "{\"pages\":[]}");
    QVERIFY(!dir.empty());
    auto a = DocumentStore::read_attachment(dir, 0);
    QVERIFY2(a, a ? "" : a.error().message.c_str());
    QCOMPARE(std::string(reinterpret_cast<const char*>(a->data()), a->size()),
             std::string("{\"pages\":[]}"));
    QVERIFY(!DocumentStore::read_attachment(dir, 1));
    QVERIFY(QFile::resize(QString::fromStdString(dir) + "/sources/s0.att", 3));
    auto cut = DocumentStore::read_attachment(dir, 0);
    QVERIFY(!cut);
    QVERIFY(cut.error().message.find("s0.att") != std::string::npos);
}

void TestStoreCoverage::errors() {
    QTemporaryDir tmp;
    auto none = DocumentStore::coverage(str(tmp.path()) + "/missing");
    QVERIFY(!none);
    QVERIFY(none.error().message.find("no such folder") != std::string::npos);
    auto empty = DocumentStore::coverage(str(tmp.path()));
    QVERIFY(!empty);
    QVERIFY(empty.error().message.find("not a Lectern document store") != std::string::npos);
}

QTEST_GUILESS_MAIN(TestStoreCoverage)
#include "tst_store_coverage.moc"
