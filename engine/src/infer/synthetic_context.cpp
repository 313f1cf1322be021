// fill_synthetic_context (lectern/synthetic_context.h): random KV chunks appended straight to the
// host caches, as a prefill would have left them (complete chunks in the store, the rest in the
// float32 tail), without running the model.
#include "lectern/synthetic_context.h"

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "attention/kv_cache_impl.h"
#include "infer/state_impl.h"

namespace lectern {
namespace {

void fill_random(std::vector<float>& v, std::mt19937& rng) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (float& x : v) x = u(rng);
}

}  // namespace

Result<void> fill_synthetic_context(State& state, std::int64_t tokens, int distinct_chunks,
                                    std::uint32_t seed) {
    State::Impl& s = state.impl();
    const AttentionOptions& o = s.attention;
    if (tokens < 0) return make_error("synthetic context: negative length");
    if (distinct_chunks < 1) return make_error("synthetic context: distinct_chunks must be >= 1");
    if (s.position != 0) return make_error("synthetic context: the state is not fresh");
    if (o.mode != AttentionMode::native || o.bypass)
        return make_error("synthetic context: needs native attention");
    if (s.kv.empty()) return make_error("synthetic context: the model has no attention blocks");

    const int C = s.kv.front().impl().n_embd;
    const int H = s.kv.front().impl().n_head;  // attention heads are kv_head_dim wide
    const int B = o.chunk_size;
    const std::int64_t full = tokens / B;
    const int tail = int(tokens % B);
    std::mt19937 rng(seed);

    // The distinct chunks, shared by every block (all attention blocks have the same shape).
    std::vector<std::shared_ptr<const KvChunk>> chunks;
    const int n_distinct = int(std::min<std::int64_t>(distinct_chunks, full));
    std::vector<float> k(std::size_t(B) * kv_head_dim * std::size_t(H));
    std::vector<float> v(k.size());
    for (int d = 0; d < n_distinct; ++d) {
        fill_random(k, rng);
        fill_random(v, rng);
        std::vector<const float*> kp(static_cast<std::size_t>(H)), vp(static_cast<std::size_t>(H));
        for (int h = 0; h < H; ++h) {
            kp[std::size_t(h)] = k.data() + std::size_t(h) * B * kv_head_dim;
            vp[std::size_t(h)] = v.data() + std::size_t(h) * B * kv_head_dim;
        }
        chunks.push_back(KvChunk::build(o.kv_dtype, H, B, kp.data(), vp.data()));
    }
    std::vector<float> tk(std::size_t(tail) * C), tv(tk.size());
    fill_random(tk, rng);
    fill_random(tv, rng);
    for (KvCache& cache : s.kv) {
        KvCache::Impl& kv = cache.impl();
        for (std::int64_t c = 0; c < full; ++c)
            kv.store.append_chunk(chunks[std::size_t(c % n_distinct)]);
        kv.tokens += full * B;
        if (tail > 0) kv.append_tail(tk.data(), tv.data(), tail, std::size_t(C));
    }
    s.position = tokens;
    return {};
}

}  // namespace lectern
