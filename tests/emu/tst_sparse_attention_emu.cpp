// The CUDA sparse attention kernels (kernels/sparse_attention*.cu), run on the CPU through the
// emulator (cuda_emu.h, the build-time rewrite cuda_to_cpp.py), against the float64 reference:
// the same checks as tests/kernels/tst_sparse_attention_cuda.cpp (shared: ../kernels/
// sparse_attention_check.h) - chunk means, selection with the near-tie rule, outputs, the paged
// layout with NaN-filled unused slots and its bit-identity with the dense layout, sentinels around
// the outputs, bad arguments refused - on every machine, GPU or not. Device pointers are host
// pointers here. Sizes are far smaller than the GPU test's (the emulator switches fibers at every
// shuffle) but cover every dispatch path: T * H <= 1024 pairs runs the block-per-pair kernels of
// both stages (decode), more pairs the warp-per-pair selection and, for stage 2, the tiled prefill
// kernel when 32 divides B or the warp-per-pair kernel otherwise. The trace weights kernel
// (sparse_attention_weights.cu) has its own emulated test: tst_sparse_attention_weights_emu.cpp.
#include <QTest>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cuda_emu_log.h"
#include "lectern/cuda/sparse_attention.h"
#include "sparse_attention_check.h"

using sparse_check::Case;
using sparse_check::guard;

class TestSparseAttentionEmu : public QObject {
    Q_OBJECT

  private Q_SLOTS:
    void matchesReference_data();
    void matchesReference();
    void groupedMatchesReference_data();
    void groupedMatchesReference();
    void splitDecodeMatchesReference_data();
    void splitDecodeMatchesReference();
    void tiesGoToTheLowerChunk_data();
    void tiesGoToTheLowerChunk();
    void rejectsBadArguments();
};

void TestSparseAttentionEmu::matchesReference_data() {
    QTest::addColumn<int>("heads");
    QTest::addColumn<int>("chunk");
    QTest::addColumn<int>("top_k");
    QTest::addColumn<int>("p0");
    QTest::addColumn<int>("tokens");
    QTest::addColumn<QString>("path");  // the dispatch the case exists to cover (checked)
    struct Row {
        int H, B, K, p0, T;
        const char* path;
    };
    const Row rows[] = {
        // T * H <= 1024 pairs: block-per-pair kernels of both stages (decode).
        {2, 16, 3, 0, 1, "block"},      // no complete chunk: selection all -1, one key
        {2, 16, 3, 5, 1, "block"},      //
        {2, 16, 3, 40, 1, "block"},     // 2 candidates for 2 slots
        {2, 16, 3, 1000, 1, "block"},   // 62 candidates
        {1, 16, 3, 5000, 1, "block"},   // 312 candidates: more than the 256 threads
        {2, 16, 4, 9000, 1, "block"},   // 562 candidates: threads score three
        {8, 16, 16, 4100, 2, "block"},  // 256 candidates, one per thread, 15 picks: every warp's
                                        // list reaches the final merge
        {3, 16, 16, 700, 2, "block"},   // K = 16 (the largest)
        {2, 32, 1, 50, 1, "block"},     // K = 1: no selection at all (null scratch)
        {1, 128, 4, 3000, 3, "block"},  // 16 key tiles: one per warp
        {1, 256, 4, 1500, 1, "block"},  // 32 key tiles: warps take two each
        {4, 32, 3, 100, 256, "block"},  // T * H = 1024: the largest block-per-pair launch
        // More pairs: warp-per-pair selection; stage 2 over query tiles when 32 divides B ...
        {4, 32, 3, 2100, 300, "tiled"}, // tiles start and end mid-tile, mid-chunk; 65+ candidates
        {4, 64, 1, 100, 300, "tiled"},  // K = 1; own chunks of two shared key tiles
        {3, 128, 4, 200, 350, "tiled"}, // four shared key tiles, chunks completing in the call
        {5, 32, 4, 0, 210, "tiled"},    // from position 0
        // ... else one warp per pair (B = 16: a 32-query tile would span two chunks).
        {4, 16, 3, 10, 300, "warp"},
        {33, 16, 4, 1100, 32, "warp"},  // 68 candidates: lanes score up to three
    };
    for (const Row& r : rows)
        QTest::addRow("%s H=%d B=%d K=%d p0=%d T=%d", r.path, r.H, r.B, r.K, r.p0, r.T)
            << r.H << r.B << r.K << r.p0 << r.T << QString::fromLatin1(r.path);
}

