// lectern::cuda::wkv7_forward / wkv7_step (kernels/wkv7.cu) against their CPU twins
// (engine/src/cpu/wkv7.h) on fresh random inputs in realistic ranges, with a nonzero initial
// state and sentinel bytes around the output and the state.
//
// Tolerance: |gpu - cpu| <= tol * (max|cpu| + |cpu|) per element, over y and over the final state,
// tol = 1e-5 * (1 + log2 T). Both sides are fp32 and sum over j in the same order; they differ only
// in where a*b+c is fused (FMA), i.e. a few ulp per token. The recurrence is contractive
// (w < 1, ‖diag(w) − κ̂(iclr⊙κ̂)ᵀ‖ <= 1), so those errors do not pile up with T: a CPU emulation
// of the kernel's exact FMA pattern stays within 3.2e-7 of the CPU engine in this measure for
// every T up to 16384 (and was bit-identical with GCC's default contraction). The log2 T factor
// is margin, not a measured growth; any indexing or ordering bug gives errors of order 1e-1.
// The step kernel is the sequence kernel with T = 1, so T steps and chunked prefill must equal
// one sequence call bit for bit.
#include <QTest>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "cpu/thread_pool.h"
#include "cpu/wkv7.h"
#include "gpu_test_util.h"
#include "wkv7_inputs.h"
#ifdef LECTERN_HAVE_CUDA
#include "lectern/cuda/cuda_device.h"
#include "lectern/cuda/wkv7.h"
#endif

#ifdef LECTERN_HAVE_CUDA
namespace {

using wkv7_inputs::Inputs;
using wkv7_inputs::make_inputs;
using wkv7_inputs::max_abs;
using wkv7_inputs::tolerance;

bool all_finite(const std::vector<float>& v)
{
    for (float x : v)
        if (!std::isfinite(x))
            return false;
    return true;
}

constexpr std::size_t guard = 256;  // sentinel floats on each side of y and state
constexpr unsigned char sentinel = 0x7F;

// The inputs on the device, and y and state inside sentinel-filled margins.
struct DeviceRun {
    lectern::cuda::DeviceBuffer r, w, k, v, a, b, y, state;
    std::size_t n_y = 0, n_state = 0;

    float* dr() const { return static_cast<float*>(r.data()); }
    float* dw() const { return static_cast<float*>(w.data()); }
    float* dk() const { return static_cast<float*>(k.data()); }
    float* dv() const { return static_cast<float*>(v.data()); }
    float* da() const { return static_cast<float*>(a.data()); }
    float* db() const { return static_cast<float*>(b.data()); }
    float* dy() const { return static_cast<float*>(y.data()) + guard; }
    float* dstate() const { return static_cast<float*>(state.data()) + guard; }
};

lectern::Result<lectern::cuda::DeviceBuffer> upload(const std::vector<float>& host)
{
    auto buf = lectern::cuda::DeviceBuffer::allocate(host.size() * sizeof(float));
    if (!buf)
        return buf.error();
    if (auto ok = buf->upload(host.data(), host.size() * sizeof(float)); !ok)
        return ok.error();
    return buf;
}

lectern::Result<lectern::cuda::DeviceBuffer> guarded(const std::vector<float>* inner,
                                                     std::size_t n)
{
    auto buf = lectern::cuda::DeviceBuffer::allocate((n + 2 * guard) * sizeof(float));
    if (!buf)
        return buf.error();
    if (auto ok = buf->fill(sentinel); !ok)
        return ok.error();
    if (inner)
        if (auto ok = buf->upload(inner->data(), n * sizeof(float), guard * sizeof(float)); !ok)
            return ok.error();
    return buf;
}

// Everything on the device; QVERIFY-style failures are reported by the caller through `error`.
bool make_device(const Inputs& in, DeviceRun& d, std::string& error)
{
    d.n_y = std::size_t(in.T) * in.H * in.N;
    d.n_state = in.state.size();
    auto take = [&](lectern::Result<lectern::cuda::DeviceBuffer> got,
                    lectern::cuda::DeviceBuffer& into) {
        if (!got) {
            error = got.error().message;
            return false;
        }
        into = std::move(*got);
        return true;
    };
    return take(upload(in.r), d.r) && take(upload(in.w), d.w) && take(upload(in.k), d.k) &&
           take(upload(in.v), d.v) && take(upload(in.a), d.a) && take(upload(in.b), d.b) &&
           take(guarded(nullptr, d.n_y), d.y) && take(guarded(&in.state, d.n_state), d.state);
}

// Copies the inner part of a guarded buffer to `out`; false if any sentinel byte changed.
bool download_guarded(const lectern::cuda::DeviceBuffer& buf, std::size_t n,
                      std::vector<float>& out, std::string& error)
{
    std::vector<unsigned char> bytes((n + 2 * guard) * sizeof(float));
    if (auto ok = buf.download(bytes.data(), bytes.size()); !ok) {
        error = ok.error().message;
        return false;
    }
    const std::size_t g = guard * sizeof(float);
    for (std::size_t i = 0; i < g; ++i)
        if (bytes[i] != sentinel || bytes[bytes.size() - 1 - i] != sentinel) {
            error = "sentinel byte overwritten " + std::to_string(i) + " bytes from the " +
                    (bytes[i] != sentinel ? "start" : "end") + " of the buffer";
            return false;
        }
    out.resize(n);
    std::memcpy(out.data(), bytes.data() + g, n * sizeof(float));
    return true;
}

}  // namespace
#endif

