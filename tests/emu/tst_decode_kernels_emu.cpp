// The fused decode kernels (kernels/gemv.cu, decode_fused.cu, wkv7.cu), run on the CPU through the
// emulator (cuda_emu.h, the build-time rewrite cuda_to_cpp.py), against their CPU twins, with the
// GPU tests' tolerances (tests/kernels/tst_gemv_cuda.cpp, tst_decode_fused_cuda.cpp,
// tst_wkv7_cuda.cpp; their comments derive them): so every CI run, GPU or not, checks the
// kernels' indexing, dispatch, barriers and warp exchanges. Device pointers are host pointers
// here; every output sits between sentinel margins; inputs are checked unchanged; inputs are
// random from fixed seeds (the emulator is deterministic, so a failure reproduces exactly).
// - gemv / gemv_batched: f32/f16/bf16 weights, every epilogue, x staged in shared memory or read
//   from global memory, the vector and the scalar path (misaligned weights or x), 1 to 4 rows per
//   warp (the launch's block count is checked), odd shapes, a mixed batch, bad job tables; the
//   job description, check and mixed batch are tst_gemv_cuda's (tests/kernels/gemv_reference.h).
// - layer_norm_shift_mix and time_mix_wkv7_step: head sizes 64 (state in registers), 13, 33, 48
//   (idle lanes, partial warps of work) and 96, 1024 (state in global memory); first and later
//   blocks; the CPU composition layer_norm + token_shift_mix, resp. time_mix_prepare +
//   wkv7_step + group_norm_bonus_gate (tst_decode_fused_cuda's inputs and composition, shared in
//   tests/kernels/time_mix_step_case.h).
// - wkv7_forward / wkv7_step: N = 64 and the generic kernel (13, 33: blocks that are not whole
//   warps; 1024: the largest block and 40 KiB of shared memory), against lectern::wkv7_forward;
//   steps and chunks bit-identical with one sequence call.
// Not checked here (needs a GPU): the GPU's own rounding (FMA contraction, CUDA's expf/tanhf),
// timing, memory-model races the emulator's one schedule does not expose.
#include <QTest>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/layer_norm.h"
#include "cpu/token_shift.h"
#include "cpu/wkv7.h"
#include "cuda_emu_log.h"
#include "decode_kernels_emu_util.h"
#include "gemv_emu_case.h"
#include "lectern/cuda/decode_fused.h"
#include "lectern/cuda/matmul.h"
#include "lectern/cuda/wkv7.h"
#include "time_mix_step_case.h"

using emu_test::GemvCase;
using emu_test::GemvSpec;
using emu_test::Guarded;
using emu_test::Wkv7Inputs;
using lectern::DType;
using lectern::cuda::GemvEpilogue;
using lectern::cuda::GemvX;

namespace {

// ---- decode_fused and wkv7 ----

constexpr float kLnEps = 1e-5f;
using time_mix_step_case::kGnEps;

}  // namespace

class TestDecodeKernelsEmu : public QObject {
    Q_OBJECT

  private Q_SLOTS:
    void gemv_data();
    void gemv();
    void gemvBatchedMixed();
    void gemvBadJobs();
    void layerNormShift_data();
    void layerNormShift();
    void timeMixWkv_data();
    void timeMixWkv();
    void wkv7Sequence_data();
    void wkv7Sequence();
    void wkv7StepsAndChunks_data();
    void wkv7StepsAndChunks();
    void wkv7RejectsBadArguments();
};

