// lectern::cuda::gemv / gemv_batched (kernels/gemv.cu) against the CPU twins — lectern::matmul at
// T == 1 followed by lora_inner (tanh, sigmoid), relu_square or the residual add — on fresh
// random inputs: f32/f16/bf16 weights, every epilogue, x from shared or global memory, odd shapes
// (1 row, 10000 rows, cols not a multiple of 8, x too big for shared memory, short rows several to
// a warp), misaligned weights
// (scalar path) or x (vector path when x is staged, scalar otherwise), and one batched launch
// mixing dtypes, epilogues and x sources (8 jobs, one with no rows); sentinel guards
// around every output, NaN checks, and the error values of bad job tables. The job description,
// the host data (random inputs, the CPU twin's product and error scale), the host epilogues, the
// CPU-twin check and the mixed batch are in gemv_reference.h (shared with the emulator test,
// tests/emu/gemv_emu_case.h).
// Tolerances, per output, with scale = sum_k |x_k * w_k| (computed like tst_matmul_cuda):
// - vs the CPU twin: the product differs by at most 3e-5 * scale (tst_matmul_cuda's bound for
//   two fp32 accumulations); an epilogue f carries it times |f'| (1 for add and tanh, 1/4 for
//   sigmoid, 2|acc| + 3e-5 * scale for relu²), plus 1e-6 + 1e-5 |cpu| for the activations' own
//   few-ulp differences (tst_activations_cuda's bound) and the final rounding.
// - vs matmul's T == 1 GEMV on the GPU (same lane order, same reduction tree) followed by the
//   epilogue on the host: bit-identical for none, add and relu², 1e-6 + 1e-5 |want| for tanh and
//   sigmoid (CUDA's tanhf/expf vs glibc's). Not checked when x alone is misaligned and read from
//   global memory (then this kernel takes the scalar path and matmul the vector path: another
//   summation order).
// The same rows check the streamed walk (LECTERN_CUDA_GEMV=stream / stream8, gemv_stream.cuh),
// which must give the same bits: tests/emu/CMakeLists.txt runs them so on the emulator, and
// tools/gpu-check.sh's GPU_TEST_ENV on a GPU.
#include <QTest>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "cpu/channel_mix.h"
#include "cpu/lora.h"
#include "cpu/matmul.h"
#include "elementwise_test_util.h"
#include "lectern/dtype.h"
#ifdef LECTERN_HAVE_CUDA
#include "gemv_reference.h"
#include "lectern/cuda/cuda_device.h"
#include "lectern/cuda/matmul.h"
#endif

using lectern::DType;

#ifdef LECTERN_HAVE_CUDA
using lectern::cuda::GemvEpilogue;
using lectern::cuda::GemvX;

