// The op-kind breakdown of GPU forward calls (cuda_profile.h, lectern/cuda_backend.h): a pool of
// CUDA event pairs filled in call order and summed per op kind when the report is asked for.
// One process-wide profile: benchmarks run one model on one thread.
#include "cuda_profile.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "lectern/cuda_backend.h"

namespace lectern::cuda {
namespace {

struct EventPair {
    cudaEvent_t start = nullptr, stop = nullptr;
    ProfileOp op = ProfileOp::matmul;
    int rows = 0, cols = 0;      // a matmul's weight shape, 0 when not given
    const char* name = nullptr;  // another op's name, when given
};

struct ShapeTotal {
    double ms = 0;
    long long calls = 0;
};

struct Profile {
    std::mutex mutex;
    // Read without the mutex first: every op of every call passes here, profiled or not.
    std::atomic<bool> on{false};
    std::vector<EventPair> pairs;  // every created pair; [0, used) hold this period's records
    std::size_t used = 0;
    std::array<double, std::size_t(ProfileOp::count)> ms{};
    std::array<long long, std::size_t(ProfileOp::count)> calls{};
    std::map<std::pair<int, int>, ShapeTotal> shapes;  // matmuls by weight shape
    std::map<std::string, ShapeTotal> names;           // other ops by "kind: name"
    std::array<double, std::size_t(HostStep::count)> host_ms{};
    std::array<long long, std::size_t(HostStep::count)> host_calls{};

    // Fold the recorded pairs into the totals (waits for them) and free the pool for reuse.
    void collect() {
        for (std::size_t i = 0; i < used; ++i) {
            EventPair& p = pairs[i];
            float t = 0;
            if (cudaEventSynchronize(p.stop) == cudaSuccess &&
                cudaEventElapsedTime(&t, p.start, p.stop) == cudaSuccess) {
                ms[std::size_t(p.op)] += double(t);
                ++calls[std::size_t(p.op)];
                if (p.op == ProfileOp::matmul && p.rows > 0) {
                    ShapeTotal& shape = shapes[{p.rows, p.cols}];
                    shape.ms += double(t);
                    ++shape.calls;
                }
                if (p.name) {
                    ShapeTotal& named = names[std::string(profile_op_name(p.op)) + ": " + p.name];
                    named.ms += double(t);
                    ++named.calls;
                }
            }
        }
        used = 0;
    }
};

Profile& profile() {
    static Profile p;
    return p;
}

}  // namespace

const char* profile_op_name(ProfileOp op) {
    switch (op) {
        case ProfileOp::matmul:
            return "matmul";
        case ProfileOp::wkv7:
            return "wkv7";
        case ProfileOp::attention:
            return "attention";
        case ProfileOp::norm:
            return "norm";
        case ProfileOp::elementwise:
            return "elementwise";
        case ProfileOp::transfer:
            return "transfer";
        case ProfileOp::count:
            break;
    }
    return "?";
}

ProfileScope::ProfileScope(ProfileOp op, cuda_stream stream, int rows, int cols)
    : m_stream(stream) {
    start(op, rows, cols, nullptr);
}

ProfileScope::ProfileScope(ProfileOp op, cuda_stream stream, const char* name) : m_stream(stream) {
    start(op, 0, 0, name);
}

void ProfileScope::start(ProfileOp op, int rows, int cols, const char* name) {
    Profile& p = profile();
    if (!p.on.load(std::memory_order_relaxed)) return;
    std::lock_guard lock(p.mutex);
    if (!p.on) return;
    // Bound the pool: fold what is recorded so far once it holds many pairs.
    if (p.used == 65536) p.collect();
    if (p.used == p.pairs.size()) {
        EventPair e;
        if (cudaEventCreate(&e.start) != cudaSuccess) return;
        if (cudaEventCreate(&e.stop) != cudaSuccess) {
            cudaEventDestroy(e.start);
            return;
        }
        p.pairs.push_back(e);
    }
    EventPair& e = p.pairs[p.used];
    e.op = op;
    e.rows = rows;
    e.cols = cols;
    e.name = name;
    if (cudaEventRecord(e.start, static_cast<cudaStream_t>(m_stream)) != cudaSuccess) return;
    m_pair = int(p.used++);
}

ProfileScope::~ProfileScope() {
    if (m_pair < 0) return;
    Profile& p = profile();
    std::lock_guard lock(p.mutex);
    cudaEventRecord(p.pairs[std::size_t(m_pair)].stop, static_cast<cudaStream_t>(m_stream));
}

const char* host_step_name(HostStep step) {
    switch (step) {
        case HostStep::selection_wait:
            return "selection wait";
        case HostStep::paging:
            return "paging";
        case HostStep::kv_rows_wait:
            return "kv rows wait";
        case HostStep::kv_append:
            return "kv append";
        case HostStep::logits_wait:
            return "logits wait";
        case HostStep::count:
            break;
    }
    return "?";
}

namespace {
long long now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
}  // namespace

HostStepScope::HostStepScope(HostStep step) {
    if (!profile().on.load(std::memory_order_relaxed)) return;
    m_step = int(step);
    m_start_ns = now_ns();
}

HostStepScope::~HostStepScope() {
    if (m_step < 0) return;
    const double ms = double(now_ns() - m_start_ns) / 1e6;
    Profile& p = profile();
    std::lock_guard lock(p.mutex);
    if (!p.on) return;
    p.host_ms[std::size_t(m_step)] += ms;
    ++p.host_calls[std::size_t(m_step)];
}

ProfilePause::ProfilePause() {
    Profile& p = profile();
    std::lock_guard lock(p.mutex);
    m_was_on = p.on;
    p.on = false;
}

ProfilePause::~ProfilePause() {
    Profile& p = profile();
    std::lock_guard lock(p.mutex);
    p.on = m_was_on;
}

}  // namespace lectern::cuda

