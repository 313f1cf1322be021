// lectern::cuda sparse attention (kernels/sparse_attention*.cu) against a float64 reference built
// from tests/cpu/sparse_attention_reference.h (ref::top_indices, ref::attend: the §3.3 native
// semantics written from the spec): chunk means, per-(query, head) chunk selection, and the output
// over the dense KV layout and over a paged one (sparse_attention_attend_paged: the same rows
// scattered into a pool in shuffled slot order, spare slots and unread chunks' slots all NaN, so a
// wrong indirection shows as NaN).
// Cases: decode (T = 1 at positions 0, 5, 4095, 10000; T = 1 and 3 at 100000 with B = 128, 781
// chunks, and B = 16, 6250 candidate chunks), small T (T = 4 x H = 40, T = 256 x H = 4: exactly the
// 1024-pair limit), prefill (T = 300 starting mid-chunk, so chunks completed inside the call become
// candidates for its later queries; also at p0 = 100000), B = 16 / 128 / 2048, K = 1 / 3 / 4,
// H = 1 / 2 / 4 / 12 / 40. T * H <= 1024 pairs runs the block-per-pair kernels of both stages, more
// pairs the warp-per-pair ones (sparse_attention_internal.cuh); both sides are covered. Keys carry
// a per-chunk offset so chunk scores are well separated.
// Tolerances:
// - means: |gpu - ref| <= 1e-5 + 1e-5 |ref| (float32 sum of B rows, then / B).
// - selection: the GPU's chunks, ranked by reference score, must match the reference's top (K-1)
//   scores to within 1e-5 * max_c sum_i |q_i mean_ci| + 1e-6 (float32 scoring); an exactly equal
//   set is required unless such a near-tie exists (near-ties are counted and printed).
// - output: computed by the reference over the GPU's selected set; |gpu - ref| <= 5e-5 + 1e-4 |ref|
//   (float32 online softmax over at most K * B keys vs float64). No NaN; sentinels intact.
// - paged output: bit-identical to the dense output (one code path, same key order), hence within
//   the same tolerance of the reference.
// - the tensor-core path (prefill calls given a SparseAttentionScratch, when 64 divides B and
//   T * H > 1024; its products take halves): against the float64 reference over q / 8, k and v
//   rounded to half, |gpu - ref| <= 1e-3 absolute (sparse_check::half_path_tolerance, reasons
//   there); dense and paged bit-identical; the scratch, exactly as large as asked, between
//   sentinels.
// - decode given scratch (each pair's keys split among blocks, their softmax parts merged): the
//   float32 tolerance above, for the device's own split count and for 2 and 5; dense and paged
//   bit-identical; the scratch between sentinels.
// Trace weights (sparse_attention_chunk_weights, matchesWeights): per (query, head) and selected
// chunk, the share of the softmax mass, against ref::group_shares over random valid selections,
// dense and paged (bit-identical), -1 slots exactly 0, shares in [0, 1] summing to <= 1 + tol;
// |gpu - ref| <= 1e-5 absolute (sparse_check::weight_tolerance, reasons there). Decode and prefill
// across chunk boundaries, first-chunk queries, K = 2 .. 16, B = 16 .. 2048, H up to 40.
// The host side (inputs, reference, checks, paged layout) is sparse_attention_check.h, shared with
// tests/emu/tst_sparse_attention_emu.cpp and tst_sparse_attention_weights_emu.cpp, which run these
// kernels on a CPU emulator in every CI (the latter also against the CPU engine's own trace).
#include <QTest>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gpu_test_util.h"
#include "sparse_attention_check.h"
#ifdef LECTERN_HAVE_CUDA
#include "lectern/cuda/cuda_device.h"
#include "lectern/cuda/sparse_attention.h"
#endif

class TestSparseAttentionCuda : public QObject {
    Q_OBJECT

  private Q_SLOTS:
    void initTestCase();
    void matchesReference_data();
    void matchesReference();
    void matchesWeights_data();
    void matchesWeights();
    void rejectsMisalignedRows();
};

void TestSparseAttentionCuda::initTestCase() {
    LECTERN_REQUIRE_GPU();
}

