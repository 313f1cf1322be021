// Naive float64 references for tests/cpu/tst_sparse_attention.cpp and tst_kv_cache.cpp, written
// from the spec text (docs rwkvx-spec.md §3.3-§3.6) and deliberately independent of the engine's
// code: plain loops, every chunk mean and every selection recomputed from the full k/v history at
// every step, no online softmax, no chunk store. Shapes: C = 64 * H, rows [T][C] float32 inputs.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace ref {

constexpr int N = 64;  // head size

using Rows = std::vector<std::vector<double>>;  // [row][64] of one head

// Softmax(q·kᵀ/8)·v over the given key rows of one head.
inline std::vector<double> attend(const double* q, const std::vector<const double*>& keys,
                                  const std::vector<const double*>& values) {
    std::vector<double> s(keys.size());
    double mx = -INFINITY;
    for (std::size_t j = 0; j < keys.size(); ++j) {
        double d = 0;
        for (int i = 0; i < N; ++i) d += q[i] * keys[j][i];
        s[j] = d / 8.0;
        mx = std::max(mx, s[j]);
    }
    double sum = 0;
    for (double& x : s) sum += (x = std::exp(x - mx));
    std::vector<double> y(N, 0.0);
    for (std::size_t j = 0; j < keys.size(); ++j)
        for (int i = 0; i < N; ++i) y[i] += s[j] / sum * values[j][i];
    return y;
}

// Trace weights: one softmax(q·kᵀ/8) over all rows of all groups (as attend), and the share of its
// mass each group's rows received (sum of their probabilities). groups[g] = key rows of group g.
inline std::vector<double> group_shares(const double* q,
                                        const std::vector<std::vector<const double*>>& groups) {
    std::vector<std::vector<double>> s(groups.size());
    double mx = -INFINITY;
    for (std::size_t g = 0; g < groups.size(); ++g)
        for (const double* k : groups[g]) {
            double d = 0;
            for (int i = 0; i < N; ++i) d += q[i] * k[i];
            s[g].push_back(d / 8.0);
            mx = std::max(mx, d / 8.0);
        }
    double total = 0;
    std::vector<double> share(groups.size(), 0.0);
    for (std::size_t g = 0; g < groups.size(); ++g) {
        for (double x : s[g]) share[g] += std::exp(x - mx);
        total += share[g];
    }
    for (double& x : share) x /= total;
    return share;
}

// Indices of the `k` largest scores, best first; equal scores: lower index first.
inline std::vector<int> top_indices(const std::vector<double>& score, int k) {
    std::vector<int> idx(score.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return score[a] > score[b]; });
    idx.resize(std::min<std::size_t>(idx.size(), std::size_t(std::max(k, 0))));
    return idx;
}

inline std::vector<double> mean_rows(const Rows& rows, std::size_t first, std::size_t count) {
    std::vector<double> m(N, 0.0);
    for (std::size_t r = first; r < first + count; ++r)
        for (int i = 0; i < N; ++i) m[i] += rows[r][i];
    for (double& x : m) x /= double(count);
    return m;
}

inline double dot(const double* a, const double* b) {
    double d = 0;
    for (int i = 0; i < N; ++i) d += a[i] * b[i];
    return d;
}

// Native semantics (§3.3, stateful): the whole document's history, positions 0..
struct Native {
    int H, B, K;
    std::vector<Rows> k, v;                        // [H][position][64]
    std::vector<std::vector<int>> last_selection;  // [H] chunks chosen for the last query

    Native(int heads, int chunk, int topk) : H(heads), B(chunk), K(topk), k(heads), v(heads) {}

    // Feed one token (its q, k, v rows of C floats); returns y[C].
    std::vector<float> step(const float* q, const float* kr, const float* vr) {
        last_selection.assign(H, {});
        std::vector<float> y(std::size_t(H) * N);
        const std::size_t s = k[0].size();
        for (int h = 0; h < H; ++h) {
            k[h].emplace_back(kr + h * N, kr + h * N + N);
            v[h].emplace_back(vr + h * N, vr + h * N + N);
        }
        const std::size_t own = s / B;
        for (int h = 0; h < H; ++h) {
            std::vector<double> qh(q + h * N, q + h * N + N);
            std::vector<double> score;
            for (std::size_t c = 0; c < own; ++c) {
                const auto m = mean_rows(k[h], c * B, B);
                score.push_back(dot(qh.data(), m.data()));
            }
            const auto chosen = top_indices(score, K - 1);
            last_selection[h] = chosen;
            std::vector<const double*> ks, vs;
            for (int c : chosen)
                for (std::size_t r = std::size_t(c) * B; r < std::size_t(c + 1) * B; ++r) {
                    ks.push_back(k[h][r].data());
                    vs.push_back(v[h][r].data());
                }
            for (std::size_t r = own * B; r <= s; ++r) {
                ks.push_back(k[h][r].data());
                vs.push_back(v[h][r].data());
            }
            const auto yh = attend(qh.data(), ks, vs);
            for (int i = 0; i < N; ++i) y[h * N + i] = float(yh[i]);
        }
        return y;
    }
};

