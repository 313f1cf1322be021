// lectern::cuda::wkv7_forward_chunked, wkv7_forward_scan and wkv7_prefill (kernels/wkv7_chunked.cu,
// wkv7_scan.cu, wkv7.cu) on a GPU against the float64 recurrence: every case of
// wkv7_chunked_check.h (real decays, decays that force the token-by-token path, mixed chunks,
// w = 0), with and without the pre-pass (bit for bit the same), the scan, calls split at odd token
// counts, the sequential kernel at a model's full size, and argument errors. Cases, reference and tolerance
// (with its reasons): wkv7_chunked_check.h. The same checks run on the CPU emulator in tests/emu.
#include <QTest>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gpu_test_util.h"
#include "wkv7_chunked_check.h"
#ifdef LECTERN_HAVE_CUDA
#include "lectern/cuda/cuda_device.h"
#include "lectern/cuda/wkv7.h"
#endif

#ifdef LECTERN_HAVE_CUDA
namespace {

using lectern::cuda::DeviceBuffer;
using wkv7_check::Guarded;

// The inputs and the guarded outputs on the device.
struct DeviceRun {
    DeviceBuffer in[6], y, state, scratch;  // r, w, k, v, a, b; the pre-pass scratch
    std::size_t n_y = 0, n_state = 0;
    const float* input(int i) const { return static_cast<const float*>(in[i].data()); }
    float* dy() const { return static_cast<float*>(y.data()) + wkv7_check::guard; }
    float* dstate() const { return static_cast<float*>(state.data()) + wkv7_check::guard; }
    float* dscratch() const { return static_cast<float*>(scratch.data()); }
};

std::string put(const std::vector<float>& host, DeviceBuffer& into) {
    auto got = DeviceBuffer::allocate(host.size() * sizeof(float));
    if (!got) return got.error().message;
    if (auto ok = got->upload(host.data(), host.size() * sizeof(float)); !ok)
        return ok.error().message;
    into = std::move(*got);
    return {};
}

std::string make_device(const wkv7_check::Inputs& in, DeviceRun& d) {
    const std::vector<float>* host[6] = {&in.r, &in.w, &in.k, &in.v, &in.a, &in.b};
    for (int i = 0; i < 6; ++i)
        if (auto e = put(*host[i], d.in[i]); !e.empty()) return e;
    d.n_y = std::size_t(in.T) * in.C();
    d.n_state = in.state.size();
    if (auto e = put(Guarded(d.n_y).all, d.y); !e.empty()) return e;
    // NaN where the pre-pass writes nothing, so a read of such an entry shows.
    const std::size_t prep = std::max(lectern::cuda::wkv7_chunked_scratch_floats(in.T, in.H),
                                      lectern::cuda::wkv7_scan_scratch_floats(in.T, in.H));
    if (auto e = put(std::vector<float>(std::max<std::size_t>(prep, 1), NAN), d.scratch);
        !e.empty())
        return e;
    return put(Guarded(d.n_state, in.state.data()).all, d.state);
}

std::string fetch(const DeviceBuffer& buf, Guarded& into) {
    auto ok = buf.download(into.all.data(), into.all.size() * sizeof(float));
    return ok ? std::string() : ok.error().message;
}

// chunked: without scratch (decays and matrices in the sequential loop); prepass: with it;
// prefill: wkv7_prefill with it, as the engine calls it; scan: wkv7_forward_scan (with it);
// sequential: wkv7_forward.
enum class Call { chunked, prepass, prefill, scan, sequential };

// Runs [t0, t0 + n) of the inputs on the device state.
lectern::Result<void> run(Call how, const wkv7_check::Inputs& in, const DeviceRun& d, int t0,
                          int n) {
    const std::size_t o = std::size_t(t0) * in.C();
    const float *r = d.input(0) + o, *w = d.input(1) + o, *k = d.input(2) + o,
                *v = d.input(3) + o, *a = d.input(4) + o, *b = d.input(5) + o;
    float* y = d.dy() + o;
    switch (how) {
    case Call::chunked:
    case Call::prepass:
        return lectern::cuda::wkv7_forward_chunked(n, in.H, wkv7_check::N, r, w, k, v, a, b,
                                                   d.dstate(), y, nullptr,
                                                   how == Call::prepass ? d.dscratch() : nullptr);
    case Call::scan:
        return lectern::cuda::wkv7_forward_scan(n, in.H, wkv7_check::N, r, w, k, v, a, b,
                                                d.dstate(), y, nullptr, d.dscratch());
    case Call::prefill:
        return lectern::cuda::wkv7_prefill(n, in.H, wkv7_check::N, r, w, k, v, a, b, d.dstate(), y,
                                           nullptr, d.dscratch());
    case Call::sequential:
        break;
    }
    return lectern::cuda::wkv7_forward(n, in.H, wkv7_check::N, r, w, k, v, a, b, d.dstate(), y,
                                       nullptr);
}

// Runs the whole input as calls of the given lengths (the last repeats) and checks the result;
// y and state (payloads) into *result when given.
void check_calls(Call how, const wkv7_check::Case& c, const std::vector<int>& lengths,
                 std::uint32_t seed = gpu_test::fresh_seed(),
                 std::vector<float>* result = nullptr) {
    qInfo("%s:", c.name);
    const auto in = wkv7_check::make_inputs(c, seed);
    const auto ref = wkv7_check::reference(in);
    DeviceRun d;
    const std::string made = make_device(in, d);
    QVERIFY2(made.empty(), made.c_str());
    for (int t0 = 0, i = 0; t0 < in.T; ++i) {
        const int n = std::min(lengths[std::min<std::size_t>(i, lengths.size() - 1)], in.T - t0);
        auto ran = run(how, in, d, t0, n);
        QVERIFY2(ran, ran ? "" : ran.error().message.c_str());
        t0 += n;
    }
    Guarded y(d.n_y), state(d.n_state);
    std::string e = fetch(d.y, y);
    QVERIFY2(e.empty(), e.c_str());
    e = fetch(d.state, state);
    QVERIFY2(e.empty(), e.c_str());
    double worst = 0;
    const std::string why = wkv7_check::verdict(y, state, ref, &worst);
    qInfo("%s: worst error %.3g x tolerance", c.name, worst);
    QVERIFY2(why.empty(), why.c_str());
    if (result) {
        result->assign(y.payload(), y.payload() + y.n);
        result->insert(result->end(), state.payload(), state.payload() + state.n);
    }
}

}  // namespace
#endif

