// Helpers shared by tst_sparse_attention.cpp and tst_kv_cache.cpp: random documents, running the
// engine's sparse_attention() and the float64 references over a sequence of calls.
#pragma once

#include <QTest>

#include <cmath>
#include <random>
#include <vector>

#include "attention/sparse_attention.h"
#include "sparse_attention_reference.h"

namespace attn_test {

using namespace lectern;

// q, k, v and the LN1 rows of n tokens, [n][C]. q is scaled up so softmax weights are peaked
// (a uniform softmax would hide a wrong key set).
struct Doc {
    int C = 0;
    int n = 0;
    std::vector<float> q, k, v, ln1;
};

inline Doc make_doc(unsigned seed, int C, int n, float q_sigma = 2.0f) {
    std::mt19937 rng(seed);
    Doc d;
    d.C = C;
    d.n = n;
    d.q = ref::random_rows(rng, std::size_t(n) * C, q_sigma);
    d.k = ref::random_rows(rng, std::size_t(n) * C);
    d.v = ref::random_rows(rng, std::size_t(n) * C);
    d.ln1 = ref::random_rows(rng, std::size_t(n) * C);
    return d;
}

// Call sizes summing to n, each in [1, max_call].
inline std::vector<int> random_splits(unsigned seed, int n, int max_call) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> len(1, max_call);
    std::vector<int> calls;
    for (int done = 0; done < n;) {
        const int t = std::min(n - done, len(rng));
        calls.push_back(t);
        done += t;
    }
    return calls;
}

inline std::vector<int> ones(int n) {
    return std::vector<int>(std::size_t(n), 1);
}

// Feed doc tokens [first, first + sum(calls)) to `cache` in the given calls; returns their y.
inline std::vector<float> run_engine(const AttentionOptions& o, KvCache& cache, const Doc& d,
                                     const std::vector<int>& calls, int first = 0,
                                     ThreadPool* pool = nullptr) {
    const std::size_t C = std::size_t(d.C);
    std::vector<float> y;
    int t0 = first;
    for (int T : calls) {
        std::vector<float> out(std::size_t(T) * C, NAN);
        const std::size_t off = std::size_t(t0) * C;
        auto r = sparse_attention(o, cache, T, d.C, d.C / 64, d.q.data() + off, d.k.data() + off,
                                  d.v.data() + off, d.ln1.data() + off, out.data(), pool);
        if (!r) qFatal("sparse_attention failed: %s", r.error().message.c_str());
        y.insert(y.end(), out.begin(), out.end());
        t0 += T;
    }
    return y;
}

inline std::vector<float> run_native_reference(const AttentionOptions& o, const Doc& d, int n) {
    ref::Native r(d.C / 64, o.chunk_size, o.top_k);
    std::vector<float> y;
    for (int t = 0; t < n; ++t) {
        const std::size_t off = std::size_t(t) * d.C;
        auto yt = r.step(d.q.data() + off, d.k.data() + off, d.v.data() + off);
        y.insert(y.end(), yt.begin(), yt.end());
    }
    return y;
}

inline std::vector<float> run_compat_reference(const AttentionOptions& o, const Doc& d,
                                               const std::vector<int>& calls) {
    ref::Compat r(d.C / 64, o.chunk_size, o.top_k, o.kv_max, o.kv_min, o.kv_window);
    std::vector<float> y;
    int t0 = 0;
    for (int T : calls) {
        const std::size_t off = std::size_t(t0) * d.C;
        auto yt =
            r.call(T, d.q.data() + off, d.k.data() + off, d.v.data() + off, d.ln1.data() + off);
        y.insert(y.end(), yt.begin(), yt.end());
        t0 += T;
    }
    return y;
}

// Largest |a - b|; infinity on a size mismatch or when exactly one side is NaN.
inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return INFINITY;
    double m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::isnan(a[i]) || std::isnan(b[i])) return INFINITY;
        m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
    }
    return m;
}

inline AttentionOptions options(AttentionMode mode, int B, int K, KvDType dtype = KvDType::f32) {
    AttentionOptions o;
    o.mode = mode;
    o.chunk_size = B;
    o.top_k = K;
    o.kv_dtype = dtype;
    return o;
}

// Compat options with KV management on: compression runs past 24 rows (chunks of 4, top-3).
inline AttentionOptions compat_managed(KvDType dtype) {
    auto o = options(AttentionMode::compat, 4, 3, dtype);
    o.kv_max = 24;
    o.kv_min = 16;
    o.kv_window = 6;
    return o;
}

// A cache's serialized image (what "the same cache" means in the cache tests).
inline std::vector<std::byte> image_of(const KvCache& c) {
    std::vector<std::byte> out;
    if (!c.serialize(out)) qFatal("KvCache::serialize failed");
    return out;
}

}  // namespace attn_test
