// The bookkeeping of a ForwardTrace (lectern/inference.h) around one forward call, shared by the
// CPU path (forward.cpp) and a device backend (kernels/model/ fills the rows of its attention
// blocks from the GPU's selections and shares): checking a trace that already holds rows, making
// room for the call's rows, copying one attention block's choices in, and dropping the rows of a
// failed call.
#pragma once

#include "attention/sparse_attention.h"
#include "infer/state_impl.h"

namespace lectern {

// Slots per (token, block, head) of a ForwardTrace: the chunks besides the query's own.
int trace_width(const AttentionOptions& o);

// A trace that already holds rows must come from the same model and options.
Result<void> check_trace(const State::Impl& s, const ForwardTrace& trace);

// Make room for T more rows (unused slots: chunk -1, weight 0).
void grow_trace(const State::Impl& s, ForwardTrace& trace, int T);

// Copy one attention block's choices for tokens [first, first + n) of the call into `trace`
// (whose last `T` rows belong to this call). `at` holds n rows of n_head x at.width entries;
// the first trace.width of each are copied.
void record_trace(const AttentionTrace& at, int block, int first, int n, int T,
                  ForwardTrace& trace);

// Back to `rows` rows (a failed call adds none).
void shrink_trace(ForwardTrace& trace, int rows);

}  // namespace lectern
