// Shared helpers for the CPU op tests of the forward pass: seeded random arrays and error
// measures against float64 references written in each test from the spec.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

namespace op_test {

inline std::vector<float> normal(std::mt19937& rng, std::size_t n, float mean = 0.0f,
                                 float stddev = 1.0f) {
    std::normal_distribution<float> d(mean, stddev);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

inline std::vector<float> uniform(std::mt19937& rng, std::size_t n, float lo, float hi) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

// max |a - b| / max(1, max |b|): absolute error for O(1) values, relative for larger ones.
inline double max_scaled_error(const std::vector<float>& a, const std::vector<double>& b) {
    double err = 0.0, scale = 1.0;
    for (std::size_t i = 0; i < b.size(); ++i) {
        err = std::max(err, std::abs(double(a[i]) - b[i]));
        scale = std::max(scale, std::abs(b[i]));
    }
    return err / scale;
}

inline bool all_finite(const std::vector<float>& v) {
    return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

}  // namespace op_test