void TestDecodeKernelsEmu::gemv_data() {
    QTest::addColumn<int>("dtype");
    QTest::addColumn<int>("rows");
    QTest::addColumn<int>("cols");
    QTest::addColumn<int>("epilogue");
    QTest::addColumn<int>("source");
    QTest::addColumn<int>("misalign");
    // 8200 floats = 32.8 KB: automatic reads x from global memory. 10000, 13000 and 16384 rows:
    // 2, 3 and 4 rows per warp. 45, 7 and 1000 columns: no whole 16-byte words of f32 (or of
    // 16-bit) weights, so the scalar path; 24 columns: 6 words of f32, 3 of f16/bf16; 64, 24 and
    // 40 columns are short rows, several to a warp (8, 16 and 4-lane groups).
    const int shapes[][2] = {{64, 64},   {1, 45},     {67, 45},    {5, 7},      {33, 1000},
                             {300, 512}, {130, 8200}, {10000, 64}, {13000, 24}, {16384, 40}};
    for (DType d : {DType::f32, DType::f16, DType::bf16})
        for (const auto& sh : shapes)
            for (int e = 0; e <= int(GemvEpilogue::sigmoid); ++e)
                for (GemvX src : {GemvX::automatic, GemvX::global})
                    QTest::addRow("%s %dx%d %s %s", lectern::dtype_name(d).data(), sh[0], sh[1],
                                  emu_test::epilogue_name(GemvEpilogue(e)),
                                  src == GemvX::global ? "global" : "auto")
                        << int(d) << sh[0] << sh[1] << e << int(src) << 0;
    for (DType d : {DType::f32, DType::f16, DType::bf16})
        for (GemvX src : {GemvX::automatic, GemvX::shared, GemvX::global})
            for (int misalign : {1, 2})
                QTest::addRow("%s misaligned %s src %d", lectern::dtype_name(d).data(),
                              misalign == 1 ? "w+x" : "x", int(src))
                    << int(d) << 300 << 512 << int(GemvEpilogue::add) << int(src) << misalign;
}

void TestDecodeKernelsEmu::gemv() {
    QFETCH(int, dtype);
    QFETCH(int, rows);
    QFETCH(int, cols);
    QFETCH(int, epilogue);
    QFETCH(int, source);
    QFETCH(int, misalign);
    const GemvSpec spec{DType(dtype), rows, cols, GemvEpilogue(epilogue), GemvX(source), misalign};
    GemvCase c;
    emu_test::prepare(spec, std::uint32_t(rows * 131 + cols * 7 + epilogue * 3 + dtype), c);
    emu::launch_log().clear();
    EMU_VERIFY_OK(lectern::cuda::gemv(c.job, nullptr));
    QCOMPARE(emu::launch_log().size(), std::size_t(1));
    QCOMPARE(emu::launch_log()[0].grid_x, emu_test::gemv_blocks(spec));
    const std::string failure = emu_test::check(c);
    QVERIFY2(failure.empty(), failure.c_str());
}

// tst_gemv_cuda's batch (gemv_test::mixed_batch): 8 jobs mixing dtypes, epilogues, x sources and
// alignments, one with no rows; then the add epilogue in place (y = resid), which the header
// allows.
void TestDecodeKernelsEmu::gemvBatchedMixed() {
    constexpr auto specs = gemv_test::mixed_batch();  // tests/kernels/gemv_reference.h
    constexpr int n = int(specs.size());
    static_assert(n == lectern::cuda::kMaxGemvJobs);
    std::vector<GemvCase> cases(n);
    std::vector<lectern::cuda::GemvJob> jobs(n);
    for (int i = 0; i < n; ++i) {
        emu_test::prepare(specs[i], 500u + 16u * unsigned(i), cases[std::size_t(i)]);
        jobs[std::size_t(i)] = cases[std::size_t(i)].job;
    }
    const unsigned blocks = emu_test::gemv_batch_blocks(specs);
    emu::launch_log().clear();
    EMU_VERIFY_OK(lectern::cuda::gemv_batched(jobs.data(), n, nullptr));
    QCOMPARE(emu::launch_log().size(), std::size_t(1));
    QCOMPARE(emu::launch_log()[0].grid_x, blocks);
    for (int i = 0; i < n; ++i) {
        const std::string failure = emu_test::check(cases[std::size_t(i)]);
        QVERIFY2(
            failure.empty(),
            qPrintable(QStringLiteral("job %1: %2").arg(i).arg(QString::fromStdString(failure))));
    }

    GemvCase c;
    emu_test::prepare({DType::bf16, 200, 96, GemvEpilogue::add, GemvX::automatic, 0}, 77, c);
    c.job.y = c.resid_dev->data();
    EMU_VERIFY_OK(lectern::cuda::gemv(c.job, nullptr));
    const std::vector<float> got = c.resid_dev->values();
    EMU_VERIFY_INTACT(*c.resid_dev, "in-place y");
    for (std::size_t r = 0; r < got.size(); ++r)
        QVERIFY(std::fabs(got[r] - (c.resid[r] + c.product[r])) <= 3e-5 * c.scale[r] + 1e-5);
}