// Which kernels ran, from the emulator's launch log (not from the dispatch rule, which this
// would only restate): one block per (query, head) pair; query tiles x heads; or neither (several
// pairs per block). `log` holds the selection launch (when K > 1), then the attention launch.
static QString dispatch_path(const std::vector<emu::LaunchRecord>& log, const Case& c) {
    const unsigned pairs = unsigned(c.T * c.H);
    const unsigned tiles = unsigned((c.p0 + c.T - 1) / 32 - c.p0 / 32 + 1);
    if (log.size() != (c.K > 1 ? 2u : 1u)) return QStringLiteral("unexpected launch count");
    const emu::LaunchRecord& attend = log.back();
    const bool has_select = c.K > 1;
    const bool select_per_pair = has_select && log.front().grid_x == pairs;
    const bool attend_per_pair = attend.grid_x == pairs && attend.grid_y == 1;
    if (attend_per_pair && (select_per_pair || !has_select)) return QStringLiteral("block");
    if (attend_per_pair || select_per_pair) return QStringLiteral("mixed");  // stages disagree
    if (attend.grid_x == tiles && attend.grid_y == unsigned(c.H)) return QStringLiteral("tiled");
    return QStringLiteral("warp");
}

void TestSparseAttentionEmu::matchesReference() {
    QFETCH(int, heads);
    QFETCH(int, chunk);
    QFETCH(int, top_k);
    QFETCH(int, p0);
    QFETCH(int, tokens);
    QFETCH(QString, path);
    const Case c{heads, chunk, top_k, p0, tokens};
    const std::size_t C = c.C();
    // Fixed seeds: the emulator is deterministic, so a failure reproduces exactly.
    const std::uint32_t seed = 1000u * std::uint32_t(c.H) + std::uint32_t(c.p0 + c.T);
    const auto in = sparse_check::make_inputs(c, seed);

    // Kernels: means in two calls (as the engine adds chunks as they complete), then both stages.
    // Outputs sit between sentinel guards, so a write out of bounds shows.
    const lectern::cuda::SparseAttentionShape shape{c.H, c.B, c.K};
    const std::size_t n_sel = std::size_t(c.T) * c.H * std::size_t(c.n_select());
    const std::size_t n_y = std::size_t(c.T) * C;
    std::vector<float> means(std::size_t(std::max(c.n_complete(), 1)) * C);
    std::vector<int> sel_all(n_sel + 2 * guard);
    std::vector<float> y_all(n_y + 2 * guard);
    std::memset(sel_all.data(), 0xA5, sel_all.size() * 4);
    std::memset(y_all.data(), 0xA5, y_all.size() * 4);
    int* sel = sel_all.data() + guard;
    float* y = y_all.data() + guard;
    const int half = c.n_complete() / 2;
    auto r0 = lectern::cuda::chunk_means(in.k.data(), shape, 0, half, means.data(), nullptr);
    QVERIFY2(r0, r0 ? "" : r0.error().message.c_str());
    auto r1 = lectern::cuda::chunk_means(in.k.data(), shape, half, c.n_complete() - half,
                                         means.data(), nullptr);
    QVERIFY2(r1, r1 ? "" : r1.error().message.c_str());
    emu::launch_log().clear();
    auto r2 = lectern::cuda::sparse_attention(in.q.data(), c.T, c.p0, in.k.data(), in.v.data(),
                                              means.data(), shape, c.n_select() > 0 ? sel : nullptr,
                                              y, nullptr);
    QVERIFY2(r2, r2 ? "" : r2.error().message.c_str());
    QCOMPARE(dispatch_path(emu::launch_log(), c), path);
    QVERIFY2(sparse_check::sentinels_intact(sel_all, n_sel), "selection sentinels overwritten");
    QVERIFY2(sparse_check::sentinels_intact(y_all, n_y), "output sentinels overwritten");

    sparse_check::Reference want;
    sparse_check::check_means(c, in, means.data(), want);
    if (QTest::currentTestFailed()) return;
    sparse_check::check_selection(c, in, sel, want);
    if (QTest::currentTestFailed()) return;
    LECTERN_COMPARE_CLOSE(y, want.y.data(), n_y, 5e-5, 1e-4);

    // The paged layout: only the chunks this launch reads are resident, everything else is NaN.
    const auto paged = sparse_check::scatter_pages(in.k, in.v, c.rows(), c.B, C, want.read,
                                                   seed + 4);
    std::vector<float> y_paged(n_y + 2 * guard);
    std::memset(y_paged.data(), 0xA5, y_paged.size() * 4);
    auto r3 = lectern::cuda::sparse_attention_attend_paged(
        in.q.data(), c.T, c.p0, paged.keys.data(), paged.values.data(), paged.page.data(),
        c.n_select() > 0 ? sel : nullptr, shape, y_paged.data() + guard, nullptr);
    QVERIFY2(r3, r3 ? "" : r3.error().message.c_str());
    QVERIFY2(sparse_check::sentinels_intact(y_paged, n_y), "paged output sentinels overwritten");
    LECTERN_COMPARE_CLOSE(y_paged.data() + guard, want.y.data(), n_y, 5e-5, 1e-4);
    QVERIFY2(std::memcmp(y_paged.data() + guard, y, n_y * 4) == 0,
             "paged output differs from the dense output");
}

