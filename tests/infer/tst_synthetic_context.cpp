// lectern::fill_synthetic_context (the benchmark's long context without a prefill) on the CPU:
// the caches hold exactly the requested rows (complete chunks cycling through the distinct
// ones, the rest in the tail), the state behaves like any other (decode, serialize round trip,
// fork), the content reaches the attention (another seed changes the logits; the same seed
// reproduces them bit for bit), and bad requests are refused.
#include <QTest>

#include <cstring>
#include <vector>

#include "attention/kv_cache_impl.h"
#include "infer/state_impl.h"
#include "infer_test_util.h"
#include "lectern/synthetic_context.h"

class TestSyntheticContext : public QObject {
    Q_OBJECT

  private Q_SLOTS:
    void fillsTheCaches();
    void behavesLikeAState();
    void refusesBadRequests();

  private:
    static lectern::AttentionOptions options(int chunk, int top_k) {
        lectern::AttentionOptions o;
        o.chunk_size = chunk;
        o.top_k = top_k;
        return o;
    }
    static std::vector<float> decode(lectern::State& s, lectern::token_id t) {
        std::vector<float> logits;
        auto ok = lectern::forward(s, std::span(&t, 1), false, logits);
        if (!ok) qWarning("%s", ok.error().message.c_str());
        return ok ? logits : std::vector<float>{};
    }
};

void TestSyntheticContext::fillsTheCaches() {
    auto m = infer_test::load(infer_test::model_path("rwkvx-tiny-f32.pth"));
    QVERIFY(m);
    lectern::State s(m, options(16, 3));
    QVERIFY(lectern::fill_synthetic_context(s, 1000, 3, 7).has_value());
    QCOMPARE(s.position(), std::int64_t(1000));
    QVERIFY(!s.impl().kv.empty());
    for (const lectern::KvCache& cache : s.impl().kv) {
        const lectern::KvCache::Impl& kv = cache.impl();
        QCOMPARE(kv.rows(), std::int64_t(1000));
        QCOMPARE(kv.store.chunk_count(), std::int64_t(62));  // 62 * 16 = 992
        QCOMPARE(kv.tail.rows(), 8);
        QCOMPARE(kv.tokens, std::int64_t(1000));
        // Chunks cycle through 3 distinct ones, shared rather than copied.
        QCOMPARE(kv.store.shared_chunk(0).get(), kv.store.shared_chunk(3).get());
        QVERIFY(kv.store.shared_chunk(0).get() != kv.store.shared_chunk(1).get());
        QVERIFY(kv.store.shared_chunk(1).get() != kv.store.shared_chunk(2).get());
        // The store's mean table ([chunk][64] per head) holds each chunk's own means.
        QCOMPARE(std::memcmp(kv.store.means(kv.n_head - 1) + 4 * 64,
                             kv.store.shared_chunk(4)->mean(kv.n_head - 1), 64 * sizeof(float)),
                 0);
    }
}

void TestSyntheticContext::behavesLikeAState() {
    auto m = infer_test::load(infer_test::model_path("rwkvx-tiny-f32.pth"));
    QVERIFY(m);
    lectern::State a(m, options(16, 3)), b(m, options(16, 3)), other(m, options(16, 3));
    QVERIFY(lectern::fill_synthetic_context(a, 700, 4, 11).has_value());
    QVERIFY(lectern::fill_synthetic_context(b, 700, 4, 11).has_value());
    QVERIFY(lectern::fill_synthetic_context(other, 700, 4, 12).has_value());
    lectern::State forked = a.fork();
    auto bytes = a.serialize();
    QVERIFY(bytes.has_value());
    auto restored = lectern::State::deserialize(m, *bytes);
    QVERIFY(restored.has_value());
    QCOMPARE(restored->position(), std::int64_t(700));

    const auto la = decode(a, 42);
    QVERIFY(!la.empty());
    QCOMPARE(a.position(), std::int64_t(701));
    QCOMPARE(decode(b, 42), la);          // same seed: the same context, bit for bit
    QCOMPARE(decode(forked, 42), la);     // a fork reads the shared chunks
    QCOMPARE(decode(*restored, 42), la);  // and so does a deserialized copy
    const auto lo = decode(other, 42);
    QVERIFY(!lo.empty());
    QVERIFY(lo != la);  // another context: the attention reads the synthetic rows
}

void TestSyntheticContext::refusesBadRequests() {
    auto m = infer_test::load(infer_test::model_path("rwkvx-tiny-f32.pth"));
    QVERIFY(m);
    lectern::State used(m, options(16, 3));
    QVERIFY(!decode(used, 1).empty());
    QVERIFY(!lectern::fill_synthetic_context(used, 100, 2, 1).has_value());  // not fresh

    lectern::AttentionOptions compat = options(16, 3);
    compat.mode = lectern::AttentionMode::compat;
    lectern::State c(m, compat);
    QVERIFY(!lectern::fill_synthetic_context(c, 100, 2, 1).has_value());

    lectern::State s(m, options(16, 3));
    QVERIFY(!lectern::fill_synthetic_context(s, -1, 2, 1).has_value());
    QVERIFY(!lectern::fill_synthetic_context(s, 100, 0, 1).has_value());
    QCOMPARE(s.position(), std::int64_t(0));

    auto rwkv7 = infer_test::load(infer_test::model_path("rwkv7-tiny-f32.pth"));
    QVERIFY(rwkv7);
    lectern::State r(rwkv7, options(16, 3));
    QVERIFY(!lectern::fill_synthetic_context(r, 100, 2, 1).has_value());
}

QTEST_GUILESS_MAIN(TestSyntheticContext)
#include "tst_synthetic_context.moc"
