// Streaming text generation: feed a prompt, then sample and feed one token at a time, handing
// complete UTF-8 text to a callback and stopping on stop tokens, stop strings, a token limit or
// when the callback asks to.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lectern/inference.h"
#include "lectern/result.h"
#include "lectern/sampler.h"
#include "lectern/tokenizer.h"

namespace lectern {

// Token bytes in, text safe to show out. Holds back (a) the bytes of an incomplete UTF-8
// character and (b) the longest tail of the text that could still grow into a stop string, so the
// text of a stop string is never emitted even when it arrives split across tokens. When a stop
// string completes, the text before it is returned and the rest is dropped; with overlapping stop
// strings the one that completes first in the byte stream wins, so the output does not depend on
// how the text was split into tokens. Matching is on decoded text (invalid bytes already replaced
// by U+FFFD), byte for byte.
class TextStreamer {
  public:
    explicit TextStreamer(std::vector<std::string> stop_strings = {});

    // Feed one token's bytes; returns the newly releasable text (possibly empty). After a stop
    // string has matched, returns "" and ignores input.
    std::string push(std::string_view token_bytes);

    // End of generation without a stop string: releases the held text (a dangling incomplete
    // character becomes U+FFFD). Returns "" after a stop string matched.
    std::string finish();

    bool stopped() const { return m_stopped; }
    // The stop string that matched (empty if none).
    const std::string& matched_stop() const { return m_matched; }

  private:
    std::vector<std::string> m_stops;
    Utf8StreamDecoder m_decoder;
    std::string m_held;  // decoded text not yet released: a possible stop-string prefix
    std::string m_matched;
    bool m_stopped = false;
};

enum class FinishReason : std::uint8_t { stop_token, stop_string, max_tokens, cancelled };

std::string_view finish_reason_name(FinishReason reason);

struct GenerateResult {
    std::vector<token_id> tokens;  // generated tokens, stop token excluded
    FinishReason finish = FinishReason::max_tokens;
    std::string text;  // everything passed to on_text, concatenated
};

// Generate a continuation of `prompt` (non-empty) into `state`.
// * The prompt is fed in one forward call, then each sampled token in its own call.
// * Sampling follows `options` (validated first; see sampler.h). Each generated token counts for
//   the penalties with pipeline_frequency_weight of its bytes, as the RWKV PIPELINE does.
// * on_text receives only complete UTF-8 characters and never the text of a stop string;
//   returning false cancels (finish = cancelled; held-back text is then dropped).
// * A sampled stop token ends generation without being fed or emitted. Ids the tokenizer does not
//   know (e.g. 65530..65535, unused in the World vocabulary) produce no text.
// `trace`, when given, receives a row per fed token (the prompt's, then each generated token's
// that was fed): generated token i was sampled from row prompt.size() - 1 + i.
// On return, `state` has consumed exactly the prompt and result.tokens. Errors (bad options,
// empty prompt, a failed forward call, out of memory) are returned as values; text streamed
// before a failure has been delivered already. Exceptions thrown by on_text pass through.
Result<GenerateResult> generate(State& state, const Tokenizer& tokenizer,
                                std::span<const token_id> prompt, const SamplingOptions& options,
                                const std::function<bool(std::string_view text_piece)>& on_text,
                                ForwardTrace* trace = nullptr);

}  // namespace lectern