// Stage 1 for case c on the emulator (the means of every complete chunk, then the selection into
// `sel`, one int when K == 1), both checked against the float64 reference, which `want` then
// holds. Reports failures with QVERIFY: callers check QTest::currentTestFailed() after it.
static void select_checked(const Case& c, const sparse_check::Inputs& in, std::vector<int>& sel,
                           sparse_check::Reference& want) {
    const lectern::cuda::SparseAttentionShape shape{c.H, c.B, c.K};
    std::vector<float> means(std::size_t(std::max(c.n_complete(), 1)) * c.C());
    sel.assign(std::max<std::size_t>(std::size_t(c.T) * c.H * std::size_t(c.n_select()), 1), 0);
    QVERIFY(lectern::cuda::chunk_means(in.k.data(), shape, 0, c.n_complete(), means.data(),
                                       nullptr));
    if (c.n_select() > 0)
        QVERIFY(lectern::cuda::sparse_attention_select(in.q.data(), c.T, c.p0, means.data(),
                                                       shape, sel.data(), nullptr));
    sparse_check::check_means(c, in, means.data(), want);
    if (QTest::currentTestFailed()) return;
    sparse_check::check_selection(c, in, sel.data(), want);
}

// After a stage-2 call given `scratch` wrote y (dense rows): the same call over the paged layout
// (chunks in shuffled slots, the rest NaN; seed + 4) must give y bit for bit, and one byte too
// little scratch must be refused, not silently ignored.
static void given_scratch_paged_and_short(const Case& c, const sparse_check::Inputs& in,
                                          const sparse_check::Reference& want, std::uint32_t seed,
                                          const int* sel, const float* y,
                                          const lectern::cuda::SparseAttentionScratch& scratch) {
    const lectern::cuda::SparseAttentionShape shape{c.H, c.B, c.K};
    const std::size_t n_y = std::size_t(c.T) * c.C();
    const auto paged = sparse_check::scatter_pages(in.k, in.v, c.rows(), c.B, c.C(), want.read,
                                                   seed + 4);
    std::vector<float> y_paged(n_y);
    auto ok_paged = lectern::cuda::sparse_attention_attend_paged(
        in.q.data(), c.T, c.p0, paged.keys.data(), paged.values.data(), paged.page.data(), sel,
        shape, y_paged.data(), nullptr, scratch);
    QVERIFY2(ok_paged, ok_paged ? "" : ok_paged.error().message.c_str());
    QVERIFY2(std::memcmp(y_paged.data(), y, n_y * 4) == 0,
             "paged output differs from the dense output");
    std::vector<float> y_short(n_y);
    lectern::cuda::SparseAttentionScratch small = scratch;
    small.bytes -= 4;
    QVERIFY(!lectern::cuda::sparse_attention_attend(in.q.data(), c.T, c.p0, in.k.data(),
                                                    in.v.data(), sel, shape, y_short.data(),
                                                    nullptr, small));
}

