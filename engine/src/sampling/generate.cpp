// generate(): the prompt-then-one-token-at-a-time loop around forward(), Sampler and
// TextStreamer. Contract in lectern/generate.h.
#include "lectern/generate.h"

#include <algorithm>
#include <new>

namespace lectern {

std::string_view finish_reason_name(FinishReason reason) {
    switch (reason) {
        case FinishReason::stop_token:
            return "stop_token";
        case FinishReason::stop_string:
            return "stop_string";
        case FinishReason::max_tokens:
            return "max_tokens";
        case FinishReason::cancelled:
            return "cancelled";
    }
    return "unknown";
}

namespace {

Result<GenerateResult> generate_impl(
    State& state, const Tokenizer& tokenizer, std::span<const token_id> prompt,
    const SamplingOptions& options,
    const std::function<bool(std::string_view text_piece)>& on_text, ForwardTrace* trace) {
    if (prompt.empty()) return make_error("generate: the prompt has no tokens");
    auto sampler = Sampler::create(options);
    if (!sampler) return with_context("generate", sampler.error());

    std::vector<float> logits;
    if (auto fed = forward(state, prompt, /*all_rows=*/false, logits, trace); !fed)
        return with_context("generate: prompt", fed.error());

    GenerateResult result;
    TextStreamer streamer(options.stop_strings);
    const auto emit = [&](const std::string& piece) {
        if (piece.empty()) return true;
        result.text += piece;
        return !on_text || on_text(piece);
    };

    while (true) {
        if (result.tokens.size() >= std::size_t(options.max_tokens)) {
            result.finish = FinishReason::max_tokens;
            break;
        }
        const token_id token = sampler->sample(logits);
        if (std::find(options.stop_tokens.begin(), options.stop_tokens.end(), token) !=
            options.stop_tokens.end()) {
            result.finish = FinishReason::stop_token;
            break;
        }
        // Unknown ids (outside the tokenizer) have no text, like id 0.
        auto bytes = tokenizer.token_bytes(token);
        const std::string_view text = bytes ? std::string_view(*bytes) : std::string_view();
        sampler->accept(token, pipeline_frequency_weight(text));

        // Feed the token before showing its text, so that `state` always matches result.tokens
        // whichever way the loop ends.
        const token_id one[1] = {token};
        if (auto fed = forward(state, one, /*all_rows=*/false, logits, trace); !fed)
            return with_context("generate: token " + std::to_string(result.tokens.size()),
                                fed.error());
        result.tokens.push_back(token);

        if (!emit(streamer.push(text))) {
            result.finish = FinishReason::cancelled;
            break;
        }
        if (streamer.stopped()) {
            result.finish = FinishReason::stop_string;
            break;
        }
    }
    // A cancelled caller wants no more text; otherwise release what the stop-string check held.
    if (result.finish != FinishReason::cancelled) (void)emit(streamer.finish());
    return result;
}

}  // namespace

Result<GenerateResult> generate(State& state, const Tokenizer& tokenizer,
                                std::span<const token_id> prompt, const SamplingOptions& options,
                                const std::function<bool(std::string_view text_piece)>& on_text,
                                ForwardTrace* trace) {
    // The engine reports errors as values; the only exception its own code can raise here is an
    // allocation failure (the callback's exceptions are the caller's and pass through).
    try {
        return generate_impl(state, tokenizer, prompt, options, on_text, trace);
    } catch (const std::bad_alloc&) {
        return make_error("generate: out of memory");
    }
}

}  // namespace lectern
