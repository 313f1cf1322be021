// The CUDA trace-weights kernel (kernels/sparse_attention_weights.cu,
// sparse_attention_chunk_weights) run on the CPU through the emulator (cuda_emu.h, cuda_to_cpp.py):
// - against the float64 reference (ref::group_shares via sparse_check::check_weights_case, shared
//   with tests/kernels/tst_sparse_attention_cuda.cpp): dense and paged layouts (NaN in every row
//   the launch must not read, paged shares bit-identical to dense), K = 2, 3, 4, 5 and 16, queries
//   in the first chunks (fewer candidates than K-1: -1 slots must get exactly 0), decode (T = 1)
//   and prefill (T > 1 across chunk boundaries), B not a multiple of 32, sentinels around the
//   output, shares in [0, 1] summing to at most 1 + tol;
// - against the CPU engine's own trace (native_attention's AttentionTrace::weights, the values the
//   GPU path must reproduce in lectern::ForwardTrace): a KvCache fed the same k/v, a traced call
//   with the same queries, and the kernel run on the engine's selection;
// - bad arguments refused with error values.
// Tolerance: sparse_check::weight_tolerance (1e-5 absolute, reasons there); kernel vs engine, both
// float32, 2x that.
#include <QTest>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "attention/sparse_attention.h"
#include "lectern/cuda/sparse_attention.h"
#include "sparse_attention_check.h"

using sparse_check::Case;
using sparse_check::guard;

class TestSparseAttentionWeightsEmu : public QObject {
    Q_OBJECT

  private Q_SLOTS:
    void matchesReference_data();
    void matchesReference();
    void matchesEngineTrace_data();
    void matchesEngineTrace();
    void rejectsBadArguments();
};

// Columns H, B, K, p0, T shared by both data functions.
static void add_columns() {
    QTest::addColumn<int>("heads");
    QTest::addColumn<int>("chunk");
    QTest::addColumn<int>("top_k");
    QTest::addColumn<int>("p0");
    QTest::addColumn<int>("tokens");
}

static Case fetch_case() {
    QFETCH(int, heads);
    QFETCH(int, chunk);
    QFETCH(int, top_k);
    QFETCH(int, p0);
    QFETCH(int, tokens);
    return Case{heads, chunk, top_k, p0, tokens};
}

void TestSparseAttentionWeightsEmu::matchesReference_data() {
    add_columns();
    const int rows[][5] = {
        // H, B, K, p0, T
        {2, 16, 2, 5, 1},       // first chunk: no candidate, every slot -1
        {2, 16, 3, 20, 1},      // one candidate for two slots
        {3, 16, 3, 100, 1},     // decode
        {2, 32, 16, 600, 1},    // K = 16, all 15 slots used
        {2, 32, 16, 200, 1},    // K = 16, 6 candidates: slots 6 .. 14 are -1
        {2, 16, 3, 10, 40},     // prefill from the first chunk across two boundaries
        {4, 64, 4, 100, 70},    // prefill across a boundary
        {2, 20, 5, 130, 25},    // B not a multiple of 32: lanes without a row in the last round
        {1, 128, 2, 300, 5},    //
        {1, 2048, 3, 4500, 2},  // 64 rows per lane and chunk
        {5, 16, 4, 0, 48},      // from position 0
    };
    for (const auto& r : rows)
        QTest::addRow("H=%d B=%d K=%d p0=%d T=%d", r[0], r[1], r[2], r[3], r[4])
            << r[0] << r[1] << r[2] << r[3] << r[4];
}

void TestSparseAttentionWeightsEmu::matchesReference() {
    const Case c = fetch_case();
    const lectern::cuda::SparseAttentionShape shape{c.H, c.B, c.K};
    sparse_check::check_weights_case(
        c, 500u + std::uint32_t(c.p0 + c.T),
        [&](const std::vector<float>& q, const std::vector<float>& keys,
            const std::vector<int>& page, const std::vector<int>& sel, std::vector<float>& out) {
            auto r = lectern::cuda::sparse_attention_chunk_weights(
                q.data(), c.T, c.p0, keys.data(), page.empty() ? nullptr : page.data(), sel.data(),
                shape, out.data() + guard, nullptr);
            return r ? QString() : QString::fromStdString(r.error().message);
        });
}

void TestSparseAttentionWeightsEmu::matchesEngineTrace_data() {
    add_columns();
    const int rows[][5] = {
        // H, B, K, p0, T
        {2, 16, 3, 40, 30},    // prefill across chunk boundaries; chunks completed in the call
        {3, 32, 2, 0, 70},     // from position 0: the first queries select nothing
        {2, 16, 16, 300, 20},  // K = 16
        {1, 64, 4, 500, 1},    // decode
    };
    for (const auto& r : rows)
        QTest::addRow("H=%d B=%d K=%d p0=%d T=%d", r[0], r[1], r[2], r[3], r[4])
            << r[0] << r[1] << r[2] << r[3] << r[4];
}

