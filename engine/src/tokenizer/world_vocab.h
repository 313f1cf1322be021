// Parser and validator for the RWKV World vocabulary text (spec §4.1): one token per line,
// `<id> <Python str or bytes literal> <nbytes>`. Private to the engine; the trie that encodes
// with it lives in world_tokenizer.cpp. Checked by tests/tokenizer/tst_world_vocab_errors.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lectern/result.h"
#include "lectern/tokenizer.h"

namespace lectern::world {

// Longest token in bytes (the real vocabulary's maximum, spec §4.1).
inline constexpr std::size_t max_token_bytes = 128;
// Largest accepted id. The id table is dense, so this bounds the memory an input can request;
// the real vocabulary stops at 65529.
inline constexpr token_id max_token_id = (1u << 20) - 1;
// Larger inputs are refused before any parsing (the real file is about 1 MB).
inline constexpr std::size_t max_vocab_text_bytes = std::size_t{1} << 28;

struct VocabEntry {
    token_id id;
    std::uint32_t offset;  // into Vocab::bytes
    std::uint32_t length;  // 1..max_token_bytes
    std::uint32_t line;    // 1-based line in the vocab text, for messages
};

struct Vocab {
    std::string bytes;                    // every token's bytes, back to back
    std::vector<VocabEntry> entries;      // in file order, ids strictly ascending
    std::vector<std::uint32_t> by_bytes;  // indices into entries, sorted by token bytes

    std::string_view token(const VocabEntry& e) const {
        return std::string_view(bytes).substr(e.offset, e.length);
    }
};

// Parses and validates the whole text: syntax, escapes, byte counts, ascending unique ids,
// distinct byte strings, and that all 256 single bytes are tokens. Errors are one line:
// "vocab line N: <what>" or "vocab: <what>" for whole-file problems. Never throws.
Result<Vocab> parse_vocab_text(std::string_view text);

}  // namespace lectern::world
