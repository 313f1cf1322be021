// The shape of an RWKV-7 or RWKV-X checkpoint, inferred from tensor names and shapes (spec §1.3),
// and validation of every tensor against it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "lectern/dtype.h"
#include "lectern/model_file.h"
#include "lectern/result.h"

namespace lectern {

enum class Arch : std::uint8_t { rwkv7, rwkv_x };
std::string_view arch_name(Arch a);  // "rwkv7", "rwkv-x"

struct ModelConfig {
    Arch arch = Arch::rwkv7;
    std::string key_prefix;     // "" for BlinkDL RWKV-7 files, "rwkv." for RWKV-X files
    int n_rwkv = 0;             // RWKV-7 blocks
    int n_attn = 0;             // sparse attention blocks ("moba.{j}.")
    int n_embd = 0;             // C
    int n_head = 0;             // H
    int head_size = 0;          // N (64 for every released model; required by RWKV-X)
    int vocab = 0;              // V (rows of head.weight)
    int ffn_dim = 0;            // hidden size of channel mix (4C in released models)
    int lora_decay = 0;         // Dw: att.w1 is [C, Dw]
    int lora_iclr = 0;          // Da: att.a1 is [C, Da]
    int lora_value = 0;         // Dv: att.v1 is [C, Dv] (blocks 1..)
    int lora_gate = 0;          // Dg: att.g1 is [C, Dg]
    std::string block_order;    // execution order, e.g. "RRRARRRARRRARRRA" (spec §1.1)
    DType dtype = DType::f32;   // dtype holding the most parameters
    bool mixed_dtype = false;   // true when tensors use more than one dtype
    std::int64_t params = 0;    // total elements over all tensors
};

// Infer the configuration and check that every expected tensor is present with the right shape
// and no unexpected tensor is present. Errors are one line naming the tensor, e.g.
// "blocks.3.att.w1: shape [768,32], expected [768,64]".
Result<ModelConfig> infer_model_config(const ModelFile& file);

}  // namespace lectern