// Bad job tables are errors before any launch: y keeps its garbage and its sentinels.
void TestDecodeKernelsEmu::gemvBadJobs() {
    GemvCase c;
    emu_test::prepare(gemv_test::refused_jobs_spec, 7, c);
    const std::vector<float> before = c.y->values();
    emu::launch_log().clear();
    std::vector<lectern::cuda::GemvJob> many(lectern::cuda::kMaxGemvJobs + 1, c.job);
    QVERIFY(!lectern::cuda::gemv_batched(many.data(), int(many.size()), nullptr));
    const auto refused = gemv_test::refused_jobs(c.job);
    for (std::size_t i = 0; i < refused.size(); ++i)
        QVERIFY2(!lectern::cuda::gemv(refused[i], nullptr),
                 qPrintable(QStringLiteral("refused_jobs()[%1] was accepted").arg(i)));
    QVERIFY(emu::launch_log().empty());
    QVERIFY(c.y->values() == before);
    EMU_VERIFY_INTACT(*c.y, "y");
}

void TestDecodeKernelsEmu::layerNormShift_data() {
    QTest::addColumn<int>("C");
    QTest::addColumn<int>("lerps");
    QTest::addColumn<int>("u_mode");  // 0: no u_out, 1: separate u_out, 2: u_out = x
    for (int C : {1, 13, 64, 768, 5000})
        for (int lerps : {1, 6})
            for (int mode : {0, 1, 2})
                QTest::addRow("C=%d lerps=%d u=%d", C, lerps, mode) << C << lerps << mode;
}

// tst_decode_fused_cuda's bounds: u 1e-6 + 1e-5|cpu|, the lerps 3e-5 + 1e-5|cpu|.
void TestDecodeKernelsEmu::layerNormShift() {
    QFETCH(int, C);
    QFETCH(int, lerps);
    QFETCH(int, u_mode);
    const std::uint32_t seed = std::uint32_t(C * 16 + lerps * 4 + u_mode);
    const std::size_t n = std::size_t(C), count = std::size_t(lerps);
    const auto x = gpu_test::uniform(n, -2.0f, 3.0f, seed);  // nonzero mean
    const auto weight = gpu_test::uniform(n, 0.5f, 1.5f, seed + 1);
    const auto bias = gpu_test::uniform(n, -0.5f, 0.5f, seed + 2);
    const auto shift = gpu_test::uniform(n, -2.0f, 2.0f, seed + 3);
    const auto garbage = gpu_test::uniform(n, -9.0f, 9.0f, seed + 4);
    std::vector<std::vector<float>> mix(count);
    for (std::size_t l = 0; l < count; ++l)
        mix[l] = gpu_test::uniform(n, 0.0f, 1.0f, seed + 5 + unsigned(l));

    std::vector<float> u(n);
    lectern::layer_norm(x.data(), 1, C, weight.data(), bias.data(), kLnEps, u.data());
    std::vector<std::vector<float>> want(count, std::vector<float>(n));
    for (std::size_t l = 0; l < count; ++l)
        lectern::token_shift_mix(u.data(), shift.data(), 1, C, mix[l].data(), want[l].data());

    Guarded d_x(x), d_w(weight), d_b(bias), d_shift(shift), d_u(garbage);
    std::vector<Guarded> d_mix, d_out;
    d_mix.reserve(count);
    d_out.reserve(count);
    std::vector<lectern::cuda::TokenShiftLerp> table(count);
    for (std::size_t l = 0; l < count; ++l) {
        d_mix.emplace_back(mix[l]);
        d_out.emplace_back(garbage);
        table[l] = {d_mix[l].data(), d_out[l].data()};
    }
    float* u_out = u_mode == 0 ? nullptr : (u_mode == 1 ? d_u.data() : d_x.data());
    EMU_VERIFY_OK(lectern::cuda::layer_norm_shift_mix(d_x.data(), C, d_w.data(), d_b.data(), kLnEps,
                                                      d_shift.data(), table.data(), lerps, u_out));

    for (const Guarded* g : {&d_x, &d_w, &d_b, &d_shift, &d_u}) EMU_VERIFY_INTACT(*g, "vector");
    auto got = d_shift.values();  // shift := u
    LECTERN_COMPARE_CLOSE(got.data(), u.data(), n, 1e-6, 1e-5);
    got = d_u.values();
    if (u_mode == 1)
        LECTERN_COMPARE_CLOSE(got.data(), u.data(), n, 1e-6, 1e-5);
    else
        QVERIFY(got == garbage);
    got = d_x.values();
    if (u_mode == 2)
        LECTERN_COMPARE_CLOSE(got.data(), u.data(), n, 1e-6, 1e-5);
    else
        QVERIFY(got == x);
    QVERIFY(d_w.values() == weight && d_b.values() == bias);
    for (std::size_t l = 0; l < count; ++l) {
        EMU_VERIFY_INTACT(d_out[l], "lerp output");
        QVERIFY(d_mix[l].values() == mix[l]);
        got = d_out[l].values();
        LECTERN_COMPARE_CLOSE(got.data(), want[l].data(), n, 3e-5, 1e-5);
    }
}