// The tensor-core path (sparse_attention_grouped.cu), taken when the caller gives scratch: queries
// grouped by selected chunk, 64-query tiles, the own chunk causally, partials merged. Against the
// float64 reference over half-rounded inputs (sparse_check::half_reference_y, tolerance there);
// the selection is stage 1's, checked as in matchesReference. Sizes stay small: every lane of the
// emulator computes each 16 x 16 x 16 product whole.
void TestSparseAttentionEmu::groupedMatchesReference_data() {
    QTest::addColumn<int>("heads");
    QTest::addColumn<int>("chunk");
    QTest::addColumn<int>("top_k");
    QTest::addColumn<int>("p0");
    QTest::addColumn<int>("tokens");
    QTest::newRow("B=64 K=3, tiles start and end mid-tile") << 2 << 64 << 3 << 200 << 600;
    QTest::newRow("B=128 K=4, lists of several tiles") << 3 << 128 << 4 << 1000 << 400;
    QTest::newRow("K=1: own chunk only") << 4 << 64 << 1 << 50 << 300;
    QTest::newRow("from position 0, chunks completing in the call") << 5 << 64 << 3 << 0 << 230;
    QTest::newRow("K=16, fewer complete chunks than picks") << 2 << 64 << 16 << 300 << 520;
}

