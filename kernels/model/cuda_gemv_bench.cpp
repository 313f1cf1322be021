// measure_decode_gemv (lectern/cuda_backend.h): the decode GEMV launches of one RWKV-7 block and
// the head, alone, at a model's shapes, each walk of gemv.cu timed in turn in the same minute
// (lectern-cli bench --shape ... --gemv): the same-process A/B of the streamed walk that the whole
// decode's tok/s rows cannot give per matrix.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cuda_check.cuh"
#include "lectern/cuda/cuda_device.h"
#include "lectern/cuda/matmul.h"
#include "lectern/cuda_backend.h"

// Weight bytes each timed batch cycles through: enough copies of the batch that no launch finds
// its weights in L2 (50 MB on an H100/H200). The CPU emulator's build (tests/emu) shrinks it.
#ifndef LECTERN_GEMV_BENCH_BYTES
#define LECTERN_GEMV_BENCH_BYTES (std::size_t(256) << 20)
#endif
// And the launches timed per walk, at most (the emulator's build: a few).
#ifndef LECTERN_GEMV_BENCH_MAX_LAUNCHES
#define LECTERN_GEMV_BENCH_MAX_LAUNCHES 1000000
#endif

namespace lectern {
namespace {

// One launch of the decode chain: its jobs' shapes (rows x cols) and epilogues, as
// rwkv_block_decode (kernels/model/cuda_decode_rwkv.cpp) and the head issue them.
struct BatchShape {
    std::string name;
    std::vector<std::pair<int, int>> shapes;
    cuda::GemvEpilogue epilogue = cuda::GemvEpilogue::none;
};

std::vector<BatchShape> decode_batches(const ModelConfig& c) {
    const int C = c.n_embd, F = c.ffn_dim;
    using E = cuda::GemvEpilogue;
    // A block after the first (the value-residual LoRA included).
    return {{"rkv+downs",
             {{C, C},
              {C, C},
              {C, C},
              {c.lora_decay, C},
              {c.lora_iclr, C},
              {c.lora_gate, C},
              {c.lora_value, C}},
             E::none},
            {"lora ups",
             {{C, c.lora_decay}, {C, c.lora_iclr}, {C, c.lora_gate}, {C, c.lora_value}},
             E::none},
            {"output", {{C, C}}, E::add},
            {"ffn key", {{F, C}}, E::relu_square},
            {"ffn value", {{C, F}}, E::add},
            {"head", {{c.vocab, C}}, E::none}};
}

const char* walk_name(cuda::GemvWalk walk) {
    switch (walk) {
        case cuda::GemvWalk::stream4:
            return "stream";
        case cuda::GemvWalk::stream8:
            return "stream8";
        default:
            return "rows";
    }
}

// Copies of one batch's weights (as many as LECTERN_GEMV_BENCH_BYTES holds, at least one), with
// x, y and resid for every job; the job tables of each copy.
struct BatchCopies {
    std::vector<cuda::DeviceBuffer> buffers;
    std::vector<std::vector<cuda::GemvJob>> tables;
    double bytes = 0;  // weights of one launch
};

Result<BatchCopies> batch_copies(const BatchShape& b, DType dtype) {
    BatchCopies out;
    std::size_t per_copy = 0;
    int most_cols = 0, most_rows = 0;
    for (const auto& [rows, cols] : b.shapes) {
        per_copy += std::size_t(rows) * std::size_t(cols) * dtype_size(dtype);
        most_cols = std::max(most_cols, cols);
        most_rows = std::max(most_rows, rows);
    }
    out.bytes = double(per_copy);
    const std::size_t copies = std::max<std::size_t>(
        1, std::size_t(LECTERN_GEMV_BENCH_BYTES) / std::max<std::size_t>(per_copy, 1));
    // x [most_cols], then y and resid [most_rows] per job (y may be shared by the copies: the
    // values are never read).
    const auto add_buffer = [&out](std::size_t bytes, unsigned char byte) -> Result<void*> {
        auto got = cuda::DeviceBuffer::allocate(bytes);
        if (!got) return got.error();
        // 0x3c: every bf16 / f16 element about 0.01 to 1, every float about 0.01: finite sums.
        if (auto ok = got->fill(byte); !ok) return ok.error();
        out.buffers.push_back(std::move(*got));
        return out.buffers.back().data();
    };
    auto x = add_buffer(std::size_t(most_cols) * sizeof(float), 0x3c);
    if (!x) return x.error();
    std::vector<float*> ys, resids;
    for (std::size_t j = 0; j < b.shapes.size(); ++j) {
        auto y = add_buffer(std::size_t(most_rows) * sizeof(float), 0);
        auto r = y ? add_buffer(std::size_t(most_rows) * sizeof(float), 0x3c) : y;
        if (!r) return r.error();
        ys.push_back(static_cast<float*>(*y));
        resids.push_back(static_cast<float*>(*r));
    }
    for (std::size_t k = 0; k < copies; ++k) {
        std::vector<cuda::GemvJob> table;
        for (std::size_t j = 0; j < b.shapes.size(); ++j) {
            const auto [rows, cols] = b.shapes[j];
            auto w = add_buffer(std::size_t(rows) * std::size_t(cols) * dtype_size(dtype), 0x3c);
            if (!w) return w.error();
            cuda::GemvJob job;
            job.w = {dtype, rows, cols, *w};
            job.x = static_cast<const float*>(*x);
            job.y = ys[j];
            job.epilogue = b.epilogue;
            job.resid = b.epilogue == cuda::GemvEpilogue::add ? resids[j] : nullptr;
            table.push_back(job);
        }
        out.tables.push_back(std::move(table));
    }
    return out;
}

// Microseconds per launch of `walk` over the copies in turn, `launches` of them after one of each
// copy untimed, back to back on the default stream (as the decode chain issues them, but each
// after one of its own kind).
Result<double> time_walk(const BatchCopies& b, cuda::GemvWalk walk, int launches) {
    const auto launch = [&](std::size_t i) {
        const auto& t = b.tables[i % b.tables.size()];
        return cuda::gemv_batched(t.data(), int(t.size()), nullptr, walk);
    };
    for (std::size_t i = 0; i < b.tables.size(); ++i)
        if (auto ok = launch(i); !ok) return ok.error();
    cudaEvent_t start, stop;
    LECTERN_CUDA_TRY(cudaEventCreate(&start));
    LECTERN_CUDA_TRY(cudaEventCreate(&stop));
    Result<double> result = 0.0;
    if (cudaEventRecord(start) != cudaSuccess) result = make_error("cudaEventRecord failed");
    for (int i = 0; i < launches && result; ++i)
        if (auto ok = launch(std::size_t(i)); !ok) result = ok.error();
    float ms = 0;
    if (result &&
        (cudaEventRecord(stop) != cudaSuccess || cudaEventSynchronize(stop) != cudaSuccess ||
         cudaEventElapsedTime(&ms, start, stop) != cudaSuccess))
        result = make_error("timing the GEMV launches failed");
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    if (!result) return result;
    return double(ms) * 1e3 / launches;
}

}  // namespace

Result<std::vector<GemvBenchRow>> measure_decode_gemv(const ModelConfig& config, DType dtype,
                                                      int launches) {
    if (launches < 1) return make_error("measure_decode_gemv: launches must be positive");
    launches = std::min(launches, LECTERN_GEMV_BENCH_MAX_LAUNCHES);
    const cuda::GemvWalk walks[] = {cuda::GemvWalk::rows, cuda::GemvWalk::stream4,
                                    cuda::GemvWalk::stream8};
    std::vector<GemvBenchRow> rows;
    for (BatchShape shape : decode_batches(config)) {
        // A model without one of the LoRAs has nothing to launch for it.
        std::erase_if(shape.shapes, [](const auto& s) { return s.first < 1 || s.second < 1; });
        if (shape.shapes.empty()) continue;
        auto copies = batch_copies(shape, dtype);  // freed before the next batch's
        if (!copies) return copies.error();
        for (const cuda::GemvWalk walk : walks) {
            auto us = time_walk(*copies, walk, launches);
            if (!us) return us.error();
            rows.push_back({shape.name, walk_name(walk), copies->bytes, *us});
        }
    }
    return rows;
}

}  // namespace lectern