void TestDecodeKernelsEmu::timeMixWkv_data() {
    QTest::addColumn<int>("H");
    QTest::addColumn<int>("N");
    QTest::addColumn<bool>("first");
    for (int H : {1, 12})
        for (bool first : {true, false})
            QTest::addRow("H=%d N=64 %s", H, first ? "first" : "later") << H << 64 << first;
    QTest::addRow("H=3 N=13 later") << 3 << 13 << false;  // one warp, 19 idle lanes
    QTest::addRow("H=5 N=33 first") << 5 << 33 << true;   // a second warp with one active lane
    QTest::addRow("H=5 N=48 later") << 5 << 48 << false;
    QTest::addRow("H=2 N=96 later") << 2 << 96 << false;
    QTest::addRow("H=1 N=1024 first") << 1 << 1024 << true;  // the largest head: 32 warps
}

// tst_decode_fused_cuda's bounds: out 1e-4 + 1e-4|cpu|, state 1e-5 (max|cpu| + |cpu|).
void TestDecodeKernelsEmu::timeMixWkv() {
    QFETCH(int, H);
    QFETCH(int, N);
    QFETCH(bool, first);
    const std::uint32_t seed = std::uint32_t(H * 1000 + N * 2 + int(first));
    const time_mix_step_case::Inputs tc = time_mix_step_case::make_inputs(H, N, seed);
    const std::size_t C = tc.C(), S = tc.S();
    // CPU composition (tests/kernels/time_mix_step_case.h).
    const time_mix_step_case::Expected want = time_mix_step_case::cpu_expected(tc, first);

    Guarded d_w0(tc.w0), d_a0(tc.a0), d_v0(tc.v0), d_k_k(tc.k_k), d_k_a(tc.k_a), d_r(tc.r),
        d_decay(tc.decay), d_iclr(tc.iclr), d_k(tc.k), d_v(tc.v), d_v_gate(tc.v_gate), d_g(tc.g),
        d_v_first(tc.v_first), d_r_k(tc.r_k), d_lnx_w(tc.lnx_w), d_lnx_b(tc.lnx_b),
        d_state(tc.state), d_out(tc.garbage);
    const lectern::cuda::TimeMixVectors gv{d_w0.data(), d_a0.data(), first ? nullptr : d_v0.data(),
                                           d_k_k.data(), d_k_a.data()};
    lectern::cuda::TimeMixStepInputs in;
    in.r = d_r.data();
    in.decay = d_decay.data();
    in.iclr = d_iclr.data();
    in.k = d_k.data();
    in.v = d_v.data();
    in.v_gate = first ? nullptr : d_v_gate.data();
    in.g = d_g.data();
    const lectern::cuda::GroupNormVectors gn{d_lnx_w.data(), d_lnx_b.data(), d_r_k.data()};
    emu::launch_log().clear();
    EMU_VERIFY_OK(lectern::cuda::time_mix_wkv7_step(H, N, gv, first, in, d_v_first.data(),
                                                    d_state.data(), gn, kGnEps, d_out.data()));
    QCOMPARE(emu::launch_log().size(), std::size_t(1));
    // Four threads per state row for N = 64 unless LECTERN_CUDA_DECODE_SPLIT=0 (the _onethread runs).
    const bool split = N == 64 && qgetenv("LECTERN_CUDA_DECODE_SPLIT") != "0";
    QCOMPARE(emu::launch_log()[0].block_x, split ? 256u : unsigned((N + 31) / 32 * 32));

    EMU_VERIFY_INTACT(d_out, "out");
    EMU_VERIFY_INTACT(d_state, "state");
    EMU_VERIFY_INTACT(d_v_first, "v_first");
    auto got = d_out.values();
    LECTERN_COMPARE_CLOSE(got.data(), want.out.data(), C, 1e-4, 1e-4);
    QVERIFY(d_v_first.values() == (first ? tc.v : tc.v_first));
    got = d_state.values();
    const float peak = want.state_peak();
    LECTERN_COMPARE_CLOSE(got.data(), want.state.data(), S, 1e-5 * peak, 1e-5);
    // The inputs are read only.
    const std::pair<const Guarded*, const std::vector<float>*> inputs[] = {
        {&d_w0, &tc.w0},   {&d_a0, &tc.a0},       {&d_v0, &tc.v0},         {&d_k_k, &tc.k_k},
        {&d_k_a, &tc.k_a}, {&d_r, &tc.r},         {&d_decay, &tc.decay},   {&d_iclr, &tc.iclr},
        {&d_k, &tc.k},     {&d_v, &tc.v},         {&d_v_gate, &tc.v_gate}, {&d_g, &tc.g},
        {&d_r_k, &tc.r_k}, {&d_lnx_w, &tc.lnx_w}, {&d_lnx_b, &tc.lnx_b}};
    for (const auto& [array, host] : inputs) {
        EMU_VERIFY_INTACT(*array, "input");
        QVERIFY(array->values() == *host);
    }
}

