// sparse_attention() (engine/src/attention/) against the float64 references of
// sparse_attention_reference.h: native semantics over any split of the document into calls,
// native == compat while everything fits in K chunks, compat prefill / decode short and long
// cases, KV-cache compression, chunk-selection provenance, tie-breaking, argument validation.
// Tolerance vs the references: 1e-5 absolute on outputs of magnitude ~1 (float32 storage and
// float32 accumulation over at most a few hundred keys).
#include <QTest>

#include "attention/attention_kernel.h"
#include "attention/kv_cache_impl.h"
#include "attention_test_util.h"
#include "cpu/thread_pool.h"
#include "lectern/dtype.h"

using namespace lectern;
using namespace attn_test;

namespace {

constexpr double tolerance = 1e-5;

// "20,1x5,7" -> {20, 1, 1, 1, 1, 1, 7}
std::vector<int> parse_calls(const QString& s) {
    std::vector<int> calls;
    for (const QString& part : s.split(QLatin1Char(','))) {
        const auto rep = part.split(QLatin1Char('x'));
        const int count = rep.size() == 2 ? rep[1].toInt() : 1;
        for (int i = 0; i < count; ++i) calls.push_back(rep[0].toInt());
    }
    return calls;
}

int total(const std::vector<int>& calls) {
    int n = 0;
    for (int t : calls) n += t;
    return n;
}

}  // namespace