class TestWkv7Cuda : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void sequenceMatchesCpu_data();
    void sequenceMatchesCpu();
    void stepsAndChunksEqualSequence_data();
    void stepsAndChunksEqualSequence();
    void rejectsBadArguments();
};

void TestWkv7Cuda::initTestCase() { LECTERN_REQUIRE_GPU(); }

void TestWkv7Cuda::sequenceMatchesCpu_data()
{
    QTest::addColumn<int>("T");
    QTest::addColumn<int>("H");
    QTest::addColumn<int>("N");
    for (int T : {1, 2, 17, 300, 4096})
        for (int H : {1, 12, 40})
            QTest::addRow("T=%d H=%d", T, H) << T << H << 64;
    // Head sizes other than 64 take the generic kernel (state row in global memory).
    QTest::addRow("T=17 H=3 N=13") << 17 << 3 << 13;
    QTest::addRow("T=300 H=2 N=128") << 300 << 2 << 128;
}

void TestWkv7Cuda::sequenceMatchesCpu()
{
#ifdef LECTERN_HAVE_CUDA
    QFETCH(int, T);
    QFETCH(int, H);
    QFETCH(int, N);
    const std::uint32_t seed = gpu_test::fresh_seed();
    const Inputs in = make_inputs(T, H, N, seed);

    lectern::ThreadPool pool(0);
    std::vector<float> want_state = in.state, want_y(std::size_t(T) * H * N);
    lectern::wkv7_forward(T, H, N, in.r.data(), in.w.data(), in.k.data(), in.v.data(),
                          in.a.data(), in.b.data(), want_state.data(), want_y.data(), &pool);

    DeviceRun d;
    std::string error;
    QVERIFY2(make_device(in, d, error), error.c_str());
    auto ran = lectern::cuda::wkv7_forward(T, H, N, d.dr(), d.dw(), d.dk(), d.dv(), d.da(),
                                           d.db(), d.dstate(), d.dy(), nullptr);
    QVERIFY2(ran, ran ? "" : ran.error().message.c_str());
    std::vector<float> got_y, got_state;
    QVERIFY2(download_guarded(d.y, d.n_y, got_y, error), error.c_str());
    QVERIFY2(download_guarded(d.state, d.n_state, got_state, error), error.c_str());

    QVERIFY(all_finite(got_y) && all_finite(got_state));
    const double tol = tolerance(T);
    const auto ey = gpu_test::compare(got_y.data(), want_y.data(), d.n_y,
                                      tol * max_abs(want_y), tol);
    const auto es = gpu_test::compare(got_state.data(), want_state.data(), d.n_state,
                                      tol * max_abs(want_state), tol);
    qInfo("T=%d H=%d N=%d: worst y error %.3g, state error %.3g (x tolerance %.2g)", T, H, N,
          ey.worst, es.worst, tol);
    LECTERN_COMPARE_CLOSE(got_y.data(), want_y.data(), d.n_y, tol * max_abs(want_y), tol);
    LECTERN_COMPARE_CLOSE(got_state.data(), want_state.data(), d.n_state,
                          tol * max_abs(want_state), tol);
#endif
}

void TestWkv7Cuda::stepsAndChunksEqualSequence_data()
{
    QTest::addColumn<int>("T");
    QTest::addColumn<int>("H");
    QTest::addColumn<int>("N");
    QTest::addRow("T=300 H=12") << 300 << 12 << 64;
    QTest::addRow("T=17 H=40") << 17 << 40 << 64;
    QTest::addRow("T=9 H=2 N=13") << 9 << 2 << 13;
}