// The engine's trace (its selection and weights) for the same document, then the kernel on that
// selection: the kernel must report the engine's weights.
void TestSparseAttentionWeightsEmu::matchesEngineTrace() {
    const Case c = fetch_case();
    const int C = int(c.C());
    const std::uint32_t seed = 900u + std::uint32_t(c.p0);
    const auto in = sparse_check::make_inputs(c, seed);

    lectern::AttentionOptions options;
    options.mode = lectern::AttentionMode::native;
    options.chunk_size = c.B;
    options.top_k = c.K;
    options.kv_dtype = lectern::KvDType::f32;
    lectern::KvCache cache(C, c.H, options);
    std::vector<float> y(std::size_t(std::max(c.p0, c.T)) * C);
    if (c.p0 > 0) {  // the history: its queries only shape outputs nobody reads
        const auto q_history = gpu_test::uniform(std::size_t(c.p0) * C, -2.0f, 2.0f, seed + 7);
        QVERIFY(lectern::sparse_attention(options, cache, c.p0, C, c.H, q_history.data(),
                                          in.k.data(), in.v.data(), nullptr, y.data(), nullptr));
    }
    lectern::AttentionTrace trace;
    const std::size_t off = std::size_t(c.p0) * C;
    QVERIFY(lectern::sparse_attention(options, cache, c.T, C, c.H, in.q.data(), in.k.data() + off,
                                      in.v.data() + off, nullptr, y.data(), nullptr, &trace));
    QCOMPARE(trace.width, c.K);

    // The engine's selection in the kernel's layout ([K-1] per pair; its K-th slot is unused).
    const std::size_t pairs = std::size_t(c.T) * c.H;
    const int n_select = c.n_select();
    std::vector<int> sel(pairs * n_select);
    std::vector<float> engine(pairs * n_select);
    int selected = 0, empty = 0;
    for (std::size_t p = 0; p < pairs; ++p) {
        QCOMPARE(trace.chunks[p * c.K + n_select], -1);
        for (int i = 0; i < n_select; ++i) {
            sel[p * n_select + i] = trace.chunks[p * c.K + i];
            engine[p * n_select + i] = trace.weights[p * c.K + i];
            (sel[p * n_select + i] >= 0 ? selected : empty) += 1;
        }
    }
    QVERIFY2(selected > 0, "the engine selected no chunk: the case checks nothing");

    std::vector<float> out(pairs * n_select + 2 * guard);
    std::memset(out.data(), 0xA5, out.size() * 4);
    const lectern::cuda::SparseAttentionShape shape{c.H, c.B, c.K};
    auto r = lectern::cuda::sparse_attention_chunk_weights(in.q.data(), c.T, c.p0, in.k.data(),
                                                           nullptr, sel.data(), shape,
                                                           out.data() + guard, nullptr);
    QVERIFY2(r, r ? "" : r.error().message.c_str());
    QVERIFY2(sparse_check::sentinels_intact(out, pairs * n_select), "sentinels overwritten");
    const float* got = out.data() + guard;

    // Both against the float64 reference, then against each other (-1 slots: both exactly 0).
    const auto want = sparse_check::reference_weights(c, in, sel.data());
    sparse_check::check_weights(c, sel.data(), got, want, sparse_check::weight_tolerance);
    if (QTest::currentTestFailed()) return;
    sparse_check::check_weights(c, sel.data(), engine.data(), want, sparse_check::weight_tolerance);
    if (QTest::currentTestFailed()) return;
    const std::vector<double> engine_d(engine.begin(), engine.end());
    sparse_check::check_weights(c, sel.data(), got, engine_d, 2 * sparse_check::weight_tolerance);
    qInfo("%d selected slots, %d empty", selected, empty);
}

// Refused with an error value before any launch: shapes (top_k 1 has no weights), positions,
// missing pointers, misaligned keys. T = 0 is a no-op.
void TestSparseAttentionWeightsEmu::rejectsBadArguments() {
    alignas(16) static float buf[1024] = {};
    const float* base = buf;
    float* w = buf + 512;
    const int* sel = reinterpret_cast<const int*>(buf + 256);
    using lectern::cuda::sparse_attention_chunk_weights;
    using lectern::cuda::SparseAttentionShape;
    const SparseAttentionShape shape{1, 16, 3};
    QVERIFY(sparse_attention_chunk_weights(base, 1, 0, base, nullptr, sel, shape, w, nullptr));
    QVERIFY(sparse_attention_chunk_weights(nullptr, 0, 0, nullptr, nullptr, nullptr, shape, nullptr,
                                           nullptr));
    for (const SparseAttentionShape bad : {SparseAttentionShape{0, 16, 3},
                                           {1, 0, 3},
                                           {1, 16, 1},
                                           {1, 16, 0},
                                           {1, 16, 17},
                                           {65536, 16, 3}})
        QVERIFY(!sparse_attention_chunk_weights(base, 1, 0, base, nullptr, sel, bad, w, nullptr));
    QVERIFY(!sparse_attention_chunk_weights(base, -1, 0, base, nullptr, sel, shape, w, nullptr));
    QVERIFY(!sparse_attention_chunk_weights(base, 1, -5, base, nullptr, sel, shape, w, nullptr));
    QVERIFY(!sparse_attention_chunk_weights(base, 1, 0, base, nullptr, nullptr, shape, w, nullptr));
    QVERIFY(
        !sparse_attention_chunk_weights(base, 1, 0, base, nullptr, sel, shape, nullptr, nullptr));
    QVERIFY(!sparse_attention_chunk_weights(nullptr, 1, 0, base, nullptr, sel, shape, w, nullptr));
    QVERIFY(!sparse_attention_chunk_weights(base, 1, 0, base + 1, nullptr, sel, shape, w, nullptr));
}

QTEST_GUILESS_MAIN(TestSparseAttentionWeightsEmu)
#include "tst_sparse_attention_weights_emu.moc"
