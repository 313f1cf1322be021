// Tokenizers: the RWKV World tokenizer (greedy longest match over a byte vocabulary) and a
// SentencePiece backend for models that ship a tokenizer.model. Text is always UTF-8 bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lectern/result.h"

namespace lectern {

using token_id = std::uint32_t;

class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    // "world" or "sentencepiece".
    virtual std::string_view kind() const = 0;
    // Number of ids the tokenizer can produce (largest id + 1).
    virtual std::size_t vocab_size() const = 0;

    // Encode arbitrary bytes (need not be valid UTF-8 for World; SentencePiece replaces invalid
    // sequences as the library does). Never fails for World.
    virtual std::vector<token_id> encode(std::string_view text) const = 0;

    // Raw bytes of one token (empty for id 0 / end-of-document). Error for an id outside the vocab.
    virtual Result<std::string> token_bytes(token_id id) const = 0;

    // Concatenated bytes of the tokens; may be invalid UTF-8 (see Utf8StreamDecoder).
    // SentencePiece: equals the library's DecodeIds for normal text, so the dummy-prefix space
    // of the first piece is dropped (token_bytes keeps it; see sentencepiece_tokenizer.cpp).
    Result<std::string> decode_bytes(const std::vector<token_id>& ids) const;

protected:
    // Hook for whole-sequence rules applied after concatenating token_bytes (SentencePiece drops
    // the leading meta-space here). The default changes nothing.
    virtual void adjust_decoded(const std::vector<token_id>& ids, std::string& bytes) const;
};

// Parse a World vocabulary file (format of spec §4.1). Errors name the line: "vocab line 17: ...".
Result<std::unique_ptr<Tokenizer>> load_world_tokenizer(const std::string& vocab_path);
Result<std::unique_ptr<Tokenizer>> parse_world_vocab(std::string_view vocab_text);

// Load a SentencePiece model file (tokenizer.model).
Result<std::unique_ptr<Tokenizer>> load_sentencepiece_tokenizer(const std::string& model_path);

// Streaming UTF-8 decoder: feed token bytes as they are generated, get back only complete,
// valid characters. Invalid sequences are emitted as U+FFFD once they are known to be invalid.
class Utf8StreamDecoder {
public:
    // Append bytes; returns the newly completed text (valid UTF-8).
    std::string push(std::string_view bytes);
    // End of stream: a dangling incomplete sequence becomes U+FFFD.
    std::string finish();
    // Bytes held back waiting for the rest of a character.
    std::size_t pending() const { return m_pending.size(); }

private:
    std::string m_pending;
};

}  // namespace lectern
