// State::Impl: the recurrent state of every block (float32) and one KV cache per attention block
// (spec §2.7). Private to the engine.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attention/sparse_attention.h"
#include "infer/device_backend.h"
#include "lectern/inference.h"

namespace lectern {

// The parts a forward call rewrites as a whole; forward works on a copy and commits it at the end
// so that a failed call leaves the state untouched.
struct RecurrentState {
    std::vector<std::vector<float>> att_shift;       // per RWKV block: LN1 output of last token [C]
    std::vector<std::vector<float>> wkv;             // per RWKV block: [H][N][N], [head][value][key]
    std::vector<std::vector<float>> ffn_shift;       // per RWKV block: LN2 output of last token [C]
    std::vector<std::vector<float>> attn_ffn_shift;  // per attention block: LN2 output [C]

    static RecurrentState zeros(const ModelConfig& c);
};

struct State::Impl {
    std::shared_ptr<const Model> model;
    AttentionOptions attention;
    std::int64_t position = 0;
    // The host copy of the recurrent state. Mutable because a GPU state refreshes it lazily from
    // const readers (serialize, the views): read it only after sync_host().
    mutable RecurrentState rec;
    std::vector<KvCache> kv;  // one per attention block; always complete on the host
    // Non-empty when the state could not be copied whole (a fork whose original's recurrent
    // state could not be read back from the GPU): every later call reports this message. A failed
    // call never sets it: it puts the KV caches back (kv_cache_mark.h).
    std::string broken;

    // GPU backend (device_backend.h). The device holds a copy of the recurrent state and a mirror
    // of the KV rows (the host KvCaches get every row too). device_rec_valid: the device copy is
    // the current state. host_rec_stale: `rec` is older than the device copy (a GPU call ran
    // since the last sync). Declared last: destroyed before `model`, whose device it uses.
    std::unique_ptr<DeviceState> device;
    bool device_rec_valid = false;
    mutable bool host_rec_stale = false;

    // Bring `rec` up to date from the device when a GPU call left it stale; every reader of `rec`
    // calls this first. Fails only when the device copy cannot be read.
    Result<void> sync_host() const;
};

// The option values every part of the engine accepts (positive chunk and top-k, non-negative
// cache limits, kv_min > kv_window when compression is on); a one-line error otherwise.
Result<void> check_attention_options(const AttentionOptions& o);

}  // namespace lectern