namespace lectern {

void gpu_profile_enable(bool on) {
    auto& p = cuda::profile();
    std::lock_guard lock(p.mutex);
    p.collect();
    p.ms.fill(0);
    p.calls.fill(0);
    p.shapes.clear();
    p.names.clear();
    p.host_ms.fill(0);
    p.host_calls.fill(0);
    p.on = on;
}

std::vector<GpuProfileEntry> gpu_profile_report() {
    auto& p = cuda::profile();
    std::lock_guard lock(p.mutex);
    p.collect();
    std::vector<GpuProfileEntry> out;
    for (int i = 0; i < int(cuda::ProfileOp::count); ++i)
        if (p.calls[std::size_t(i)] > 0)
            out.push_back({cuda::profile_op_name(cuda::ProfileOp(i)), p.ms[std::size_t(i)],
                           p.calls[std::size_t(i)]});
    return out;
}

std::vector<GpuProfileEntry> gpu_profile_host_steps() {
    auto& p = cuda::profile();
    std::lock_guard lock(p.mutex);
    std::vector<GpuProfileEntry> out;
    for (int i = 0; i < int(cuda::HostStep::count); ++i)
        if (p.host_calls[std::size_t(i)] > 0)
            out.push_back({cuda::host_step_name(cuda::HostStep(i)), p.host_ms[std::size_t(i)],
                           p.host_calls[std::size_t(i)]});
    return out;
}

std::vector<GpuProfileEntry> gpu_profile_matmul_shapes() {
    auto& p = cuda::profile();
    std::lock_guard lock(p.mutex);
    p.collect();
    std::vector<GpuProfileEntry> out;
    for (const auto& [shape, total] : p.shapes)
        out.push_back({std::to_string(shape.first) + " x " + std::to_string(shape.second), total.ms,
                       total.calls});
    std::sort(out.begin(), out.end(),
              [](const GpuProfileEntry& a, const GpuProfileEntry& b) { return a.ms > b.ms; });
    return out;
}

std::vector<GpuProfileEntry> gpu_profile_op_names() {
    auto& p = cuda::profile();
    std::lock_guard lock(p.mutex);
    p.collect();
    std::vector<GpuProfileEntry> out;
    for (const auto& [name, total] : p.names) out.push_back({name, total.ms, total.calls});
    std::sort(out.begin(), out.end(),
              [](const GpuProfileEntry& a, const GpuProfileEntry& b) { return a.ms > b.ms; });
    return out;
}

}  // namespace lectern