void TestSparseAttentionCuda::matchesReference_data() {
    QTest::addColumn<int>("heads");
    QTest::addColumn<int>("chunk");
    QTest::addColumn<int>("top_k");
    QTest::addColumn<int>("p0");
    QTest::addColumn<int>("tokens");
    const int decode_shapes[][3] = {{4, 16, 3}, {12, 128, 4}, {1, 2048, 4}, {12, 16, 1}};
    for (const auto& s : decode_shapes)
        for (int p : {0, 5, 4095, 10000})
            QTest::addRow("decode H=%d B=%d K=%d pos=%d", s[0], s[1], s[2], p)
                << s[0] << s[1] << s[2] << p << 1;
    // Long contexts (hundreds to thousands of candidate chunks) and small T > 1, all on the
    // block-per-pair kernels; the last is the largest T * H that still goes there.
    const int small_t[][5] = {// H, B, K, p0, T
                              {1, 128, 3, 100000, 1}, {1, 128, 4, 100000, 3}, {2, 16, 3, 100000, 1},
                              {2, 16, 4, 99999, 2},   {40, 128, 3, 5000, 1},  {40, 128, 3, 5000, 4},
                              {4, 128, 3, 2000, 256}};
    for (const auto& s : small_t)
        QTest::addRow("small T H=%d B=%d K=%d p0=%d T=%d", s[0], s[1], s[2], s[3], s[4])
            << s[0] << s[1] << s[2] << s[3] << s[4];
    const int prefill[][4] = {// H, B, K, p0 (all mid-chunk); H = 1 stays block-per-pair
                              {4, 128, 3, 1000},  {12, 16, 4, 77},    {1, 2048, 4, 4000},
                              {12, 128, 1, 300},  {4, 16, 3, 10},     {4, 2048, 3, 1900},
                              {40, 128, 3, 1000}, {1, 128, 4, 100000}};
    for (const auto& s : prefill)
        QTest::addRow("prefill H=%d B=%d K=%d p0=%d T=300", s[0], s[1], s[2], s[3])
            << s[0] << s[1] << s[2] << s[3] << 300;
#ifndef LECTERN_CUDA_EMULATED  // minutes on the emulator; tst_sparse_attention_emu has small ones
    // Longer prefill calls for the tensor-core path: lists of many 64-query tiles at B = 2048
    // (a segment of the model's 1,024 rows), and 40 heads over a dozen chunks.
    const int grouped[][5] = {{8, 2048, 3, 4000, 1024}, {40, 256, 4, 3000, 200}};
    for (const auto& s : grouped)
        QTest::addRow("prefill H=%d B=%d K=%d p0=%d T=%d", s[0], s[1], s[2], s[3], s[4])
            << s[0] << s[1] << s[2] << s[3] << s[4];
#endif
}

