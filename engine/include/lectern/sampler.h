// Choosing the next token from a row of logits: repetition, presence and frequency penalties,
// temperature, top-k, top-p, min-p, and a seeded draw that repeats exactly across platforms.
//
// Order of operations in Sampler::sample (each step sees the previous step's output):
//   1. penalties over the tokens accepted so far (see apply_penalties):
//        repetition (llama style: positive logits divided, negative multiplied), then
//        logit -= presence + frequency * count          (RWKV PIPELINE alpha_presence/frequency)
//   2. temperature 0: greedy argmax, ties to the lowest id. Nothing below runs.
//   3. temperature: logit / T; probabilities are the softmax of the scaled logits.
//   4. top-k: keep the k most likely (ties to the lower id).
//   5. top-p: keep the shortest most-likely-first prefix whose probability, renormalised over
//      the top-k set, reaches p.
//   6. min-p: keep tokens with probability >= min_p * (probability of the most likely token).
//   7. draw one token in proportion to the remaining probabilities.
// Note: BlinkDL's rwkv PIPELINE applies top-p/top-k before temperature (on T = 1 probabilities).
// The two orders agree at temperature 1, the value RWKV chat models are usually run at.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lectern/result.h"
#include "lectern/tokenizer.h"

namespace lectern {

struct SamplingOptions {
    float temperature = 1.0f;  // 0 = greedy; must be >= 0
    float top_p = 1.0f;        // in (0, 1]; 1 = off
    int top_k = 0;             // >= 0; 0 = off
    float min_p = 0.0f;        // in [0, 1]; 0 = off

    // Penalties over the tokens generated so far (never the prompt, as in the RWKV PIPELINE):
    // logit[t] -= presence_penalty + frequency_penalty * count[t] for every t generated at least
    // once. After each accepted token every count is multiplied by penalty_decay (the PIPELINE's
    // alpha_decay, 0.996 in its chat demos), then the new token's count grows by its weight.
    // 1.0 = counts never decay. Negative penalties are allowed (they encourage repetition).
    float presence_penalty = 0.0f;
    float frequency_penalty = 0.0f;
    float penalty_decay = 1.0f;       // in (0, 1]
    float repetition_penalty = 1.0f;  // > 0; 1 = off

    std::uint64_t seed = 0;

    // Used by generate(): a sampled stop token ends generation and is not part of the output;
    // the text of a stop string is never emitted (must be non-empty, valid UTF-8).
    std::vector<token_id> stop_tokens;
    std::vector<std::string> stop_strings;
    int max_tokens = 256;  // >= 0; generation stops after this many tokens
};

// Checks every field; the error names the field and the allowed range.
Result<void> validate(const SamplingOptions& options);

// The weight a generated token adds to its frequency count in the RWKV PIPELINE: 0 when the
// token's text is a single space, tab or ASCII digit (so numbers and indentation are not pushed
// away by the frequency penalty; the presence penalty still applies), else 1.
float pipeline_frequency_weight(std::string_view token_bytes);

// Small, fully specified PRNG (xoshiro256**, seeded through splitmix64) so a seed gives the same
// draws on every platform and standard library.
class Rng {
  public:
    explicit Rng(std::uint64_t seed);
    std::uint64_t next_u64();
    // Uniform in [0, 1): the top 53 bits scaled by 2^-53.
    double next_double();

  private:
    std::uint64_t m_s[4];
};

// Stateful sampler for one generation: owns the RNG and the penalty counts.
// Not thread-safe; one per generation stream.
class Sampler {
  public:
    // Validates the options first.
    static Result<Sampler> create(const SamplingOptions& options);

    const SamplingOptions& options() const { return m_options; }

    // Pick the next token. `logits` is used as scratch: on return it holds the penalised logits
    // (step 1 above), with NaN replaced by -inf. Does not record the token: call accept().
    // Non-finite inputs: NaN counts as -inf; if no logit is finite, or the largest is +inf, the
    // result is the greedy choice. An empty span returns 0 (end of document).
    // Reproducible: the same options, seed, logits and accept() calls give the same tokens
    // (bit-identical only where the C library's expf agrees; the RNG and draw rule are exact).
    // Every call consumes exactly one RNG draw, greedy included, so the options of one step do
    // not shift the random stream of the next. The draw walks the kept tokens most likely first
    // after top-k, else in ascending id.
    token_id sample(std::span<float> logits);

    // Record a generated token for the penalties. `frequency_weight` is added to its count
    // (see pipeline_frequency_weight); presence applies whatever the weight.
    void accept(token_id token, float frequency_weight = 1.0f);

    // Step 1 alone (exposed for tests and for callers that want to inspect penalised logits).
    void apply_penalties(std::span<float> logits) const;

    // Forget the accepted tokens (the RNG continues where it was).
    void reset_penalties();

    // Current penalty count of a token (0 for tokens never accepted).
    float count(token_id token) const;

  private:
    explicit Sampler(const SamplingOptions& options);

    struct Candidate {
        float logit;
        token_id id;
        float weight;  // exp((logit - max) / T): probability relative to the most likely token
    };

    // u: this call's uniform draw in [0, 1).
    token_id sample_truncated(std::span<const float> logits, float max_logit, double u);

    SamplingOptions m_options;
    Rng m_rng;
    std::vector<float> m_counts;  // indexed by token id, grown on demand
    std::vector<std::uint8_t> m_seen;
    std::vector<token_id> m_seen_ids;     // tokens with m_seen set, for the decay and penalty loops
    std::vector<float> m_weights;         // scratch: unnormalised probabilities (untruncated draw)
    std::vector<Candidate> m_candidates;  // scratch for truncation
};

}  // namespace lectern
