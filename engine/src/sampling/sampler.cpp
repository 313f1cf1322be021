// Sampler: penalties, temperature, top-k/top-p/min-p truncation and a seeded draw. The order of
// operations and the penalty semantics are documented in lectern/sampler.h.
#include "lectern/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace lectern {
namespace {

constexpr float neg_inf = -std::numeric_limits<float>::infinity();

std::uint64_t splitmix64(std::uint64_t& x) {
    x += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

bool valid_utf8(std::string_view s) {
    Utf8StreamDecoder decoder;
    std::string out = decoder.push(s);
    out += decoder.finish();
    return out == s;
}

std::string field_error(const char* field, float value, const char* range) {
    char shown[32];
    std::snprintf(shown, sizeof shown, "%g", double(value));  // "2", not "2.000000"
    return std::string("sampling option ") + field + " = " + shown + ": must be " + range;
}

// Greedy choice: largest logit, lowest id on ties; NaN never wins. Returns 0 if all are NaN.
token_id argmax(std::span<const float> logits) {
    token_id best = 0;
    float best_value = neg_inf;
    bool found = false;
    for (std::size_t i = 0; i < logits.size(); ++i) {
        const float v = logits[i];
        if (v > best_value || (!found && v == best_value)) {
            best = static_cast<token_id>(i);
            best_value = v;
            found = true;
        }
    }
    return best;
}

}  // namespace

Result<void> validate(const SamplingOptions& o) {
    if (!std::isfinite(o.temperature) || o.temperature < 0.0f)
        return make_error(field_error("temperature", o.temperature, "finite and >= 0"));
    if (!(o.top_p > 0.0f && o.top_p <= 1.0f))
        return make_error(field_error("top_p", o.top_p, "in (0, 1]"));
    if (o.top_k < 0)
        return make_error("sampling option top_k = " + std::to_string(o.top_k) +
                          ": must be >= 0 (0 = off)");
    if (!(o.min_p >= 0.0f && o.min_p <= 1.0f))
        return make_error(field_error("min_p", o.min_p, "in [0, 1]"));
    if (!std::isfinite(o.presence_penalty))
        return make_error(field_error("presence_penalty", o.presence_penalty, "finite"));
    if (!std::isfinite(o.frequency_penalty))
        return make_error(field_error("frequency_penalty", o.frequency_penalty, "finite"));
    if (!(o.penalty_decay > 0.0f && o.penalty_decay <= 1.0f))
        return make_error(field_error("penalty_decay", o.penalty_decay, "in (0, 1]"));
    if (!std::isfinite(o.repetition_penalty) || o.repetition_penalty <= 0.0f)
        return make_error(
            field_error("repetition_penalty", o.repetition_penalty, "finite and > 0 (1 = off)"));
    if (o.max_tokens < 0)
        return make_error("sampling option max_tokens = " + std::to_string(o.max_tokens) +
                          ": must be >= 0");
    for (std::size_t i = 0; i < o.stop_strings.size(); ++i) {
        const std::string where = "sampling option stop_strings[" + std::to_string(i) + "]";
        if (o.stop_strings[i].empty()) return make_error(where + ": must not be empty");
        // Stop strings are matched against decoded text, which is always valid UTF-8.
        if (!valid_utf8(o.stop_strings[i]))
            return make_error(where + ": not valid UTF-8, so it could never match");
    }
    return {};
}

float pipeline_frequency_weight(std::string_view token_bytes) {
    if (token_bytes.size() != 1) return 1.0f;
    const char c = token_bytes[0];
    return (c == ' ' || c == '\t' || (c >= '0' && c <= '9')) ? 0.0f : 1.0f;
}

Rng::Rng(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (std::uint64_t& s : m_s) s = splitmix64(x);
}

std::uint64_t Rng::next_u64() {
    const std::uint64_t result = rotl(m_s[1] * 5, 7) * 9;
    const std::uint64_t t = m_s[1] << 17;
    m_s[2] ^= m_s[0];
    m_s[3] ^= m_s[1];
    m_s[1] ^= m_s[2];
    m_s[0] ^= m_s[3];
    m_s[2] ^= t;
    m_s[3] = rotl(m_s[3], 45);
    return result;
}

double Rng::next_double() {
    return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
}

Result<Sampler> Sampler::create(const SamplingOptions& options) {
    if (auto ok = validate(options); !ok) return ok.error();
    return Sampler(options);
}

Sampler::Sampler(const SamplingOptions& options) : m_options(options), m_rng(options.seed) {}

void Sampler::accept(token_id token, float frequency_weight) {
    // PIPELINE order: decay every existing count, then add the new token's weight.
    if (m_options.penalty_decay != 1.0f)
        for (token_id t : m_seen_ids) m_counts[t] *= m_options.penalty_decay;
    if (token >= m_counts.size()) {
        m_counts.resize(std::size_t(token) + 1, 0.0f);
        m_seen.resize(std::size_t(token) + 1, 0);
    }
    if (!m_seen[token]) {
        m_seen[token] = 1;
        m_seen_ids.push_back(token);
    }
    m_counts[token] += frequency_weight;
}

void Sampler::reset_penalties() {
    m_counts.clear();
    m_seen.clear();
    m_seen_ids.clear();
}

float Sampler::count(token_id token) const {
    return token < m_counts.size() ? m_counts[token] : 0.0f;
}

void Sampler::apply_penalties(std::span<float> logits) const {
    const float rep = m_options.repetition_penalty;
    for (token_id t : m_seen_ids) {
        if (t >= logits.size()) continue;  // a token the caller's vocabulary does not have
        float v = logits[t];
        if (rep != 1.0f) v = v > 0.0f ? v / rep : v * rep;
        v -= m_options.presence_penalty + m_options.frequency_penalty * m_counts[t];
        logits[t] = v;
    }
}

token_id Sampler::sample(std::span<float> logits) {
    if (logits.empty()) return 0;
    apply_penalties(logits);
    float max_logit = neg_inf;
    for (float& v : logits) {
        if (std::isnan(v)) v = neg_inf;
        max_logit = std::max(max_logit, v);
    }
    // The RNG advances once per call whatever the options, so changing e.g. top_k does not shift
    // the random stream of later tokens.
    const double u = m_rng.next_double();
    // A temperature so small that 1/T overflows is the greedy limit too.
    if (m_options.temperature == 0.0f || !std::isfinite(1.0f / m_options.temperature) ||
        !std::isfinite(max_logit) || m_options.top_k == 1)
        return argmax(logits);

    const bool truncate = (m_options.top_k > 0 && std::size_t(m_options.top_k) < logits.size()) ||
                          m_options.top_p < 1.0f || m_options.min_p > 0.0f;
    if (truncate) return sample_truncated(logits, max_logit, u);

    // Plain softmax draw over every token, in id order.
    const float inv_t = 1.0f / m_options.temperature;
    m_weights.resize(logits.size());
    double total = 0.0;
    for (std::size_t i = 0; i < logits.size(); ++i) {
        m_weights[i] = std::exp((logits[i] - max_logit) * inv_t);
        total += m_weights[i];
    }
    const double r = u * total;
    double acc = 0.0;
    token_id last_positive = 0;  // the max-logit token has weight 1, so the loop always sets it
    for (std::size_t i = 0; i < logits.size(); ++i) {
        if (m_weights[i] <= 0.0f) continue;
        acc += m_weights[i];
        last_positive = static_cast<token_id>(i);
        if (r < acc) return last_positive;
    }
    return last_positive;  // rounding left r at the very top of the range
}

token_id Sampler::sample_truncated(std::span<const float> logits, float max_logit, double u) {
    const float inv_t = 1.0f / m_options.temperature;
    // Most likely first; ties to the lower id, so the order is total and the result does not
    // depend on how the standard library's nth_element/sort arrange equal keys.
    const auto before = [](const Candidate& a, const Candidate& b) {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    };

    std::vector<Candidate>& cand = m_candidates;
    cand.clear();
    for (std::size_t i = 0; i < logits.size(); ++i)
        if (logits[i] > neg_inf) cand.push_back({logits[i], static_cast<token_id>(i), 0.0f});

    // Step 4, top-k. The kept set is then sorted, which also fixes the draw order.
    bool sorted = false;
    if (m_options.top_k > 0 && std::size_t(m_options.top_k) < cand.size()) {
        std::nth_element(cand.begin(), cand.begin() + m_options.top_k, cand.end(), before);
        cand.resize(std::size_t(m_options.top_k));
        std::sort(cand.begin(), cand.end(), before);
        sorted = true;
    }
    for (Candidate& c : cand) c.weight = std::exp((c.logit - max_logit) * inv_t);

    // Step 5, top-p over the top-k set.
    if (m_options.top_p < 1.0f) {
        double total = 0.0;
        for (const Candidate& c : cand) total += c.weight;
        double need = double(m_options.top_p) * total;
        if (sorted) {
            double acc = 0.0;
            std::size_t keep = cand.size();
            for (std::size_t i = 0; i < cand.size(); ++i) {
                acc += cand[i].weight;
                if (acc >= need) {
                    keep = i + 1;
                    break;
                }
            }
            cand.resize(keep);
        } else {
            // No nucleus token has weight <= (1-p)·total/n: the last token kept, at sorted
            // position m, is needed because the tail from m holds more than (1-p)·total, and
            // that tail has at most n tokens none heavier than it. Dropping those tokens (with
            // a factor 2 against rounding) first leaves little for the selection below.
            const double floor_weight =
                0.5 * (1.0 - double(m_options.top_p)) * total / double(cand.size());
            std::erase_if(cand, [&](const Candidate& c) { return c.weight <= floor_weight; });

            // Weighted selection instead of a full sort (a flat distribution can put thousands
            // of tokens in the nucleus): narrow the unresolved range [lo, hi) with nth_element;
            // if its more likely part already holds the missing mass the cut lies inside it,
            // else all of that part is kept. Linear on average; only the final range is sorted.
            // The first cut is at 64: model outputs are usually peaked and one pass settles it.
            constexpr std::size_t small = 64;
            std::size_t lo = 0;
            std::size_t hi = cand.size();
            while (hi - lo > small) {
                const std::size_t mid = lo == 0 ? small : lo + (hi - lo) / 2;
                std::nth_element(cand.begin() + lo, cand.begin() + mid, cand.begin() + hi, before);
                double upper = 0.0;
                for (std::size_t i = lo; i < mid; ++i) upper += cand[i].weight;
                if (upper >= need) {
                    hi = mid;
                } else {
                    need -= upper;
                    lo = mid;
                }
            }
            std::sort(cand.begin() + lo, cand.begin() + hi, before);
            Candidate boundary = cand[hi - 1];  // if rounding never reaches `need`
            double acc = 0.0;
            for (std::size_t i = lo; i < hi; ++i) {
                acc += cand[i].weight;
                if (acc >= need) {
                    boundary = cand[i];
                    break;
                }
            }
            // The nucleus is every token not after `boundary`. Collecting it in id order gives
            // a fixed draw order without sorting what nth_element left unordered.
            cand.clear();
            for (std::size_t i = 0; i < logits.size(); ++i) {
                const Candidate c{logits[i], static_cast<token_id>(i), 0.0f};
                if (c.logit > neg_inf && !before(boundary, c)) cand.push_back(c);
            }
            for (Candidate& c : cand) c.weight = std::exp((c.logit - max_logit) * inv_t);
        }
    }

    // Step 6, min-p: probability / max probability is the weight. Order is kept.
    if (m_options.min_p > 0.0f)
        std::erase_if(cand, [&](const Candidate& c) { return c.weight < m_options.min_p; });

    // Step 7. The order is most likely first after top-k, else ascending id.
    double total = 0.0;
    for (const Candidate& c : cand) total += c.weight;
    const double r = u * total;
    double acc = 0.0;
    for (const Candidate& c : cand) {
        acc += c.weight;
        if (r < acc) return c.id;
    }
    // Only reachable through rounding; the max-logit token always has weight 1 and survives.
    return cand.empty() ? argmax(logits) : cand.back().id;
}

}  // namespace lectern