void TestSparseAttentionCuda::matchesReference() {
#ifdef LECTERN_HAVE_CUDA
    QFETCH(int, heads);
    QFETCH(int, chunk);
    QFETCH(int, top_k);
    QFETCH(int, p0);
    QFETCH(int, tokens);
    using sparse_check::guard;
    const sparse_check::Case c{heads, chunk, top_k, p0, tokens};
    const int H = c.H, B = c.B, K = c.K, T = c.T;
    const std::size_t C = c.C();
    const int n_complete = c.n_complete();
    const int n_select = c.n_select();
    const std::uint32_t seed = gpu_test::fresh_seed();
    const auto in = sparse_check::make_inputs(c, seed);
    const auto& q = in.q;
    const auto& k = in.k;
    const auto& v = in.v;

    // Device run: means of every complete chunk, selection, attention.
    using lectern::cuda::DeviceBuffer;
    const lectern::cuda::SparseAttentionShape shape{H, B, K};
    const std::size_t n_means = std::size_t(std::max(n_complete, 1)) * C;
    const std::size_t n_sel = std::size_t(T) * H * std::size_t(n_select);
    const std::size_t n_y = std::size_t(T) * C;
    auto dq = DeviceBuffer::allocate(q.size() * 4);
    auto dk = DeviceBuffer::allocate(k.size() * 4);
    auto dv = DeviceBuffer::allocate(v.size() * 4);
    auto dm = DeviceBuffer::allocate(n_means * 4);
    auto ds = DeviceBuffer::allocate((n_sel + 2 * guard) * 4);
    auto dy = DeviceBuffer::allocate((n_y + 2 * guard) * 4);
    QVERIFY(dq && dk && dv && dm && ds && dy);
    QVERIFY(dq->upload(q.data(), q.size() * 4));
    QVERIFY(dk->upload(k.data(), k.size() * 4));
    QVERIFY(dv->upload(v.data(), v.size() * 4));
    QVERIFY(ds->fill(0xA5));
    QVERIFY(dy->fill(0xA5));
    const auto* q_dev = static_cast<const float*>(dq->data());
    const auto* k_dev = static_cast<const float*>(dk->data());
    const auto* v_dev = static_cast<const float*>(dv->data());
    auto* m_dev = static_cast<float*>(dm->data());
    int* sel_dev = static_cast<int*>(ds->data()) + guard;
    float* y_dev = static_cast<float*>(dy->data()) + guard;

    // Means in two calls (as the engine adds chunks as they complete): the second starts at `half`.
    const int half = n_complete / 2;
    auto r0 = lectern::cuda::chunk_means(k_dev, shape, 0, half, m_dev, nullptr);
    QVERIFY2(r0, r0 ? "" : r0.error().message.c_str());
    auto r1 = lectern::cuda::chunk_means(k_dev, shape, half, n_complete - half, m_dev, nullptr);
    QVERIFY2(r1, r1 ? "" : r1.error().message.c_str());
    auto r2 = lectern::cuda::sparse_attention(q_dev, T, p0, k_dev, v_dev, m_dev, shape,
                                              n_select > 0 ? sel_dev : nullptr, y_dev, nullptr);
    QVERIFY2(r2, r2 ? "" : r2.error().message.c_str());

    std::vector<float> means(n_means);
    std::vector<int> sel_all(n_sel + 2 * guard);
    std::vector<float> y_all(n_y + 2 * guard);
    QVERIFY(dm->download(means.data(), means.size() * 4));
    QVERIFY(ds->download(sel_all.data(), sel_all.size() * 4));
    QVERIFY(dy->download(y_all.data(), y_all.size() * 4));
    QVERIFY2(sparse_check::sentinels_intact(sel_all, n_sel), "selection sentinels overwritten");
    QVERIFY2(sparse_check::sentinels_intact(y_all, n_y), "output sentinels overwritten");

    // Means, selection and output against the float64 reference.
    sparse_check::Reference want;
    sparse_check::check_means(c, in, means.data(), want);
    if (QTest::currentTestFailed()) return;
    sparse_check::check_selection(c, in, sel_all.data() + guard, want);
    if (QTest::currentTestFailed()) return;
    LECTERN_COMPARE_CLOSE(y_all.data() + guard, want.y.data(), n_y, 5e-5, 1e-4);

    // The paged layout: only the chunks this launch reads are resident (own chunks, selected).
    const auto paged = sparse_check::scatter_pages(k, v, c.rows(), B, C, want.read, seed + 4);
    auto dkp = DeviceBuffer::allocate(paged.keys.size() * 4);
    auto dvp = DeviceBuffer::allocate(paged.values.size() * 4);
    auto dpage = DeviceBuffer::allocate(paged.page.size() * 4);
    QVERIFY(dkp && dvp && dpage);
    QVERIFY(dkp->upload(paged.keys.data(), paged.keys.size() * 4));
    QVERIFY(dvp->upload(paged.values.data(), paged.values.size() * 4));
    QVERIFY(dpage->upload(paged.page.data(), paged.page.size() * 4));
    QVERIFY(dy->fill(0xA5));
    auto r3 = lectern::cuda::sparse_attention_attend_paged(
        q_dev, T, p0, static_cast<const float*>(dkp->data()),
        static_cast<const float*>(dvp->data()), static_cast<const int*>(dpage->data()),
        n_select > 0 ? sel_dev : nullptr, shape, y_dev, nullptr);
    QVERIFY2(r3, r3 ? "" : r3.error().message.c_str());
    std::vector<float> y_paged(n_y + 2 * guard);
    QVERIFY(dy->download(y_paged.data(), y_paged.size() * 4));
    QVERIFY2(sparse_check::sentinels_intact(y_paged, n_y), "paged output sentinels overwritten");
    LECTERN_COMPARE_CLOSE(y_paged.data() + guard, want.y.data(), n_y, 5e-5, 1e-4);
    QVERIFY2(std::memcmp(y_paged.data() + guard, y_all.data() + guard, n_y * 4) == 0,
             "paged output differs from the dense output");

    // Given exactly the scratch it asks for (between sentinels), dense and paged: a decode call
    // (T * H <= 1024) splits each pair's keys among blocks (float32: the reference and tolerance
    // above; the device's own count, and two forced ones), a prefill call takes the tensor-core
    // path where it can (against the reference over half-rounded inputs).
    const std::size_t bytes = lectern::cuda::sparse_attention_scratch_bytes(T, p0, shape);
    if (bytes == 0) return;
    const bool decode = (long long)T * H <= 1024;
    auto dscratch = DeviceBuffer::allocate(bytes + 2 * guard * 4);
    QVERIFY(dscratch && dscratch->fill(0xA5));
    const auto want_scratch =
        decode ? want.y
               : sparse_check::half_reference_y(c, in,
                                                n_select > 0 ? sel_all.data() + guard : nullptr);
    const double abs_tol = decode ? 5e-5 : sparse_check::half_path_tolerance;
    const double rel_tol = decode ? 1e-4 : 0.0;
    for (const int splits : decode ? std::vector<int>{0, 2, 5} : std::vector<int>{0}) {
        const lectern::cuda::SparseAttentionScratch scratch{
            static_cast<float*>(dscratch->data()) + guard, bytes, splits};
        for (const bool paged_rows : {false, true}) {
            QVERIFY(dy->fill(0xA5));
            auto r4 = paged_rows
                          ? lectern::cuda::sparse_attention_attend_paged(
                                q_dev, T, p0, static_cast<const float*>(dkp->data()),
                                static_cast<const float*>(dvp->data()),
                                static_cast<const int*>(dpage->data()),
                                n_select > 0 ? sel_dev : nullptr, shape, y_dev, nullptr, scratch)
                          : lectern::cuda::sparse_attention_attend(
                                q_dev, T, p0, k_dev, v_dev, n_select > 0 ? sel_dev : nullptr,
                                shape, y_dev, nullptr, scratch);
            QVERIFY2(r4, r4 ? "" : r4.error().message.c_str());
            std::vector<float> y_scratch(n_y + 2 * guard);
            std::vector<float> scratch_all((bytes + 2 * guard * 4) / 4);
            QVERIFY(dy->download(y_scratch.data(), y_scratch.size() * 4));
            QVERIFY(dscratch->download(scratch_all.data(), scratch_all.size() * 4));
            QVERIFY2(sparse_check::sentinels_intact(y_scratch, n_y),
                     "output sentinels overwritten");
            QVERIFY2(sparse_check::sentinels_intact(scratch_all, bytes / 4),
                     "scratch sentinels overwritten");
            LECTERN_COMPARE_CLOSE(y_scratch.data() + guard, want_scratch.data(), n_y, abs_tol,
                                  rel_tol);
            if (!paged_rows)
                y_all = y_scratch;  // the paged run must match it bit for bit
            else
                QVERIFY2(std::memcmp(y_scratch.data() + guard, y_all.data() + guard, n_y * 4) == 0,
                         qPrintable(QStringLiteral("given scratch (splits %1): paged output "
                                                   "differs from the dense output")
                                        .arg(splits)));
        }
    }
#endif
}