void TestSparseAttentionEmu::groupedMatchesReference() {
    QFETCH(int, heads);
    QFETCH(int, chunk);
    QFETCH(int, top_k);
    QFETCH(int, p0);
    QFETCH(int, tokens);
    const Case c{heads, chunk, top_k, p0, tokens};
    const std::size_t C = c.C();
    const std::uint32_t seed = 7000u + 100u * std::uint32_t(c.H) + std::uint32_t(c.T);
    const auto in = sparse_check::make_inputs(c, seed);
    const lectern::cuda::SparseAttentionShape shape{c.H, c.B, c.K};
    const std::size_t n_y = std::size_t(c.T) * C;
    std::vector<int> sel;
    sparse_check::Reference want;
    select_checked(c, in, sel, want);
    if (QTest::currentTestFailed()) return;
    const int* sel_or_null = c.n_select() > 0 ? sel.data() : nullptr;
    const auto want_y = sparse_check::half_reference_y(c, in, sel_or_null);

    // Exactly the bytes asked for, between sentinels (a write past them shows).
    const std::size_t bytes = lectern::cuda::sparse_attention_scratch_bytes(c.T, c.p0, shape);
    QVERIFY(bytes > 0);
    std::vector<float> scratch_all(bytes / 4 + 2 * guard);
    std::memset(scratch_all.data(), 0xA5, scratch_all.size() * 4);
    const lectern::cuda::SparseAttentionScratch scratch{scratch_all.data() + guard, bytes};
    std::vector<float> y_all(n_y + 2 * guard);
    std::memset(y_all.data(), 0xA5, y_all.size() * 4);
    float* y = y_all.data() + guard;
    emu::launch_log().clear();
    auto ok = lectern::cuda::sparse_attention_attend(in.q.data(), c.T, c.p0, in.k.data(),
                                                     in.v.data(), sel_or_null, shape, y, nullptr,
                                                     scratch);
    QVERIFY2(ok, ok ? "" : ok.error().message.c_str());
    // The own-chunk kernel ran last over (64-query tiles x heads), after the five list kernels
    // when there were picks to group.
    const unsigned own_tiles = unsigned((c.p0 + c.T - 1) / 64 - c.p0 / 64 + 1);
    const auto& log = emu::launch_log();
    QVERIFY(!log.empty());
    QCOMPARE(log.back().grid_x, own_tiles);
    QCOMPARE(log.back().grid_y, unsigned(c.H));
    QCOMPARE(log.size(), std::size_t(c.n_select() > 0 && c.n_complete() > 0 ? 6 : 1));
    QVERIFY2(sparse_check::sentinels_intact(y_all, n_y), "output sentinels overwritten");
    QVERIFY2(sparse_check::sentinels_intact(scratch_all, bytes / 4),
             "scratch sentinels overwritten");
    LECTERN_COMPARE_CLOSE(y, want_y.data(), n_y, sparse_check::half_path_tolerance, 0.0);

    given_scratch_paged_and_short(c, in, want, seed, sel_or_null, y, scratch);
}

// Decode with each (query, head)'s keys split among blocks (sparse_attention_attend.cu), taken when
// the caller gives scratch: the split blocks, then the merge of their parts, against the float64
// reference with the float32 kernels' tolerance; dense and paged bit-identical; the scratch,
// exactly as large as asked, between sentinels. Splits that get no key (more splits than tiles)
// must weigh nothing. The emulated device has one SM, so the automatic count (0) is one split.
void TestSparseAttentionEmu::splitDecodeMatchesReference_data() {
    QTest::addColumn<int>("heads");
    QTest::addColumn<int>("chunk");
    QTest::addColumn<int>("top_k");
    QTest::addColumn<int>("p0");
    QTest::addColumn<int>("tokens");
    QTest::addColumn<int>("splits");
    QTest::newRow("2 splits, 3 chunks of keys") << 2 << 16 << 3 << 1000 << 1 << 2;
    QTest::newRow("3 splits of 8 tiles over 2 chunks of 128") << 1 << 128 << 3 << 700 << 2 << 3;
    QTest::newRow("7 splits, 6 keys: six splits empty") << 2 << 16 << 3 << 5 << 1 << 7;
    QTest::newRow("16 splits, K=4, uneven runs") << 1 << 256 << 4 << 1500 << 1 << 16;
    QTest::newRow("5 splits, K=1: own chunk only") << 3 << 64 << 1 << 200 << 2 << 5;
    QTest::newRow("automatic: one SM, one split") << 2 << 32 << 3 << 300 << 1 << 0;
}