class TestSparseAttention : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void native_matches_reference_data() {
        QTest::addColumn<int>("C");
        QTest::addColumn<int>("B");
        QTest::addColumn<int>("K");
        QTest::addColumn<int>("n");
        for (int C : {64, 128})
            for (int B : {4, 8, 16})
                for (int K : {2, 3})
                    QTest::addRow("C=%d B=%d K=%d", C, B, K)
                        << C << B << K << (B == 16 ? 200 : 120);
        QTest::addRow("own chunk only K=1") << 128 << 8 << 1 << 70;
        QTest::addRow("partial last chunk") << 64 << 16 << 3 << 157;
    }

    // The key property: one prefill, token by token and random splits all give the reference's
    // answer, and the same bits as each other.
    void native_matches_reference() {
        QFETCH(int, C);
        QFETCH(int, B);
        QFETCH(int, K);
        QFETCH(int, n);
        const Doc d = make_doc(unsigned(C * 1000 + B * 10 + K), C, n);
        const auto o = options(AttentionMode::native, B, K);
        const auto expected = run_native_reference(o, d, n);

        KvCache one(C, C / 64, o);
        const auto y_one = run_engine(o, one, d, {n});
        QVERIFY2(max_abs_diff(y_one, expected) < tolerance,
                 qPrintable(QString::number(max_abs_diff(y_one, expected))));
        QCOMPARE(one.rows(), std::int64_t(n));
        QCOMPARE(one.chunk_count(), std::int64_t(n / B));

        KvCache step(C, C / 64, o);
        QVERIFY(run_engine(o, step, d, ones(n)) == y_one);
        for (unsigned seed : {1u, 2u, 3u}) {
            KvCache split(C, C / 64, o);
            QVERIFY(run_engine(o, split, d, random_splits(seed, n, 3 * B)) == y_one);
        }
    }

    // With at most K chunks every earlier chunk is selected: native is plain causal attention,
    // which is also what compat computes (short prefill, short decode) for any split.
    void native_equals_compat_when_fits() {
        for (int C : {64, 128}) {
            const int B = 8, K = 3, n = B * K;
            const Doc d = make_doc(77u + unsigned(C), C, n);
            const auto on = options(AttentionMode::native, B, K);
            const auto oc = options(AttentionMode::compat, B, K);
            for (const auto& calls : {std::vector<int>{n}, ones(n), std::vector<int>{5, 1, 1, 9, 8},
                                      std::vector<int>{13, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}}) {
                KvCache a(C, C / 64, on), b(C, C / 64, oc);
                const auto ya = run_engine(on, a, d, calls);
                const auto yb = run_engine(oc, b, d, calls);
                QVERIFY2(max_abs_diff(ya, yb) < tolerance,
                         qPrintable(QString::number(max_abs_diff(ya, yb))));
            }
        }
    }

    void compat_matches_reference_data() {
        QTest::addColumn<int>("C");
        QTest::addColumn<int>("B");
        QTest::addColumn<int>("K");
        QTest::addColumn<int>("kv_max");
        QTest::addColumn<int>("kv_min");
        QTest::addColumn<int>("kv_window");
        QTest::addColumn<QString>("calls");
        // B=4, K=3: W = 12.
        QTest::newRow("prefill short") << 128 << 4 << 3 << 0 << 0 << 0 << "10";
        QTest::newRow("prefill short on cache") << 128 << 4 << 3 << 0 << 0 << 0 << "5,7";
        QTest::newRow("prefill long") << 128 << 4 << 3 << 0 << 0 << 0 << "30";
        QTest::newRow("prefill long, call not chunk aligned")
            << 128 << 4 << 3 << 0 << 0 << 0 << "3,29,6";
        QTest::newRow("decode short") << 128 << 4 << 3 << 0 << 0 << 0 << "1x12";
        QTest::newRow("decode long") << 128 << 4 << 3 << 0 << 0 << 0 << "5,1x60";
        QTest::newRow("mixed") << 64 << 4 << 3 << 0 << 0 << 0 << "7,1x9,13,1x5,2,1x20,40,1x7";
        QTest::newRow("B=8 K=2 mixed") << 128 << 8 << 2 << 0 << 0 << 0 << "3,1x20,17,1x30,2,1x9";
        QTest::newRow("B=16 K=2 long") << 64 << 16 << 2 << 0 << 0 << 0 << "50,1x40,70,1x10";
        QTest::newRow("compress in decode") << 128 << 4 << 3 << 24 << 16 << 6 << "20,1x40";
        QTest::newRow("compress in prefill")
            << 128 << 4 << 3 << 24 << 16 << 6 << "20,1x5,9,3,1x12,30,1x10";
        QTest::newRow("compress, no window") << 64 << 4 << 2 << 20 << 10 << 0 << "2,1x30,15,1x9";
        QTest::newRow("compress, kv_min above kv_max")
            << 64 << 4 << 3 << 10 << 30 << 5 << "12,1x30,25,1x10";
        QTest::newRow("compress B=8 K=2")
            << 128 << 8 << 2 << 40 << 29 << 7 << "33,1x20,11,1x30,60,1x8";
    }

    void compat_matches_reference() {
        QFETCH(int, C);
        QFETCH(int, B);
        QFETCH(int, K);
        QFETCH(int, kv_max);
        QFETCH(int, kv_min);
        QFETCH(int, kv_window);
        QFETCH(QString, calls);
        const auto cs = parse_calls(calls);
        const int n = total(cs);
        const Doc d = make_doc(unsigned(qHash(calls)), C, n);
        auto o = options(AttentionMode::compat, B, K);
        o.kv_max = kv_max;
        o.kv_min = kv_min;
        o.kv_window = kv_window;
        const auto expected = run_compat_reference(o, d, cs);
        KvCache cache(C, C / 64, o);
        const auto got = run_engine(o, cache, d, cs);
        QVERIFY2(max_abs_diff(got, expected) < tolerance,
                 qPrintable(QString::number(max_abs_diff(got, expected))));
        // Every row with KV management is built to compress at least once.
        QCOMPARE(cache.impl().compressed, kv_max > 0);
        QCOMPARE(cache.rows() == n, kv_max == 0);
    }

    // The provenance hook reports exactly the reference's chunk choices.
    void trace_matches_reference() {
        const int C = 128, H = 2, B = 4, n = 60;
        const Doc d = make_doc(5u, C, n);
        const auto on = options(AttentionMode::native, B, 3);
        const auto oc = options(AttentionMode::compat, B, 3);
        KvCache a(C, H, on), b(C, H, oc);
        ref::Native rn(H, B, 3);
        ref::Compat rc(H, B, 3);
        std::vector<float> y(C);
        for (int t = 0; t < n; ++t) {
            const std::size_t off = std::size_t(t) * C;
            const float *q = d.q.data() + off, *k = d.k.data() + off, *v = d.v.data() + off;
            AttentionTrace ta, tb;
            QVERIFY(sparse_attention(on, a, 1, C, H, q, k, v, nullptr, y.data(), nullptr, &ta));
            QVERIFY(sparse_attention(oc, b, 1, C, H, q, k, v, nullptr, y.data(), nullptr, &tb));
            rn.step(q, k, v);
            rc.call(1, q, k, v, nullptr);
            QCOMPARE(ta.width, 3);
            for (int h = 0; h < H; ++h) {
                std::vector<int> got;
                for (int s = 0; s < 3 && ta.chunks[std::size_t(h * 3 + s)] >= 0; ++s)
                    got.push_back(ta.chunks[std::size_t(h * 3 + s)]);
                QCOMPARE(got, rn.last_selection[std::size_t(h)]);
                std::vector<int> shared;
                for (int s = 0; s < 3 && tb.chunks[std::size_t(h * 3 + s)] >= 0; ++s)
                    shared.push_back(tb.chunks[std::size_t(h * 3 + s)]);
                QCOMPARE(shared, rc.last_selection);
            }
        }
    }

    // Chunks with identical keys tie exactly: the lower chunk index must win (native and compat).
    void ties_prefer_lower_chunk() {
        const int C = 64, B = 4, n = 40;
        Doc d = make_doc(9u, C, n);
        for (int t = B; t < n; ++t)
            std::copy_n(d.k.begin() + (t % B) * C, C, d.k.begin() + std::size_t(t) * C);
        const auto on = options(AttentionMode::native, B, 2);
        KvCache a(C, 1, on);
        QVERIFY(max_abs_diff(run_engine(on, a, d, {n}), run_native_reference(on, d, n)) <
                tolerance);
        std::vector<float> y(C);
        AttentionTrace tr;
        const std::size_t off = std::size_t(n - 1) * C;
        KvCache b(C, 1, on);
        run_engine(on, b, d, {n - 1});
        QVERIFY(sparse_attention(on, b, 1, C, 1, d.q.data() + off, d.k.data() + off,
                                 d.v.data() + off, nullptr, y.data(), nullptr, &tr));
        QCOMPARE(tr.chunks[0], 0);
        const auto oc = options(AttentionMode::compat, B, 2);
        KvCache c(C, 1, oc);
        const auto calls = parse_calls(QStringLiteral("20,1x20"));
        QVERIFY(max_abs_diff(run_engine(oc, c, d, calls), run_compat_reference(oc, d, calls)) <
                tolerance);
    }

    // A pool must not change a single bit: every (query, head) is one sequential loop.
    void thread_pool_gives_same_bits() {
        ThreadPool pool(2);
        const int C = 128, n = 150;
        const Doc d = make_doc(11u, C, n);
        auto oc = options(AttentionMode::compat, 8, 2);
        oc.kv_max = 40;
        oc.kv_min = 30;
        oc.kv_window = 8;
        for (const auto& o : {options(AttentionMode::native, 8, 3), oc}) {
            const auto calls = random_splits(4u, n, 20);
            KvCache a(C, 2, o), b(C, 2, o);
            QVERIFY(run_engine(o, a, d, calls) == run_engine(o, b, d, calls, 0, &pool));
        }
    }

    // The SSE2 and AVX2 + F16C builds of the inner loop give the same bits for every dtype.
    void instruction_sets_give_same_bits() {
        const int C = 128, n = 120;
        const Doc d = make_doc(12u, C, n);
        for (KvDType t : {KvDType::f32, KvDType::f16, KvDType::int8}) {
            for (const auto& o : {options(AttentionMode::native, 8, 3, t),
                                  options(AttentionMode::compat, 8, 3, t)}) {
                const auto calls = random_splits(6u, n, 20);
                QVERIFY(attention_use_avx2(false));
                KvCache a(C, 2, o), b(C, 2, o);
                const auto ya = run_engine(o, a, d, calls);
                if (!attention_use_avx2(true)) QSKIP("no AVX2 + F16C on this CPU");
                QVERIFY(run_engine(o, b, d, calls) == ya);
            }
        }
    }

    void half_conversion_matches_oracle() {
        for (std::uint32_t h = 0; h < 65536; ++h) {
            const float a = kv_half_to_float(std::uint16_t(h));
            const float b = f16_to_f32(std::uint16_t(h));
            QVERIFY(std::memcmp(&a, &b, 4) == 0);
        }
    }

    void top_k_order() {
        TopK t2(3);
        const float scores[] = {1.0f, 5.0f, NAN, 5.0f, 2.0f, 7.0f, 1.0f};
        for (int i = 0; i < 7; ++i) t2.push(i, scores[i]);
        QCOMPARE(t2.size(), 3);
        QCOMPARE(t2.index(0), 5);
        QCOMPARE(t2.index(1), 1);
        QCOMPARE(t2.index(2), 3);
    }

    void rejects_bad_arguments() {
        const int C = 128, H = 2;
        const Doc d = make_doc(3u, C, 40);
        auto o = options(AttentionMode::native, 4, 3);
        KvCache cache(C, H, o);
        run_engine(o, cache, d, {10});
        std::vector<float> y(std::size_t(40) * C);
        auto call = [&](const AttentionOptions& opt, int T, int c, int h, const float* ln1) {
            return bool(sparse_attention(opt, cache, T, c, h, d.q.data(), d.k.data(), d.v.data(),
                                         ln1, y.data(), nullptr));
        };
        auto bad = o;
        QVERIFY(!call(o, 0, C, H, nullptr));
        QVERIFY(!call(o, 1, C, 1, nullptr));
        QVERIFY(!call(o, 1, 96, 2, nullptr));
        bad.chunk_size = 0;
        QVERIFY(!call(bad, 1, C, H, nullptr));
        bad = o;
        bad.chunk_size = 8;  // differs from the cache's
        QVERIFY(!call(bad, 1, C, H, nullptr));
        bad = o;
        bad.kv_dtype = KvDType::f16;
        QVERIFY(!call(bad, 1, C, H, nullptr));
        bad = o;
        bad.top_k = 0;
        QVERIFY(!call(bad, 1, C, H, nullptr));
        bad.top_k = 65;
        QVERIFY(!call(bad, 1, C, H, nullptr));
        bad = o;
        bad.kv_max = 20;
        bad.kv_min = 5;
        bad.kv_window = 5;
        QVERIFY(!call(bad, 1, C, H, nullptr));
        QVERIFY(!sparse_attention(o, cache, 1, C, H, nullptr, d.k.data(), d.v.data(), nullptr,
                                  y.data(), nullptr));
        QCOMPARE(cache.rows(), std::int64_t(10));

        // Compat prefill that must compress needs the LN1 rows; native refuses a compressed cache.
        auto oc = options(AttentionMode::compat, 4, 3);
        oc.kv_max = 8;
        oc.kv_min = 6;
        oc.kv_window = 2;
        KvCache cc(C, H, oc);
        run_engine(oc, cc, d, {10});
        QVERIFY(!sparse_attention(oc, cc, 3, C, H, d.q.data(), d.k.data(), d.v.data(), nullptr,
                                  y.data(), nullptr));
        QCOMPARE(cc.rows(), std::int64_t(10));
        run_engine(oc, cc, d, {1});
        QCOMPARE(cc.rows(), std::int64_t(7));
        auto on = oc;
        on.mode = AttentionMode::native;
        QVERIFY(!sparse_attention(on, cc, 1, C, H, d.q.data(), d.k.data(), d.v.data(), nullptr,
                                  y.data(), nullptr));
        QCOMPARE(cc.rows(), std::int64_t(7));
    }
};

QTEST_GUILESS_MAIN(TestSparseAttention)
#include "tst_sparse_attention.moc"