void TestSparseAttentionCuda::matchesWeights_data() {
    QTest::addColumn<int>("heads");
    QTest::addColumn<int>("chunk");
    QTest::addColumn<int>("top_k");
    QTest::addColumn<int>("p0");
    QTest::addColumn<int>("tokens");
    const int rows[][5] = {// H, B, K, p0, T
                           {4, 16, 2, 5, 1},       {4, 16, 3, 20, 1},      {12, 128, 3, 10000, 1},
                           {40, 128, 3, 5000, 4},  {2, 32, 16, 600, 1},    {2, 32, 16, 200, 3},
                           {1, 2048, 4, 10000, 1}, {4, 16, 3, 10, 300},    {12, 128, 4, 1000, 300},
                           {2, 20, 5, 130, 60},    {40, 128, 3, 1000, 300}};
    for (const auto& r : rows)
        QTest::addRow("H=%d B=%d K=%d p0=%d T=%d", r[0], r[1], r[2], r[3], r[4])
            << r[0] << r[1] << r[2] << r[3] << r[4];
}

void TestSparseAttentionCuda::matchesWeights() {
#ifdef LECTERN_HAVE_CUDA
    QFETCH(int, heads);
    QFETCH(int, chunk);
    QFETCH(int, top_k);
    QFETCH(int, p0);
    QFETCH(int, tokens);
    const sparse_check::Case c{heads, chunk, top_k, p0, tokens};
    const lectern::cuda::SparseAttentionShape shape{c.H, c.B, c.K};
    const std::uint32_t seed = gpu_test::fresh_seed();
    using lectern::cuda::DeviceBuffer;
    sparse_check::check_weights_case(
        c, seed,
        [&](const std::vector<float>& q, const std::vector<float>& keys,
            const std::vector<int>& page, const std::vector<int>& sel,
            std::vector<float>& out) -> QString {
            auto dq = DeviceBuffer::allocate(q.size() * 4);
            auto dk = DeviceBuffer::allocate(keys.size() * 4);
            auto dp = DeviceBuffer::allocate(std::max<std::size_t>(page.size(), 1) * 4);
            auto ds = DeviceBuffer::allocate(std::max<std::size_t>(sel.size(), 1) * 4);
            auto dw = DeviceBuffer::allocate(out.size() * 4);
            if (!dq || !dk || !dp || !ds || !dw) return QStringLiteral("allocation failed");
            if (!dq->upload(q.data(), q.size() * 4) || !dk->upload(keys.data(), keys.size() * 4) ||
                (!page.empty() && !dp->upload(page.data(), page.size() * 4)) ||
                !ds->upload(sel.data(), sel.size() * 4) || !dw->upload(out.data(), out.size() * 4))
                return QStringLiteral("upload failed");
            auto r = lectern::cuda::sparse_attention_chunk_weights(
                static_cast<const float*>(dq->data()), c.T, c.p0,
                static_cast<const float*>(dk->data()),
                page.empty() ? nullptr : static_cast<const int*>(dp->data()),
                static_cast<const int*>(ds->data()), shape,
                static_cast<float*>(dw->data()) + sparse_check::guard, nullptr);
            if (!r) return QString::fromStdString(r.error().message);
            if (!dw->download(out.data(), out.size() * 4)) return QStringLiteral("download failed");
            return QString();
        });
#endif
}