// Decode (T steps) and chunked prefill (pieces of 1, 7 and the rest) against one sequence call:
// the same kernel on the same state, so bit for bit.
void TestWkv7Cuda::stepsAndChunksEqualSequence()
{
#ifdef LECTERN_HAVE_CUDA
    QFETCH(int, T);
    QFETCH(int, H);
    QFETCH(int, N);
    const std::uint32_t seed = gpu_test::fresh_seed();
    const Inputs in = make_inputs(T, H, N, seed);
    const std::size_t C = std::size_t(H) * N;
    std::string error;

    std::vector<float> y_seq, state_seq;
    {
        DeviceRun d;
        QVERIFY2(make_device(in, d, error), error.c_str());
        auto ran = lectern::cuda::wkv7_forward(T, H, N, d.dr(), d.dw(), d.dk(), d.dv(), d.da(),
                                               d.db(), d.dstate(), d.dy(), nullptr);
        QVERIFY2(ran, ran ? "" : ran.error().message.c_str());
        QVERIFY2(download_guarded(d.y, d.n_y, y_seq, error), error.c_str());
        QVERIFY2(download_guarded(d.state, d.n_state, state_seq, error), error.c_str());
    }
    QVERIFY(all_finite(y_seq) && all_finite(state_seq));

    for (int mode = 0; mode < 2; ++mode) {  // 0: steps, 1: chunks
        DeviceRun d;
        QVERIFY2(make_device(in, d, error), error.c_str());
        for (int t0 = 0; t0 < T;) {
            const int len = mode == 0 ? 1 : (t0 == 0 ? 1 : (t0 == 1 ? 7 : T - t0));
            const int n_tok = std::min(len, T - t0);
            const std::size_t o = std::size_t(t0) * C;
            auto ran = mode == 0
                ? lectern::cuda::wkv7_step(H, N, d.dr() + o, d.dw() + o, d.dk() + o, d.dv() + o,
                                           d.da() + o, d.db() + o, d.dstate(), d.dy() + o,
                                           nullptr)
                : lectern::cuda::wkv7_forward(n_tok, H, N, d.dr() + o, d.dw() + o, d.dk() + o,
                                              d.dv() + o, d.da() + o, d.db() + o, d.dstate(),
                                              d.dy() + o, nullptr);
            QVERIFY2(ran, ran ? "" : ran.error().message.c_str());
            t0 += n_tok;
        }
        std::vector<float> y, state;
        QVERIFY2(download_guarded(d.y, d.n_y, y, error), error.c_str());
        QVERIFY2(download_guarded(d.state, d.n_state, state, error), error.c_str());
        QVERIFY2(std::memcmp(y.data(), y_seq.data(), y.size() * sizeof(float)) == 0,
                 mode == 0 ? "steps: y differs" : "chunks: y differs");
        QVERIFY2(std::memcmp(state.data(), state_seq.data(), state.size() * sizeof(float)) == 0,
                 mode == 0 ? "steps: state differs" : "chunks: state differs");
    }
#endif
}

// Bad shapes are errors before any launch; T = 0 touches nothing.
void TestWkv7Cuda::rejectsBadArguments()
{
#ifdef LECTERN_HAVE_CUDA
    const Inputs in = make_inputs(1, 1, 64, 5u);
    DeviceRun d;
    std::string error;
    QVERIFY2(make_device(in, d, error), error.c_str());
    for (int N : {0, -1, 1025}) {
        auto ran = lectern::cuda::wkv7_forward(1, 1, N, d.dr(), d.dw(), d.dk(), d.dv(), d.da(),
                                               d.db(), d.dstate(), d.dy(), nullptr);
        QVERIFY(!ran);
    }
    auto negative = lectern::cuda::wkv7_forward(-1, 1, 64, d.dr(), d.dw(), d.dk(), d.dv(),
                                                d.da(), d.db(), d.dstate(), d.dy(), nullptr);
    QVERIFY(!negative);
    auto null_y = lectern::cuda::wkv7_step(1, 64, d.dr(), d.dw(), d.dk(), d.dv(), d.da(), d.db(),
                                           d.dstate(), nullptr, nullptr);
    QVERIFY(!null_y);
    auto empty = lectern::cuda::wkv7_forward(0, 1, 64, d.dr(), d.dw(), d.dk(), d.dv(), d.da(),
                                             d.db(), d.dstate(), d.dy(), nullptr);
    QVERIFY2(empty, empty ? "" : empty.error().message.c_str());
    std::vector<float> y, state;
    QVERIFY2(download_guarded(d.y, d.n_y, y, error), error.c_str());
    QVERIFY2(download_guarded(d.state, d.n_state, state, error), error.c_str());
    QCOMPARE(state, in.state);
    for (float x : y) {  // never written: still the sentinel pattern
        std::uint32_t bits;
        std::memcpy(&bits, &x, 4);
        QCOMPARE(bits, 0x7F7F7F7Fu);
    }
#endif
}

QTEST_GUILESS_MAIN(TestWkv7Cuda)
#include "tst_wkv7_cuda.moc"