class TestWkv7ChunkedCuda : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { LECTERN_REQUIRE_GPU(); }

    void matchesReference_data() {
        QTest::addColumn<int>("index");
#ifdef LECTERN_HAVE_CUDA
        const auto all = wkv7_check::cases();
        for (std::size_t i = 0; i < all.size(); ++i) QTest::newRow(all[i].name) << int(i);
#endif
    }
    void matchesReference() {
#ifdef LECTERN_HAVE_CUDA
        QFETCH(int, index);
        // With and without the pre-pass: the same functions on the same inputs, the same bits.
        const auto c = wkv7_check::cases()[std::size_t(index)];
        const std::uint32_t seed = gpu_test::fresh_seed();
        std::vector<float> inline_result, prepass_result;
        check_calls(Call::chunked, c, {1 << 30}, seed, &inline_result);
        if (QTest::currentTestFailed()) return;
        check_calls(Call::prepass, c, {1 << 30}, seed, &prepass_result);
        if (QTest::currentTestFailed()) return;
        QVERIFY2(prepass_result == inline_result, "the pre-pass changed the result");
        // The scan (wkv7_scan.cu): another summation order, the same reference and tolerance.
        check_calls(Call::scan, c, {1 << 30}, seed);
#endif
    }

    // A prefill split at token counts that are not multiples of the chunk: the state carries
    // over between calls, both through the chunked kernel and through wkv7_prefill (which takes
    // the sequential kernel below 16 tokens).
    void splitCalls() {
#ifdef LECTERN_HAVE_CUDA
        const wkv7_check::Case c{"split", 300, 3, 0.545f, 1.0f};
        check_calls(Call::chunked, c, {1, 16, 40, 7, 100});
        if (QTest::currentTestFailed()) return;
        check_calls(Call::prefill, c, {1, 16, 40, 7, 100});
        if (QTest::currentTestFailed()) return;
        check_calls(Call::scan, c, {1, 16, 40, 7, 100});
#endif
    }

    // A model's size (the 2.9B shape: 40 heads) through wkv7_prefill, and the sequential kernel
    // on the same inputs, both against float64.
    void modelSize() {
#ifdef LECTERN_HAVE_CUDA
        const wkv7_check::Case c{"T=1024 H=40", 1024, 40, 0.545f, 1.0f};
        check_calls(Call::prefill, c, {1 << 30});
        if (QTest::currentTestFailed()) return;
        check_calls(Call::sequential, c, {1 << 30});
#endif
    }

    // Head sizes other than 64, misaligned or null pointers: errors before any launch (and
    // wkv7_prefill takes the sequential kernel for them); T = 0 touches nothing.
    void rejectsBadArguments() {
#ifdef LECTERN_HAVE_CUDA
        const wkv7_check::Case c{"bad", 32, 1, 0.545f, 1.0f};
        const auto in = wkv7_check::make_inputs(c, 9u);
        DeviceRun d;
        const std::string made = make_device(in, d);
        QVERIFY2(made.empty(), made.c_str());
        const float *r = d.input(0), *w = d.input(1), *k = d.input(2), *v = d.input(3),
                    *a = d.input(4), *b = d.input(5);
        using lectern::cuda::wkv7_forward_chunked;
        QVERIFY(!wkv7_forward_chunked(16, 1, 13, r, w, k, v, a, b, d.dstate(), d.dy(), nullptr));
        QVERIFY(!wkv7_forward_chunked(16, 1, 64, r + 1, w, k, v, a, b, d.dstate(), d.dy(),
                                      nullptr));
        QVERIFY(!wkv7_forward_chunked(16, 1, 64, r, w, k, v, nullptr, b, d.dstate(), d.dy(),
                                      nullptr));
        QVERIFY(!wkv7_forward_chunked(-1, 1, 64, r, w, k, v, a, b, d.dstate(), d.dy(), nullptr));
        QVERIFY(!lectern::cuda::wkv7_chunked_supported(64, r, w + 1, k, v, a, b));
        auto none = wkv7_forward_chunked(0, 1, 64, r, w, k, v, a, b, d.dstate(), d.dy(), nullptr);
        QVERIFY2(none, none ? "" : none.error().message.c_str());
        Guarded y(d.n_y), state(d.n_state);
        QVERIFY(fetch(d.y, y).empty() && fetch(d.state, state).empty());
        QVERIFY(y.sentinels_intact() && state.sentinels_intact());
        for (std::size_t i = 0; i < d.n_y; ++i)
            QVERIFY(std::memcmp(&y.payload()[i], &wkv7_check::sentinel, 4) == 0);
        QVERIFY(std::memcmp(state.payload(), in.state.data(), d.n_state * sizeof(float)) == 0);
#endif
    }
};

QTEST_GUILESS_MAIN(TestWkv7ChunkedCuda)
#include "tst_wkv7_chunked_cuda.moc"
