// The chunked WKV-7 kernel (kernels/wkv7_chunked.cu) and wkv7_prefill's dispatch on the CPU
// emulator (cuda_emu.h): the checks of tst_wkv7_chunked_cuda (cases, float64 reference,
// tolerance and sentinels from tests/kernels/wkv7_chunked_check.h) on every machine, GPU or not,
// with and without the pre-pass (which must not change a bit), and the scan (wkv7_scan.cu).
// Device pointers are host pointers here.
#include <QTest>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "lectern/cuda/wkv7.h"
#include "wkv7_chunked_check.h"

namespace {

using wkv7_check::Guarded;

// chunked: wkv7_forward_chunked without scratch (each chunk's decays and matrices in the
// sequential loop); prepass: with scratch (the pre-pass kernel computes them for every chunk);
// prefill: wkv7_prefill with scratch, as the engine calls it; scan: wkv7_forward_scan.
enum class Call { chunked, prepass, prefill, scan };

struct Run {
    std::string why;  // what is wrong with the result, empty when nothing is
    std::vector<float> y, state;
};

// Runs the inputs as calls of the given lengths (the last repeats) on a guarded state and y
// (and a guarded scratch, for the pre-pass), checked against the float64 reference.
Run run_calls(Call how, const wkv7_check::Case& c, std::uint32_t seed,
              const std::vector<int>& lengths) {
    const auto in = wkv7_check::make_inputs(c, seed);
    const auto ref = wkv7_check::reference(in);
    const std::size_t C = in.C();
    Guarded y(std::size_t(in.T) * C), state(in.state.size(), in.state.data());
    // NaN where the pre-pass writes nothing, so a read of such an entry shows.
    const std::vector<float> nans(how == Call::scan
                                      ? lectern::cuda::wkv7_scan_scratch_floats(in.T, in.H)
                                      : lectern::cuda::wkv7_chunked_scratch_floats(in.T, in.H),
                                  NAN);
    Guarded scratch(nans.size(), nans.data());
    float* prep = how == Call::chunked ? nullptr : scratch.payload();
    for (int t0 = 0, i = 0; t0 < in.T; ++i) {
        const int n = std::min(lengths[std::min<std::size_t>(i, lengths.size() - 1)], in.T - t0);
        const std::size_t o = std::size_t(t0) * C;
        auto ran = how == Call::scan
            ? lectern::cuda::wkv7_forward_scan(n, in.H, wkv7_check::N, in.r.data() + o,
                                               in.w.data() + o, in.k.data() + o, in.v.data() + o,
                                               in.a.data() + o, in.b.data() + o, state.payload(),
                                               y.payload() + o, nullptr, prep)
            : how != Call::prefill
            ? lectern::cuda::wkv7_forward_chunked(n, in.H, wkv7_check::N, in.r.data() + o,
                                                  in.w.data() + o, in.k.data() + o,
                                                  in.v.data() + o, in.a.data() + o,
                                                  in.b.data() + o, state.payload(),
                                                  y.payload() + o, nullptr, prep)
            : lectern::cuda::wkv7_prefill(n, in.H, wkv7_check::N, in.r.data() + o,
                                          in.w.data() + o, in.k.data() + o, in.v.data() + o,
                                          in.a.data() + o, in.b.data() + o, state.payload(),
                                          y.payload() + o, nullptr, prep);
        if (!ran) return {ran.error().message, {}, {}};
        t0 += n;
    }
    Run run{wkv7_check::verdict(y, state, ref), {}, {}};
    if (run.why.empty() && !scratch.sentinels_intact()) run.why = "scratch sentinels overwritten";
    run.y.assign(y.payload(), y.payload() + y.n);
    run.state.assign(state.payload(), state.payload() + state.n);
    return run;
}

}  // namespace