void TestDecodeKernelsEmu::wkv7Sequence_data() {
    QTest::addColumn<int>("T");
    QTest::addColumn<int>("H");
    QTest::addColumn<int>("N");
    QTest::addRow("T=1 H=1 N=64") << 1 << 1 << 64;
    QTest::addRow("T=17 H=3 N=64") << 17 << 3 << 64;
    QTest::addRow("T=300 H=2 N=64") << 300 << 2 << 64;
    // The generic kernel (state row in global memory); 13 and 33 threads: not whole warps.
    QTest::addRow("T=17 H=3 N=13") << 17 << 3 << 13;
    QTest::addRow("T=9 H=2 N=33") << 9 << 2 << 33;
    QTest::addRow("T=40 H=2 N=128") << 40 << 2 << 128;
    QTest::addRow("T=3 H=1 N=1024") << 3 << 1 << 1024;  // 1024 threads, 40 KiB shared memory
}

// tst_wkv7_cuda's bound: tol (max|cpu| + |cpu|), tol = 1e-5 (1 + log2 T), over y and the state.
// Not bit-identical with the CPU engine in general: its kernel is compiled per ISA (AVX2/AVX-512
// clones contract a*b+c into FMAs), the emulated one without contraction; the GPU contracts too.
void TestDecodeKernelsEmu::wkv7Sequence() {
    QFETCH(int, T);
    QFETCH(int, H);
    QFETCH(int, N);
    const Wkv7Inputs in = emu_test::wkv7_inputs(T, H, N, std::uint32_t(T * 100 + H * 10 + N));
    std::vector<float> want_state = in.state, want_y(std::size_t(T) * H * N);
    lectern::wkv7_forward(T, H, N, in.r.data(), in.w.data(), in.k.data(), in.v.data(), in.a.data(),
                          in.b.data(), want_state.data(), want_y.data(), nullptr);

    Guarded r(in.r), w(in.w), k(in.k), v(in.v), a(in.a), b(in.b), state(in.state),
        y(std::vector<float>(want_y.size(), 7.0f));
    emu::launch_log().clear();
    EMU_VERIFY_OK(lectern::cuda::wkv7_forward(T, H, N, r.data(), w.data(), k.data(), v.data(),
                                              a.data(), b.data(), state.data(), y.data(), nullptr));
    QCOMPARE(emu::launch_log().size(), std::size_t(1));
    QCOMPARE(emu::launch_log()[0].block_x, unsigned(N));
    EMU_VERIFY_INTACT(y, "y");
    EMU_VERIFY_INTACT(state, "state");
    for (const Guarded* g : {&r, &w, &k, &v, &a, &b}) EMU_VERIFY_INTACT(*g, "input");
    QVERIFY(r.values() == in.r && w.values() == in.w && k.values() == in.k && v.values() == in.v &&
            a.values() == in.a && b.values() == in.b);
    const double tol = wkv7_inputs::tolerance(T);
    const auto got_y = y.values(), got_state = state.values();
    LECTERN_COMPARE_CLOSE(got_y.data(), want_y.data(), want_y.size(),
                          tol * emu_test::max_abs(want_y), tol);
    LECTERN_COMPARE_CLOSE(got_state.data(), want_state.data(), want_state.size(),
                          tol * emu_test::max_abs(want_state), tol);
}