namespace {

using gemv_test::Spec;  // gemv_reference.h

// Whether the kernel reads this job's x from global memory.
bool x_from_global(const Spec& s) {
    return s.source == GemvX::global ||
           (s.source == GemvX::automatic &&
            std::size_t(s.cols) * sizeof(float) > std::size_t(lectern::cuda::kGemvSharedXBytes));
}

using gemv_test::host_epilogue;

// One job with its host data, device buffers and expected values.
// Its host data (x, resid, product, scale, the stored weights) come from gemv_test::HostData.
struct Case : gemv_test::HostData {
    Spec spec;
    lectern::cuda::DeviceBuffer w, x_dev;
    gpu_test::GuardedArray y, resid_dev;
    lectern::cuda::GemvJob job;
};

// "" or the error. Weights and x are uploaded `misaligned` elements past the allocation start.
std::string prepare(const Spec& s, std::uint32_t seed, Case& c) {
    c.spec = s;
    static_cast<gemv_test::HostData&>(c) = gemv_test::host_data(s, seed);
    const std::vector<unsigned char>& bytes = c.bytes;

    const std::size_t w_off = s.misalign == 1 ? lectern::dtype_size(s.dtype) : 0;
    const std::size_t x_off = s.misalign != 0 ? sizeof(float) : 0;
    auto w = lectern::cuda::DeviceBuffer::allocate(bytes.size() + 16);
    auto x = lectern::cuda::DeviceBuffer::allocate(c.x.size() * sizeof(float) + 16);
    if (!w || !x) return "allocation failed";
    c.w = std::move(*w);
    c.x_dev = std::move(*x);
    if (!bytes.empty() && !c.w.upload(bytes.data(), bytes.size(), w_off)) return "upload w failed";
    if (!c.x.empty() && !c.x_dev.upload(c.x.data(), c.x.size() * sizeof(float), x_off))
        return "upload x failed";
    const auto garbage = gpu_test::uniform(std::size_t(s.rows), -9.0f, 9.0f, seed + 3);
    if (auto e = gpu_test::make_guarded(garbage, c.y); !e.empty()) return e;
    if (auto e = gpu_test::make_guarded(c.resid, c.resid_dev); !e.empty()) return e;
    c.job.w = {s.dtype, s.rows, s.cols, static_cast<const unsigned char*>(c.w.data()) + w_off};
    c.job.x =
        reinterpret_cast<const float*>(static_cast<const unsigned char*>(c.x_dev.data()) + x_off);
    c.job.y = c.y.data();
    c.job.epilogue = s.epilogue;
    c.job.resid = s.epilogue == GemvEpilogue::add ? c.resid_dev.data() : nullptr;
    c.job.x_source = s.source;
    return {};
}

// Checks y (sentinels, NaN, the CPU-twin bound, then matmul's GEMV); "" or the failure.
std::string check(Case& c, lectern::cuda::MatmulContext& context) {
    const Spec& s = c.spec;
    std::vector<float> got;
    if (auto e = gpu_test::read_guarded(c.y, got); !e.empty()) return "y: " + e;
    std::vector<float> resid_after;
    if (auto e = gpu_test::read_guarded(c.resid_dev, resid_after); !e.empty()) return "resid: " + e;
    if (resid_after != c.resid) return "resid was modified";
    if (auto e = gemv_test::check_rows(s, c.product, c.scale, c.resid, got); !e.empty()) return e;
    // Misaligned weights: both kernels take the scalar path; x misaligned alone: matmul's takes
    // the vector path, this one too only with x staged in shared memory.
    if (s.misalign == 2 && x_from_global(s)) return {};
    // matmul's own T == 1 GEMV on the same device inputs.
    auto old = lectern::cuda::DeviceBuffer::allocate(std::size_t(s.rows) * sizeof(float) + 4);
    if (!old) return old.error().message;
    auto* old_y = static_cast<float*>(old->data());
    if (auto r = lectern::cuda::matmul(context, c.job.x, 1, c.job.w, old_y, nullptr); !r)
        return r.error().message;
    std::vector<float> base(std::size_t(s.rows));
    if (!old->download(base.data(), base.size() * sizeof(float))) return "download failed";
    const bool exact = s.epilogue != GemvEpilogue::tanh && s.epilogue != GemvEpilogue::sigmoid;
    for (int r = 0; r < s.rows; ++r) {
        const float want = host_epilogue(s.epilogue, base[std::size_t(r)], c.resid[std::size_t(r)]);
        const float g = got[std::size_t(r)];
        const bool ok = exact ? std::memcmp(&g, &want, 4) == 0
                              : std::fabs(double(g) - want) <= 1e-6 + 1e-5 * std::fabs(want);
        if (!ok)
            return "row " + std::to_string(r) +
                   " differs from matmul's GEMV: " + std::to_string(g) + " vs " +
                   std::to_string(want);
    }
    return {};
}

const char* epilogue_name(GemvEpilogue e) {
    const char* names[] = {"none", "add", "relu2", "tanh", "sigmoid"};
    return names[int(e)];
}

}  // namespace
#endif

class TestGemvCuda : public QObject {
    Q_OBJECT

  private Q_SLOTS:
    void initTestCase();
    void single_data();
    void single();
    void batchedMixed();
    void badJobs();

  private:
#ifdef LECTERN_HAVE_CUDA
    std::optional<lectern::cuda::MatmulContext> m_context;
#endif
};

void TestGemvCuda::initTestCase() {
    LECTERN_REQUIRE_GPU();
#ifdef LECTERN_HAVE_CUDA
    auto context = lectern::cuda::MatmulContext::create();
    QVERIFY2(context, context ? "" : context.error().message.c_str());
    m_context.emplace(std::move(*context));
#endif
}

