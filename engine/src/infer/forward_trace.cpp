// The ForwardTrace bookkeeping of one forward call (infer/forward_trace.h).
#include "infer/forward_trace.h"

#include <cstddef>

namespace lectern {

// Slots per (token, block, head) of a ForwardTrace: the chunks besides the query's own.
int trace_width(const AttentionOptions& o) {
    return o.mode == AttentionMode::native ? o.top_k - 1 : o.top_k;
}

// A trace that already holds rows must come from the same model and options.
Result<void> check_trace(const State::Impl& s, const ForwardTrace& trace) {
    const ModelConfig& c = s.model->config();
    if (trace.rows == 0) return {};
    if (trace.n_attn != c.n_attn || trace.n_head != c.n_head ||
        trace.width != trace_width(s.attention))
        return make_error("forward: the trace was started by another model or attention options");
    const std::size_t slots = std::size_t(trace.rows) * std::size_t(trace.n_attn) *
                              std::size_t(trace.n_head) * std::size_t(trace.width);
    if (trace.position.size() != std::size_t(trace.rows) || trace.chunk.size() != slots ||
        trace.weight.size() != slots)
        return make_error("forward: the trace's arrays do not match its row count");
    return {};
}

// Make room for T more rows (unused slots: chunk -1, weight 0).
void grow_trace(const State::Impl& s, ForwardTrace& trace, int T) {
    const ModelConfig& c = s.model->config();
    trace.n_attn = c.n_attn;
    trace.n_head = c.n_head;
    trace.width = trace_width(s.attention);
    const std::size_t per_row =
        std::size_t(trace.n_attn) * std::size_t(trace.n_head) * std::size_t(trace.width);
    for (int t = 0; t < T; ++t) trace.position.push_back(s.position + t);
    trace.chunk.resize(trace.chunk.size() + std::size_t(T) * per_row, -1);
    trace.weight.resize(trace.weight.size() + std::size_t(T) * per_row, 0.0f);
    trace.rows += T;
}

// Copy one attention block's choices for tokens [first, first + n) of the call into `trace`
// (whose last `T` rows belong to this call).
void record_trace(const AttentionTrace& at, int block, int first, int n, int T,
                  ForwardTrace& trace) {
    const std::size_t H = std::size_t(trace.n_head), W = std::size_t(trace.width);
    const std::size_t row0 = std::size_t(trace.rows - T + first);
    for (int t = 0; t < n; ++t) {
        for (std::size_t h = 0; h < H; ++h) {
            const std::size_t src = (std::size_t(t) * H + h) * std::size_t(at.width);
            const std::size_t dst =
                (((row0 + std::size_t(t)) * std::size_t(trace.n_attn) + std::size_t(block)) * H +
                 h) * W;
            for (std::size_t s = 0; s < W; ++s) {
                trace.chunk[dst + s] = at.chunks[src + s];
                trace.weight[dst + s] = at.weights[src + s];
            }
        }
    }
}

void shrink_trace(ForwardTrace& trace, int rows) {
    const std::size_t per_row =
        std::size_t(trace.n_attn) * std::size_t(trace.n_head) * std::size_t(trace.width);
    trace.rows = rows;
    trace.position.resize(std::size_t(rows));
    trace.chunk.resize(std::size_t(rows) * per_row);
    trace.weight.resize(std::size_t(rows) * per_row);
}

}  // namespace lectern