void TestDecodeKernelsEmu::wkv7StepsAndChunks_data() {
    QTest::addColumn<int>("T");
    QTest::addColumn<int>("H");
    QTest::addColumn<int>("N");
    QTest::addRow("T=30 H=3 N=64") << 30 << 3 << 64;
    QTest::addRow("T=9 H=2 N=13") << 9 << 2 << 13;
}

// Decode (T steps) and chunked prefill (pieces of 1, 7 and the rest) against one sequence call:
// the same kernel on the same state, so bit for bit.
void TestDecodeKernelsEmu::wkv7StepsAndChunks() {
    QFETCH(int, T);
    QFETCH(int, H);
    QFETCH(int, N);
    const Wkv7Inputs in = emu_test::wkv7_inputs(T, H, N, std::uint32_t(T + H + N));
    const std::size_t C = std::size_t(H) * N, n_y = std::size_t(T) * C;
    Guarded r(in.r), w(in.w), k(in.k), v(in.v), a(in.a), b(in.b);
    std::vector<float> y_seq, state_seq;
    {
        Guarded state(in.state), y(std::vector<float>(n_y, 7.0f));
        EMU_VERIFY_OK(lectern::cuda::wkv7_forward(T, H, N, r.data(), w.data(), k.data(), v.data(),
                                                  a.data(), b.data(), state.data(), y.data(),
                                                  nullptr));
        y_seq = y.values();
        state_seq = state.values();
    }
    for (int mode = 0; mode < 2; ++mode) {  // 0: steps, 1: chunks
        Guarded state(in.state), y(std::vector<float>(n_y, 7.0f));
        for (int t0 = 0; t0 < T;) {
            const int len = mode == 0 ? 1 : (t0 == 0 ? 1 : (t0 == 1 ? 7 : T - t0));
            const int n_tok = std::min(len, T - t0);
            const std::size_t o = std::size_t(t0) * C;
            const auto ran =
                mode == 0 ? lectern::cuda::wkv7_step(H, N, r.data() + o, w.data() + o, k.data() + o,
                                                     v.data() + o, a.data() + o, b.data() + o,
                                                     state.data(), y.data() + o, nullptr)
                          : lectern::cuda::wkv7_forward(
                                n_tok, H, N, r.data() + o, w.data() + o, k.data() + o, v.data() + o,
                                a.data() + o, b.data() + o, state.data(), y.data() + o, nullptr);
            EMU_VERIFY_OK(ran);
            t0 += n_tok;
        }
        EMU_VERIFY_INTACT(y, "y");
        EMU_VERIFY_INTACT(state, "state");
        QVERIFY2(y.values() == y_seq, mode == 0 ? "steps: y differs" : "chunks: y differs");
        QVERIFY2(state.values() == state_seq,
                 mode == 0 ? "steps: state differs" : "chunks: state differs");
    }
}

// Bad shapes are errors before any launch; T = 0 touches nothing.
void TestDecodeKernelsEmu::wkv7RejectsBadArguments() {
    const Wkv7Inputs in = emu_test::wkv7_inputs(1, 1, 64, 5u);
    Guarded r(in.r), w(in.w), k(in.k), v(in.v), a(in.a), b(in.b), state(in.state),
        y(std::vector<float>(64, 7.0f));
    emu::launch_log().clear();
    auto run = [&](int T, int N, float* y_ptr) {
        return lectern::cuda::wkv7_forward(T, 1, N, r.data(), w.data(), k.data(), v.data(),
                                           a.data(), b.data(), state.data(), y_ptr, nullptr);
    };
    for (int N : {0, -1, 1025}) QVERIFY(!run(1, N, y.data()));
    QVERIFY(!run(-1, 64, y.data()));
    QVERIFY(!lectern::cuda::wkv7_step(1, 64, r.data(), w.data(), k.data(), v.data(), a.data(),
                                      b.data(), state.data(), nullptr, nullptr));
    EMU_VERIFY_OK(run(0, 64, y.data()));
    QVERIFY(emu::launch_log().empty());
    QVERIFY(state.values() == in.state);
    QVERIFY(y.values() == std::vector<float>(64, 7.0f));
    EMU_VERIFY_INTACT(y, "y");
    EMU_VERIFY_INTACT(state, "state");
}

QTEST_GUILESS_MAIN(TestDecodeKernelsEmu)
#include "tst_decode_kernels_emu.moc"