void TestSparseAttentionEmu::splitDecodeMatchesReference() {
    QFETCH(int, heads);
    QFETCH(int, chunk);
    QFETCH(int, top_k);
    QFETCH(int, p0);
    QFETCH(int, tokens);
    QFETCH(int, splits);
    const Case c{heads, chunk, top_k, p0, tokens};
    const std::size_t C = c.C();
    const std::uint32_t seed = 9000u + 100u * std::uint32_t(c.H) + std::uint32_t(splits);
    const auto in = sparse_check::make_inputs(c, seed);
    const lectern::cuda::SparseAttentionShape shape{c.H, c.B, c.K};
    const std::size_t n_y = std::size_t(c.T) * C;
    std::vector<int> sel;
    sparse_check::Reference want;
    select_checked(c, in, sel, want);
    if (QTest::currentTestFailed()) return;
    const int* sel_or_null = c.n_select() > 0 ? sel.data() : nullptr;

    const std::size_t bytes = lectern::cuda::sparse_attention_scratch_bytes(c.T, c.p0, shape);
    QVERIFY(bytes > 0);
    std::vector<float> scratch_all(bytes / 4 + 2 * guard);
    std::memset(scratch_all.data(), 0xA5, scratch_all.size() * 4);
    const lectern::cuda::SparseAttentionScratch scratch{scratch_all.data() + guard, bytes, splits};
    std::vector<float> y_all(n_y + 2 * guard);
    std::memset(y_all.data(), 0xA5, y_all.size() * 4);
    float* y = y_all.data() + guard;
    emu::launch_log().clear();
    auto ok = lectern::cuda::sparse_attention_attend(in.q.data(), c.T, c.p0, in.k.data(),
                                                     in.v.data(), sel_or_null, shape, y, nullptr,
                                                     scratch);
    QVERIFY2(ok, ok ? "" : ok.error().message.c_str());
    // The split blocks (pairs x splits), then the merge (one block per pair); one split: the
    // blocks write y themselves.
    const unsigned pairs = unsigned(c.T * c.H);
    const unsigned used = unsigned(std::max(splits, 1));
    const auto& log = emu::launch_log();
    QCOMPARE(log.size(), std::size_t(used > 1 ? 2 : 1));
    QCOMPARE(log.front().grid_x, pairs * used);
    QCOMPARE(log.back().grid_x, pairs);
    QVERIFY2(sparse_check::sentinels_intact(y_all, n_y), "output sentinels overwritten");
    QVERIFY2(sparse_check::sentinels_intact(scratch_all, bytes / 4),
             "scratch sentinels overwritten");
    LECTERN_COMPARE_CLOSE(y, want.y.data(), n_y, 5e-5, 1e-4);

    given_scratch_paged_and_short(c, in, want, seed, sel_or_null, y, scratch);
    if (QTest::currentTestFailed()) return;
    // More splits than the parts have room for is an error.
    const lectern::cuda::SparseAttentionScratch too_many{scratch.data, bytes, 17};
    QVERIFY(!lectern::cuda::sparse_attention_attend(in.q.data(), c.T, c.p0, in.k.data(),
                                                    in.v.data(), sel_or_null, shape, y, nullptr,
                                                    too_many));
}

// Exact ties, which random inputs never produce (and matchesReference's near-tie rule would accept
// either way): every odd chunk's keys copy the chunk before, so both have bit-equal means, hence
// bit-equal scores in float32 as in float64. An odd chunk may then only be selected together with
// its lower twin, which ranks first. K = 4 (3 picks) makes the last pick split a pair of twins.
void TestSparseAttentionEmu::tiesGoToTheLowerChunk_data() {
    QTest::addColumn<int>("heads");
    QTest::addColumn<int>("p0");
    QTest::addColumn<int>("tokens");
    QTest::newRow("block-per-pair selection") << 4 << 3000 << 2;   // 187 candidates
    QTest::newRow("warp-per-pair selection") << 4 << 1100 << 300;  // more than 1024 pairs
}

