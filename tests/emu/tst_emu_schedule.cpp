// The emulator's two schedules (cuda_emu_fiber.h) and its fresh shared memory (cuda_emu.h,
// cuda_to_cpp.py), on kernels with deliberate races (emu_schedule_probe.cu): a missing barrier
// must give a wrong result under one of the two schedules, a correct kernel the right one under
// both, and shared memory a block never wrote must read as NaN, not as what an earlier block or
// launch left. This is what the kernel tests' second run (LECTERN_EMU_SCHEDULE=reverse) relies on.
// Also the launch-bounds check cuda_to_cpp.py adds to every kernel declared with them.
#include <QProcess>
#include <QTest>

#include <cmath>
#include <vector>

#include "cuda_emu.h"
#include "emu_schedule_probe.h"

namespace {

// How many of out's values are not t + 1 for their expected source thread t (source[i]).
template <typename Source>
int wrong_values(const std::vector<float>& out, Source source) {
    int wrong = 0;
    for (int i = 0; i < int(out.size()); ++i)
        if (!(out[std::size_t(i)] == float(source(i) + 1))) ++wrong;
    return wrong;
}

}  // namespace

class TestEmuSchedule : public QObject {
    Q_OBJECT

private slots:
    // LECTERN_EMU_SCHEDULE picks the schedule the kernel tests' second run uses (ctest runs this
    // test both ways too, so the variable is seen to reach the emulator through ctest).
    void initTestCase() {
        const QByteArray e = qgetenv("LECTERN_EMU_SCHEDULE");
        QVERIFY(e.isEmpty() || e == "forward" || e == "reverse");
        QCOMPARE(emu::schedule(), e == "reverse" ? emu::Schedule::reverse : emu::Schedule::forward);
    }
    void init() { emu::set_schedule(emu::Schedule::forward); }

    // Warp 1 reads warp 0's writes without a barrier: the forward schedule runs warp 0 first and
    // hides it; the reverse one runs warp 1 first, which reads what nothing wrote (NaN).
    void reverse_shows_a_read_of_a_lower_warp() {
        const auto source = [](int t) { return t >= 32 ? t - 32 : t; };
        std::vector<float> out(64, 0.0f);
        emu_probe::read_lower_warp(out.data());
        QCOMPARE(wrong_values(out, source), 0);
        emu::set_schedule(emu::Schedule::reverse);
        emu_probe::read_lower_warp(out.data());
        QCOMPARE(wrong_values(out, source), 32);
        for (int t = 32; t < 64; ++t) QVERIFY(std::isnan(out[std::size_t(t)]));
    }

    // Within a warp, lanes reading a higher lane's write without __syncwarp: wrong under the
    // forward schedule (lane 0 runs first), hidden under the reverse one.
    void forward_shows_a_read_of_a_higher_lane() {
        const auto source = [](int t) { return t < 31 ? t + 1 : t; };
        std::vector<float> out(32, 0.0f);
        emu_probe::read_higher_lane(out.data());
        QCOMPARE(wrong_values(out, source), 31);
        emu::set_schedule(emu::Schedule::reverse);
        emu_probe::read_higher_lane(out.data());
        QCOMPARE(wrong_values(out, source), 0);
    }

    // With the barrier the kernel is right under both schedules.
    void a_barrier_is_right_under_both() {
        for (const auto s : {emu::Schedule::forward, emu::Schedule::reverse}) {
            emu::set_schedule(s);
            std::vector<float> out(64, 0.0f);
            emu_probe::read_after_barrier(out.data());
            QCOMPARE(wrong_values(out, [](int t) { return 63 - t; }), 0);
        }
    }

    // A static __shared__ variable is refilled for every block: block 1 never writes, so it reads
    // NaN, not block 0's values (forward) or the last launch's (either schedule); block 0's
    // unwritten half reads NaN after a launch that wrote all of it.
    void unwritten_shared_memory_reads_nan() {
        for (const auto s : {emu::Schedule::forward, emu::Schedule::reverse}) {
            emu::set_schedule(s);
            std::vector<float> out(128, 0.0f);
            emu_probe::read_unwritten(out.data(), 64);
            for (int t = 0; t < 64; ++t) QCOMPARE(out[std::size_t(t)], float(t + 1));
            for (int t = 64; t < 128; ++t) QVERIFY(std::isnan(out[std::size_t(t)]));
            emu_probe::read_unwritten(out.data(), 32);
            for (int t = 0; t < 32; ++t) QCOMPARE(out[std::size_t(t)], float(t + 1));
            for (int t = 32; t < 128; ++t) QVERIFY(std::isnan(out[std::size_t(t)]));
        }
    }

    // Blocks run first to last, or last to first.
    void blocks_run_in_the_schedule_order() {
        std::vector<int> order(5, -1);
        emu_probe::record_block_order(order.data(), 5);
        QCOMPARE(order, (std::vector<int>{0, 1, 2, 3, 4}));
        emu::set_schedule(emu::Schedule::reverse);
        emu_probe::record_block_order(order.data(), 5);
        QCOMPARE(order, (std::vector<int>{4, 3, 2, 1, 0}));
    }

    // Within the bound the kernel runs; past it the emulator stops the program (in a child
    // process, see main).
    void a_launch_past_its_bounds_stops() {
        std::vector<float> out(128, 0.0f);
        emu_probe::bounded_to_64(out.data(), 64);
        for (int t = 0; t < 64; ++t) QCOMPARE(out[std::size_t(t)], float(t + 1));
        expect_stop("bounds", "more threads per block than the kernel's __launch_bounds__");
    }

    // Separate buffers run; one buffer as the const __restrict__ input and the output stops.
    void an_aliased_restrict_pointer_stops() {
        std::vector<float> in(32, 1.5f), out(32, 0.0f);
        emu_probe::doubled(in.data(), out.data());
        QCOMPARE(out[31], 3.0f);
        expect_stop("restrict", "in and out are the same address, one __restrict__");
    }

private:
    // Runs this program again with EMU_PROBE=probe (main runs the offending launch) and checks
    // that it stopped with `message` on stderr.
    static void expect_stop(const char* probe, const char* message) {
        QProcess child;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("EMU_PROBE", probe);
        child.setProcessEnvironment(env);
        child.start("/proc/self/exe", {});
        QVERIFY(child.waitForFinished(60000));
        const QByteArray err = child.readAllStandardError();
        QCOMPARE(child.exitStatus(), QProcess::CrashExit);
        QVERIFY2(err.contains(message), err.constData());
    }
};

int main(int argc, char** argv) {
    const QByteArray probe = qgetenv("EMU_PROBE");
    if (!probe.isEmpty()) {  // a launch the emulator must refuse: not returning is the result
        std::vector<float> data(128, 1.0f);
        if (probe == "bounds") emu_probe::bounded_to_64(data.data(), 128);
        if (probe == "restrict") emu_probe::doubled(data.data(), data.data());
        return 0;
    }
    TestEmuSchedule test;
    return QTest::qExec(&test, argc, argv);
}
#include "tst_emu_schedule.moc"