// Misaligned rows are refused with an error value before anything is launched.
void TestSparseAttentionCuda::rejectsMisalignedRows() {
#ifdef LECTERN_HAVE_CUDA
    auto buf = lectern::cuda::DeviceBuffer::allocate(1024 * 4);
    QVERIFY(buf);
    QVERIFY(buf->fill(0));
    const auto* base = static_cast<const float*>(buf->data());
    float* y = static_cast<float*>(buf->data()) + 512;
    const lectern::cuda::SparseAttentionShape shape{1, 16, 1};
    QVERIFY(
        lectern::cuda::sparse_attention_attend(base, 1, 0, base, base, nullptr, shape, y, nullptr));
    QVERIFY(!lectern::cuda::sparse_attention_attend(base, 1, 0, base + 1, base, nullptr, shape, y,
                                                    nullptr));
    QVERIFY(!lectern::cuda::sparse_attention_attend_paged(base, 1, 0, base, base + 2, nullptr,
                                                          nullptr, shape, y, nullptr));
    QVERIFY(!lectern::cuda::sparse_attention_attend(base, 1, 0, base, base, nullptr, shape, y + 1,
                                                    nullptr));
    const lectern::cuda::SparseAttentionShape select_shape{1, 16, 3};
    int* sel = static_cast<int*>(buf->data()) + 128;
    QVERIFY(!lectern::cuda::sparse_attention_select(base, 1, 100, base + 1, select_shape, sel,
                                                    nullptr));
#endif
}

QTEST_GUILESS_MAIN(TestSparseAttentionCuda)
#include "tst_sparse_attention_cuda.moc"