void TestGemvCuda::single_data() {
    QTest::addColumn<int>("dtype");
    QTest::addColumn<int>("rows");
    QTest::addColumn<int>("cols");
    QTest::addColumn<int>("epilogue");
    QTest::addColumn<int>("source");
    QTest::addColumn<int>("misalign");
#ifdef LECTERN_HAVE_CUDA
    // 8200 floats = 32.8 KB: automatic reads x from global memory.
    // Short rows (LoRA ups: 16-96 columns) share a warp: 2,560 x 96 and 37 x 64 (a partial last
    // group), 1,000 x 32 and 7 x 16 (four lanes per row in bf16 / f16).
    const int shapes[][2] = {{64, 64},    {768, 3072}, {3072, 768}, {1, 45},    {67, 45},
                             {10000, 64}, {33, 1000},  {130, 8200}, {5, 7},     {16384, 256},
                             {2560, 96},  {37, 64},    {1000, 32},  {7, 16}};
    for (DType d : {DType::f32, DType::f16, DType::bf16})
        for (const auto& sh : shapes)
            for (int e = 0; e <= int(GemvEpilogue::sigmoid); ++e)
                for (GemvX src : {GemvX::automatic, GemvX::global}) {
                    QTest::addRow("%s %dx%d %s %s", lectern::dtype_name(d).data(), sh[0], sh[1],
                                  epilogue_name(GemvEpilogue(e)),
                                  src == GemvX::global ? "global" : "auto")
                        << int(d) << sh[0] << sh[1] << e << int(src) << 0;
                }
    for (DType d : {DType::f32, DType::f16, DType::bf16})
        for (GemvX src : {GemvX::automatic, GemvX::shared, GemvX::global})
            for (int misalign : {1, 2})
                QTest::addRow("%s misaligned %s src %d", lectern::dtype_name(d).data(),
                              misalign == 1 ? "w+x" : "x", int(src))
                    << int(d) << 300 << 512 << int(GemvEpilogue::add) << int(src) << misalign;
#endif
}

void TestGemvCuda::single() {
#ifdef LECTERN_HAVE_CUDA
    QFETCH(int, dtype);
    QFETCH(int, rows);
    QFETCH(int, cols);
    QFETCH(int, epilogue);
    QFETCH(int, source);
    QFETCH(int, misalign);
    const std::uint32_t seed = gpu_test::fresh_seed();
    Case c;
    const Spec spec{DType(dtype), rows, cols, GemvEpilogue(epilogue), GemvX(source), misalign};
    const std::string e = prepare(spec, seed, c);
    QVERIFY2(e.empty(), e.c_str());
    LECTERN_VERIFY_OK(lectern::cuda::gemv(c.job, nullptr));
    const std::string failure = check(c, *m_context);
    QVERIFY2(failure.empty(), failure.c_str());
#endif
}

void TestGemvCuda::batchedMixed() {
    LECTERN_REQUIRE_GPU();
#ifdef LECTERN_HAVE_CUDA
    const std::uint32_t seed = gpu_test::fresh_seed();
    constexpr auto specs = gemv_test::mixed_batch();  // gemv_reference.h
    constexpr int n = int(specs.size());
    static_assert(n == lectern::cuda::kMaxGemvJobs);
    std::vector<Case> cases(n);
    std::vector<lectern::cuda::GemvJob> jobs(n);
    for (int i = 0; i < n; ++i) {
        const std::string e = prepare(specs[i], seed + 16u * unsigned(i), cases[std::size_t(i)]);
        QVERIFY2(e.empty(), e.c_str());
        jobs[std::size_t(i)] = cases[std::size_t(i)].job;
    }
    LECTERN_VERIFY_OK(lectern::cuda::gemv_batched(jobs.data(), n, nullptr));
    for (int i = 0; i < n; ++i) {
        const std::string failure = check(cases[std::size_t(i)], *m_context);
        QVERIFY2(
            failure.empty(),
            qPrintable(QStringLiteral("job %1: %2").arg(i).arg(QString::fromStdString(failure))));
    }
#endif
}

void TestGemvCuda::badJobs() {
    LECTERN_REQUIRE_GPU();
#ifdef LECTERN_HAVE_CUDA
    Case c;
    const std::string e = prepare(gemv_test::refused_jobs_spec, 7, c);
    QVERIFY2(e.empty(), e.c_str());
    std::vector<lectern::cuda::GemvJob> many(lectern::cuda::kMaxGemvJobs + 1, c.job);
    QVERIFY(!lectern::cuda::gemv_batched(many.data(), int(many.size()), nullptr));
    const auto refused = gemv_test::refused_jobs(c.job);
    for (std::size_t i = 0; i < refused.size(); ++i)
        QVERIFY2(!lectern::cuda::gemv(refused[i], nullptr),
                 qPrintable(QStringLiteral("refused_jobs()[%1] was accepted").arg(i)));
    // Nothing was launched: y still holds its garbage and its sentinels.
    std::vector<float> got;
    LECTERN_READ_GUARDED(c.y, got);
#endif
}

QTEST_GUILESS_MAIN(TestGemvCuda)
#include "tst_gemv_cuda.moc"
