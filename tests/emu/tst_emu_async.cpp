// The emulator's asynchronous mode (LECTERN_EMU_ASYNC=1, cuda_emu_runtime.h), which the GPU tests
// and lectern-cli-emu run under: issued work waits until the host synchronises on it, and copies
// treat pageable and pinned host memory as CUDA does. These are the semantics that let a test on
// the emulator catch host code racing its own copies (a pinned buffer refilled before its copy
// ran, results read before they were waited for), so they are checked here on their own.
// Device memory is host memory in the emulator, so the test may look at it without a copy, which
// shows what the device has (not) done yet.
#include <QTest>

#include <cstdint>
#include <cstring>
#include <vector>

#include "cuda_emu.h"
#include "lectern/cuda/activations.h"

namespace {

// n floats of device memory, all `value`.
float* device_floats(std::size_t n, float value) {
    void* p = nullptr;
    if (cudaMalloc(&p, n * sizeof(float)) != cudaSuccess) return nullptr;
    std::vector<float> v(n, value);
    if (cudaMemcpy(p, v.data(), n * sizeof(float), cudaMemcpyHostToDevice) != cudaSuccess)
        return nullptr;
    return static_cast<float*>(p);
}

float* pinned_floats(std::size_t n, float value) {
    void* p = nullptr;
    if (cudaHostAlloc(&p, n * sizeof(float), cudaHostAllocDefault) != cudaSuccess) return nullptr;
    auto* f = static_cast<float*>(p);
    for (std::size_t i = 0; i < n; ++i) f[i] = value;
    return f;
}

}  // namespace

class TestEmuAsync : public QObject {
    Q_OBJECT

private slots:
    // Before the first CUDA call, which reads it once.
    void initTestCase() { qputenv("LECTERN_EMU_ASYNC", "1"); }

    // A kernel's results appear when the host waits for them, not when it is launched.
    void kernels_run_at_synchronisation() {
        float* d = device_floats(4, -3.0f);
        QVERIFY(d);
        QVERIFY(lectern::cuda::relu_square(d, 4).has_value());
        QCOMPARE(d[0], -3.0f);  // queued
        QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
        QCOMPARE(d[0], 0.0f);
        float back[4] = {};
        // A synchronous copy waits for the work issued before it.
        d[1] = 2.0f;
        QVERIFY(lectern::cuda::relu_square(d, 4).has_value());
        QCOMPARE(cudaMemcpy(back, d, sizeof back, cudaMemcpyDeviceToHost), cudaSuccess);
        QCOMPARE(back[1], 4.0f);
        QCOMPARE(cudaFree(d), cudaSuccess);
    }