void TestSparseAttentionEmu::tiesGoToTheLowerChunk() {
    QFETCH(int, heads);
    QFETCH(int, p0);
    QFETCH(int, tokens);
    const Case c{heads, 16, 4, p0, tokens};
    const std::size_t C = c.C();
    auto in = sparse_check::make_inputs(c, 77);
    for (int r = c.B; r < c.n_complete() * c.B; ++r)
        if ((r / c.B) % 2 == 1)
            std::copy_n(in.k.begin() + std::size_t(r - c.B) * C, C,
                        in.k.begin() + std::size_t(r) * C);
    const lectern::cuda::SparseAttentionShape shape{c.H, c.B, c.K};
    std::vector<float> means(std::size_t(c.n_complete()) * C);
    std::vector<int> sel(std::size_t(c.T) * c.H * c.n_select());
    QVERIFY(lectern::cuda::chunk_means(in.k.data(), shape, 0, c.n_complete(), means.data(),
                                       nullptr));
    QVERIFY(lectern::cuda::sparse_attention_select(in.q.data(), c.T, c.p0, means.data(), shape,
                                                   sel.data(), nullptr));
    int split_pairs = 0;  // twins of which only one was picked: where the rule decided
    for (std::size_t pair = 0; pair < std::size_t(c.T) * c.H; ++pair) {
        const int* got = &sel[pair * c.n_select()];
        const auto picked = [&](int chunk) { return std::count(got, got + c.n_select(), chunk); };
        for (int i = 0; i < c.n_select(); ++i) {
            if (got[i] < 0) continue;
            const int twin = got[i] ^ 1;
            if (twin * c.B + c.B > (c.p0 + int(pair) / c.H) / c.B * c.B) continue;  // no twin
            if (picked(twin)) continue;
            ++split_pairs;
            QVERIFY2(got[i] % 2 == 0, qPrintable(QStringLiteral("pair %1: chunk %2 picked, not "
                                                                "its equal lower twin %3")
                                                     .arg(pair).arg(got[i]).arg(twin)));
        }
    }
    QVERIFY2(split_pairs > 0, "no tie was decided: the case does not test the rule");
}

// Arguments the launchers must refuse with an error value before launching anything: misaligned
// rows (float4 loads), bad shapes and positions, a missing selection.
void TestSparseAttentionEmu::rejectsBadArguments() {
    alignas(16) static float buf[1024] = {};
    const float* base = buf;
    float* y = buf + 512;
    int* sel = reinterpret_cast<int*>(buf + 256);
    using lectern::cuda::SparseAttentionShape;
    const SparseAttentionShape shape{1, 16, 1};
    QVERIFY(lectern::cuda::sparse_attention_attend(base, 1, 0, base, base, nullptr, shape, y,
                                                   nullptr));
    QVERIFY(!lectern::cuda::sparse_attention_attend(base, 1, 0, base + 1, base, nullptr, shape, y,
                                                    nullptr));
    QVERIFY(!lectern::cuda::sparse_attention_attend_paged(base, 1, 0, base, base + 2, nullptr,
                                                          nullptr, shape, y, nullptr));
    QVERIFY(!lectern::cuda::sparse_attention_attend(base, 1, 0, base, base, nullptr, shape, y + 1,
                                                    nullptr));
    const SparseAttentionShape select_shape{1, 16, 3};
    QVERIFY(!lectern::cuda::sparse_attention_select(base, 1, 100, base + 1, select_shape, sel,
                                                    nullptr));
    // Shapes: heads, chunk size and top_k out of range.
    for (const SparseAttentionShape bad : {SparseAttentionShape{0, 16, 3}, {1, 0, 3}, {1, 16, 0},
                                           {1, 16, 17}, {65536, 16, 3}})
        QVERIFY(!lectern::cuda::sparse_attention(base, 1, 0, base, base, base, bad, sel, y,
                                                 nullptr));
    // Positions and the selection.
    QVERIFY(!lectern::cuda::sparse_attention_attend(base, -1, 0, base, base, sel, select_shape, y,
                                                    nullptr));
    QVERIFY(!lectern::cuda::sparse_attention_attend(base, 1, -5, base, base, sel, select_shape, y,
                                                    nullptr));
    QVERIFY(!lectern::cuda::sparse_attention_attend(base, 1, 0, base, base, nullptr, select_shape,
                                                    y, nullptr));
    QVERIFY(!lectern::cuda::chunk_means(base, select_shape, -1, 1, y, nullptr));
}

QTEST_GUILESS_MAIN(TestSparseAttentionEmu)
#include "tst_sparse_attention_emu.moc"