class TestWkv7ChunkedEmu : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void matchesReference_data() {
        QTest::addColumn<int>("index");
        const auto all = wkv7_check::cases();
        for (std::size_t i = 0; i < all.size(); ++i) QTest::newRow(all[i].name) << int(i);
    }
    void matchesReference() {
        QFETCH(int, index);
        const auto c = wkv7_check::cases()[std::size_t(index)];
        const Run inline_run = run_calls(Call::chunked, c, 1000u + std::uint32_t(index), {1 << 30});
        QVERIFY2(inline_run.why.empty(), inline_run.why.c_str());
        // The pre-pass computes what the loop computed, with the same functions: the same bits.
        const Run prepass = run_calls(Call::prepass, c, 1000u + std::uint32_t(index), {1 << 30});
        QVERIFY2(prepass.why.empty(), prepass.why.c_str());
        QVERIFY2(prepass.y == inline_run.y && prepass.state == inline_run.state,
                 "the pre-pass changed the result");
        // The scan: another summation order, the same reference and tolerance.
        const Run scan = run_calls(Call::scan, c, 1000u + std::uint32_t(index), {1 << 30});
        QVERIFY2(scan.why.empty(), scan.why.c_str());
    }

    // Calls at token counts that are not multiples of the chunk carry the state over, through
    // the chunked kernel and through wkv7_prefill (the sequential kernel below 16 tokens). Every
    // call starts on a token row, and rows of C = 64 H floats stay 16-byte aligned.
    void splitCalls() {
        const wkv7_check::Case c{"split", 300, 3, 0.545f, 1.0f};
        for (Call how : {Call::chunked, Call::prepass, Call::prefill, Call::scan}) {
            const std::string why = run_calls(how, c, 77u, {1, 16, 40, 7, 100}).why;
            QVERIFY2(why.empty(), why.c_str());
        }
    }

    // wkv7_prefill on a head size the chunked kernel does not take: the sequential kernel runs.
    void prefillOtherHeadSize() {
        const int T = 40, H = 2, N = 13;
        const std::size_t n = std::size_t(T) * H * N;
        std::vector<float> r(n, 0.5f), w(n, 0.9f), k(n, 0.25f), v(n, 1.0f), a(n, 0.0f),
            b(n, 0.0f), state(std::size_t(H) * N * N, 0.0f), y(n, -1.0f);
        auto ran = lectern::cuda::wkv7_prefill(T, H, N, r.data(), w.data(), k.data(), v.data(),
                                               a.data(), b.data(), state.data(), y.data(),
                                               nullptr);
        QVERIFY2(ran, ran ? "" : ran.error().message.c_str());
        // a = b = 0: S_t = 0.9 S_{t-1} + v k, every element 0.25 (1 - 0.9^t) / 0.1.
        const double s40 = 0.25 * (1.0 - std::pow(0.9, 40)) / 0.1;
        QVERIFY(std::fabs(state[0] - s40) < 1e-5);
        QVERIFY(std::fabs(y[n - 1] - s40 * 0.5 * N) < 1e-4);
    }

    void rejectsBadArguments() {
        const wkv7_check::Case c{"bad", 32, 1, 0.545f, 1.0f};
        const auto in = wkv7_check::make_inputs(c, 9u);
        Guarded y(std::size_t(c.T) * in.C()), state(in.state.size(), in.state.data());
        const float *r = in.r.data(), *w = in.w.data(), *k = in.k.data(), *v = in.v.data(),
                    *a = in.a.data(), *b = in.b.data();
        using lectern::cuda::wkv7_forward_chunked;
        QVERIFY(!wkv7_forward_chunked(16, 1, 13, r, w, k, v, a, b, state.payload(), y.payload(),
                                      nullptr));
        QVERIFY(!wkv7_forward_chunked(16, 1, 64, r + 1, w, k, v, a, b, state.payload(),
                                      y.payload(), nullptr));
        QVERIFY(!wkv7_forward_chunked(16, 1, 64, r, w, k, v, nullptr, b, state.payload(),
                                      y.payload(), nullptr));
        QVERIFY(!wkv7_forward_chunked(-1, 1, 64, r, w, k, v, a, b, state.payload(), y.payload(),
                                      nullptr));
        QVERIFY(!lectern::cuda::wkv7_chunked_supported(64, r, w + 1, k, v, a, b));
        QVERIFY(wkv7_forward_chunked(0, 1, 64, r, w, k, v, a, b, state.payload(), y.payload(),
                                     nullptr));
        QVERIFY(y.sentinels_intact() && state.sentinels_intact());
        for (std::size_t i = 0; i < y.n; ++i)
            QVERIFY(std::memcmp(&y.payload()[i], &wkv7_check::sentinel, 4) == 0);
        QVERIFY(std::memcmp(state.payload(), in.state.data(), state.n * sizeof(float)) == 0);
    }
};

QTEST_GUILESS_MAIN(TestWkv7ChunkedEmu)
#include "tst_wkv7_chunked_emu.moc"