// Compat semantics: the official rwkv-x 0.1.3 prefill / decode / cache management, simulated on a
// per-head row list (compression re-packs rows per head).
struct Compat {
    int H, B, K, kv_max, kv_min, kv_window;
    std::vector<Rows> k, v;           // [H][cache row][64]
    std::vector<int> last_selection;  // decode long case: the shared chunk choice

    Compat(int heads, int chunk, int topk, int mx = 0, int mn = 0, int wo = 0)
        : H(heads), B(chunk), K(topk), kv_max(mx), kv_min(mn), kv_window(wo), k(heads), v(heads) {}

    std::size_t rows() const { return k[0].size(); }

    // §3.6 with queries Q [QT][C].
    void compress(const float* Q, int QT) {
        const std::size_t KT = rows();
        if (kv_min >= int(KT)) return;
        const std::size_t past = KT - kv_window;
        const std::size_t keep = std::min<std::size_t>(kv_min - kv_window, past);
        for (int h = 0; h < H; ++h) {
            std::vector<double> vote(past, 0.0);
            for (int r = 0; r < QT; ++r) {
                std::vector<double> qh(Q + std::size_t(r) * H * N + h * N,
                                       Q + std::size_t(r) * H * N + h * N + N);
                std::vector<double> s(past);
                double mx = -INFINITY, sum = 0;
                for (std::size_t j = 0; j < past; ++j)
                    mx = std::max(mx, s[j] = dot(qh.data(), k[h][j].data()) / 8.0);
                for (double& x : s) sum += (x = std::exp(x - mx));
                for (std::size_t j = 0; j < past; ++j) vote[j] += s[j] / sum;
            }
            const auto order = top_indices(vote, int(keep));
            Rows nk, nv;
            for (int j : order) {
                nk.push_back(k[h][j]);
                nv.push_back(v[h][j]);
            }
            for (std::size_t j = past; j < KT; ++j) {
                nk.push_back(k[h][j]);
                nv.push_back(v[h][j]);
            }
            k[h] = nk;
            v[h] = nv;
        }
    }

    // One forward call of T tokens; ln1 [T][C] are the compression "queries" in prefill.
    std::vector<float> call(int T, const float* q, const float* kr, const float* vr,
                            const float* ln1) {
        const std::size_t C = std::size_t(H) * N;
        last_selection.clear();
        if (kv_max > 0 && int(rows()) > kv_max) compress(T == 1 ? q : ln1, T);
        const std::size_t CT = rows();
        const std::size_t W = std::size_t(B) * K;
        std::vector<float> y(T * C);
        std::vector<int> chosen;
        std::size_t rem = 0;
        if (T == 1 && CT > W) {  // one chunk choice for all heads, by q · mean over all channels
            rem = CT % B;
            std::vector<double> score((CT - rem) / B, 0.0);
            for (std::size_t c = 0; c < score.size(); ++c)
                for (int h = 0; h < H; ++h) {
                    const auto m = mean_rows(k[h], c * B, B);
                    std::vector<double> qh(q + h * N, q + h * N + N);
                    score[c] += dot(qh.data(), m.data());
                }
            chosen = top_indices(score, K);
            last_selection = chosen;
        }
        for (int h = 0; h < H; ++h) {
            Rows nk, nv;  // this call's rows of head h
            for (int t = 0; t < T; ++t) {
                nk.emplace_back(kr + t * C + h * N, kr + t * C + h * N + N);
                nv.emplace_back(vr + t * C + h * N, vr + t * C + h * N + N);
            }
            for (int t = 0; t < T; ++t) {
                std::vector<double> qh(q + t * C + h * N, q + t * C + h * N + N);
                std::vector<const double*> ks, vs;
                auto add = [&](const Rows& K_, const Rows& V_, std::size_t a, std::size_t b) {
                    for (std::size_t r = a; r < b; ++r) {
                        ks.push_back(K_[r].data());
                        vs.push_back(V_[r].data());
                    }
                };
                if (T == 1 && CT > W) {
                    for (int c : chosen)
                        add(k[h], v[h], std::size_t(c) * B, std::size_t(c + 1) * B);
                    add(k[h], v[h], CT - rem, CT);
                    add(nk, nv, 0, 1);
                } else if (T == 1 || T + CT <= W) {
                    add(k[h], v[h], 0, CT);
                    add(nk, nv, 0, std::size_t(t) + 1);
                } else {
                    add(nk, nv, std::size_t(t / B) * B, std::size_t(t) + 1);
                }
                const auto yh = attend(qh.data(), ks, vs);
                for (int i = 0; i < N; ++i) y[t * C + h * N + i] = float(yh[i]);
            }
            for (int t = 0; t < T; ++t) {
                k[h].push_back(nk[t]);
                v[h].push_back(nv[t]);
            }
        }
        return y;
    }
};

// Seeded N(0, sigma) inputs.
inline std::vector<float> random_rows(std::mt19937& rng, std::size_t n, float sigma = 1.0f) {
    std::normal_distribution<float> dist(0.0f, sigma);
    std::vector<float> x(n);
    for (float& f : x) f = dist(rng);
    return x;
}

}  // namespace ref