    // Host-to-device from pinned memory reads the source when the copy runs: a source rewritten
    // before a synchronisation is what arrives (the race a double buffer must avoid); from
    // pageable memory the source is staged when the call returns.
    void pinned_sources_are_read_late() {
        float* d = device_floats(2, 0.0f);
        float* pinned = pinned_floats(1, 1.0f);
        QVERIFY(d && pinned);
        std::vector<float> pageable{10.0f};
        QCOMPARE(cudaMemcpyAsync(d, pinned, sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
        QCOMPARE(cudaMemcpyAsync(d + 1, pageable.data(), sizeof(float), cudaMemcpyHostToDevice),
                 cudaSuccess);
        pinned[0] = 2.0f;
        pageable[0] = 20.0f;
        QCOMPARE(cudaStreamSynchronize(nullptr), cudaSuccess);
        QCOMPARE(d[0], 2.0f);
        QCOMPARE(d[1], 10.0f);
        QCOMPARE(cudaFreeHost(pinned), cudaSuccess);
        QCOMPARE(cudaFree(d), cudaSuccess);
    }

    // Device-to-host into pageable memory has completed when the call returns; into pinned
    // memory it lands when the host waits for it.
    void device_to_host() {
        float* d = device_floats(1, 5.0f);
        float* pinned = pinned_floats(1, 0.0f);
        QVERIFY(d && pinned);
        float pageable = 0.0f;
        QVERIFY(lectern::cuda::relu_square(d, 1).has_value());
        QCOMPARE(cudaMemcpyAsync(&pageable, d, sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
        QCOMPARE(pageable, 25.0f);
        QVERIFY(lectern::cuda::relu_square(d, 1).has_value());
        QCOMPARE(cudaMemcpyAsync(pinned, d, sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
        QCOMPARE(pinned[0], 0.0f);
        QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
        QCOMPARE(pinned[0], 625.0f);
        QCOMPARE(cudaFreeHost(pinned), cudaSuccess);
        QCOMPARE(cudaFree(d), cudaSuccess);
    }

    // An event synchronisation waits for the work before the record, not for the work after it.
    void events_wait_for_their_own_work() {
        float* d = device_floats(2, 0.0f);
        QVERIFY(d);
        // Allocated now: device_floats' synchronous copy would itself wait for everything.
        void* other = nullptr;
        QCOMPARE(cudaMalloc(&other, 16), cudaSuccess);
        cudaEvent_t e = nullptr;
        QCOMPARE(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), cudaSuccess);
        QCOMPARE(cudaMemsetAsync(d, 0x3F, sizeof(float)), cudaSuccess);
        QCOMPARE(cudaEventRecord(e, nullptr), cudaSuccess);
        QCOMPARE(cudaMemsetAsync(d + 1, 0x3F, sizeof(float)), cudaSuccess);
        QCOMPARE(cudaEventSynchronize(e), cudaSuccess);
        QVERIFY(d[0] != 0.0f);
        QCOMPARE(d[1], 0.0f);
        // Destroying the event waits for nothing more; freeing memory waits for everything.
        QCOMPARE(cudaEventDestroy(e), cudaSuccess);
        QCOMPARE(d[1], 0.0f);
        QCOMPARE(cudaFree(other), cudaSuccess);
        QVERIFY(d[1] != 0.0f);
        QCOMPARE(cudaFree(d), cudaSuccess);
    }

    // Work issued to a capturing stream is recorded, and its graph's launch is queued like a
    // kernel.
    void graph_launches_are_queued() {
        float* d = device_floats(1, 3.0f);
        QVERIFY(d);
        cudaStream_t s = nullptr;
        QCOMPARE(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
        QCOMPARE(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
        QVERIFY(lectern::cuda::relu_square(d, 1, s).has_value());
        cudaGraph_t g = nullptr;
        QCOMPARE(cudaStreamEndCapture(s, &g), cudaSuccess);
        QCOMPARE(d[0], 3.0f);  // recorded, not run
        cudaGraphExec_t exec = nullptr;
        QCOMPARE(cudaGraphInstantiate(&exec, g, 0), cudaSuccess);
        QCOMPARE(cudaGraphLaunch(exec, s), cudaSuccess);
        QCOMPARE(d[0], 3.0f);  // queued
        QCOMPARE(cudaStreamSynchronize(s), cudaSuccess);
        QCOMPARE(d[0], 9.0f);
        QCOMPARE(cudaGraphExecDestroy(exec), cudaSuccess);
        QCOMPARE(cudaGraphDestroy(g), cudaSuccess);
        QCOMPARE(cudaStreamDestroy(s), cudaSuccess);
        QCOMPARE(cudaFree(d), cudaSuccess);
    }

    // Injected faults (emu::arm_fault), which tst_cuda_faults_emu aims at the engine: a refused
    // launch fails at once and nothing else; a kernel fault shows at the next synchronisation,
    // and from then on nothing runs and every call fails until clear_faults().
    void injected_faults() {
        float* d = device_floats(2, 2.0f);
        QVERIFY(d);
        const std::uint64_t before = emu::launches_issued();
        emu::arm_fault(emu::Fault::refused_launch, 1);
        QVERIFY(lectern::cuda::relu_square(d, 1).has_value());  // the one let through
        QVERIFY(!lectern::cuda::relu_square(d + 1, 1).has_value());
        QCOMPARE(emu::launches_issued(), before + 2);
        QVERIFY(lectern::cuda::relu_square(d + 1, 1).has_value());  // one fault only
        QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
        QCOMPARE(d[0], 4.0f);
        QCOMPARE(d[1], 4.0f);  // the refused launch never ran

        emu::arm_fault(emu::Fault::kernel_fault, 0);
        QVERIFY(lectern::cuda::relu_square(d, 1).has_value());  // accepted
        float back = 0.0f;
        QCOMPARE(cudaMemcpyAsync(d + 1, &back, sizeof back, cudaMemcpyHostToDevice),
                 cudaSuccess);  // issued before the fault ran (queued behind it)
        QCOMPARE(cudaDeviceSynchronize(), cudaErrorIllegalAddress);
        QCOMPARE(d[0], 4.0f);  // neither the faulting kernel nor the copy after it ran
        QCOMPARE(d[1], 4.0f);
        QCOMPARE(cudaGetLastError(), cudaErrorIllegalAddress);  // sticky
        QCOMPARE(cudaGetLastError(), cudaErrorIllegalAddress);
        QVERIFY(!lectern::cuda::relu_square(d, 1).has_value());
        QCOMPARE(cudaMemcpy(&back, d, sizeof back, cudaMemcpyDeviceToHost),
                 cudaErrorIllegalAddress);
        void* more = nullptr;
        QCOMPARE(cudaMalloc(&more, 16), cudaErrorIllegalAddress);
        emu::clear_faults();
        QVERIFY(lectern::cuda::relu_square(d, 1).has_value());
        QCOMPARE(cudaMemcpy(&back, d, sizeof back, cudaMemcpyDeviceToHost), cudaSuccess);
        QCOMPARE(back, 16.0f);
        QCOMPARE(cudaFree(d), cudaSuccess);
    }
};

QTEST_APPLESS_MAIN(TestEmuAsync)
#include "tst_emu_async.moc"
