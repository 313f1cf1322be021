// Shared helpers for the whole-model tests: fixture paths, loading, feeding a token list in calls
// cut at given positions, and logit comparisons.
#pragma once

#include <QString>
#include <QtGlobal>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "lectern/inference.h"

namespace infer_test {

inline std::string model_path(const char* file) {
    return std::string(LECTERN_TEST_DATA_DIR "/models/") + file;
}

inline std::shared_ptr<const lectern::Model> load(const std::string& path, int threads = 2) {
    lectern::RuntimeOptions rt;
    rt.threads = threads;
    auto m = lectern::Model::load(path, rt);
    if (!m) qWarning("loading %s: %s", path.c_str(), m.error().message.c_str());
    return m ? *m : nullptr;
}

inline std::vector<lectern::token_id> random_tokens(int n, int vocab, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> d(0, vocab - 1);
    std::vector<lectern::token_id> t(static_cast<std::size_t>(n));
    for (auto& x : t) x = lectern::token_id(d(rng));
    return t;
}

// Feed `tokens` in calls starting at each position of `cuts` (0 and the end are implied) and
// return every row of logits, [tokens][vocab]. Empty on error (with `error` set).
inline std::vector<float> feed(lectern::State& state, const std::vector<lectern::token_id>& tokens,
                               std::vector<std::size_t> cuts, std::string* error = nullptr) {
    cuts.push_back(0);
    cuts.push_back(tokens.size());
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    std::vector<float> all, part;
    for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
        const std::span<const lectern::token_id> call(tokens.data() + cuts[i],
                                                      cuts[i + 1] - cuts[i]);
        auto ok = lectern::forward(state, call, true, part);
        if (!ok) {
            if (error) *error = ok.error().message;
            return {};
        }
        all.insert(all.end(), part.begin(), part.end());
    }
    return all;
}

// Every position its own call.
inline std::vector<std::size_t> every_position(std::size_t n) {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < n; ++i) cuts.push_back(i);
    return cuts;
}

inline std::vector<std::size_t> random_cuts(std::size_t n, int count, std::mt19937& rng) {
    std::uniform_int_distribution<std::size_t> d(1, n - 1);
    std::vector<std::size_t> cuts;
    for (int i = 0; i < count; ++i) cuts.push_back(d(rng));
    return cuts;
}

// max |a − b| / max(1, max |b|): the difference relative to the logit scale.
inline double scaled_diff(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return INFINITY;
    double err = 0.0, scale = 1.0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        err = std::max(err, std::abs(double(a[i]) - double(b[i])));
        scale = std::max(scale, std::abs(double(b[i])));
    }
    return err / scale;
}

}  // namespace infer_test
