// For benchmarks only: give a fresh State a long context without reading it, so decode latency
// after 128K or 1M tokens can be measured in seconds instead of a prefill of many minutes.
#pragma once

#include <cstdint>

#include "lectern/inference.h"
#include "lectern/result.h"

namespace lectern {

// Append `tokens` rows of random keys and values to every attention block's KV cache of a fresh
// native-attention state (position 0) and advance its position to `tokens`; the recurrent state
// stays zero. Complete chunks cycle through `distinct_chunks` random chunks (chunks are
// immutable and shared, so a million-token context costs the host memory of those few), the
// partial last chunk is random too. Since repeated chunks have equal means, the top-k selection
// keeps choosing among the lowest-numbered copies: the figure measures decode over a cache of
// that length whose selected chunks stay the same, not the traffic of a changing selection.
Result<void> fill_synthetic_context(State& state, std::int64_t tokens, int distinct_chunks,
                                    std::uint32_t seed);

}  // namespace lectern
