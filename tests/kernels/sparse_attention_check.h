// The host side of the sparse attention kernel tests, shared by tst_sparse_attention_cuda (the
// kernels on a GPU) and tests/emu/tst_sparse_attention_emu, tst_sparse_attention_weights_emu (the
// same kernels on the CPU emulator): case inputs, the float64 reference
// (tests/cpu/sparse_attention_reference.h) for chunk means, selection, output and trace weights,
// the near-tie rule, sentinels and the paged layout. Tolerances and their reasons are in
// tst_sparse_attention_cuda.cpp's file comment (the weights' at weight_tolerance below). The
// helpers report failures with QVERIFY, which returns from the helper only: callers check
// QTest::currentTestFailed() after each.
#pragma once

#include <QString>
#include <QTest>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "../cpu/sparse_attention_reference.h"
#include "gpu_test_util.h"
#include "lectern/dtype.h"

namespace sparse_check {

constexpr int N = ref::N;          // head size
constexpr std::size_t guard = 64;  // sentinel elements on each side of kernel outputs
constexpr std::uint32_t sentinel = 0xA5A5A5A5u;

// One launch: H heads, chunk size B, top_k K, T queries at positions p0 .. p0 + T - 1.
struct Case {
    int H, B, K, p0, T;
    std::size_t C() const { return std::size_t(H) * N; }
    int rows() const { return p0 + T; }
    int n_complete() const { return rows() / B; }
    int n_select() const { return K - 1; }
};

// Keys = noise + a per-(chunk, channel) offset, so chunk means (and scores) differ clearly.
struct Inputs {
    std::vector<float> q, k, v;
};

inline Inputs make_inputs(const Case& c, std::uint32_t seed) {
    const std::size_t C = c.C();
    Inputs in;
    in.q = gpu_test::uniform(std::size_t(c.T) * C, -2.0f, 2.0f, seed);
    in.k = gpu_test::uniform(std::size_t(c.rows()) * C, -1.0f, 1.0f, seed + 1);
    in.v = gpu_test::uniform(std::size_t(c.rows()) * C, -1.0f, 1.0f, seed + 2);
    const auto bias = gpu_test::uniform(std::size_t(c.rows() / c.B + 1) * C, -1.0f, 1.0f, seed + 3);
    for (int r = 0; r < c.rows(); ++r)
        for (std::size_t i = 0; i < C; ++i)
            in.k[std::size_t(r) * C + i] += bias[std::size_t(r / c.B) * C + i];
    return in;
}

// True when the `guard` elements before and after the n payload elements still hold the sentinel.
template <typename T>
bool sentinels_intact(const std::vector<T>& all, std::size_t n) {
    static_assert(sizeof(T) == 4);
    for (std::size_t i = 0; i < guard; ++i) {
        std::uint32_t head, tail;
        std::memcpy(&head, &all[i], 4);
        std::memcpy(&tail, &all[guard + n + i], 4);
        if (head != sentinel || tail != sentinel) return false;
    }
    return true;
}

// What the reference says about one launch, filled by check_means and check_selection.
struct Reference {
    std::vector<double> k, v;      // the inputs in float64
    std::vector<double> means;     // [n_complete][C]
    std::vector<float> y;          // [T][C], over the kernel's selected chunks
    std::vector<bool> read;        // chunks the launch reads (own chunks and selected ones)
    int near_ties = 0;             // selections accepted as near-ties
};

// Chunk means of the complete chunks in float64, then the kernel's float32 means against them.
inline void check_means(const Case& c, const Inputs& in, const float* means, Reference& ref_out) {
    const std::size_t C = c.C();
    ref_out.k.assign(in.k.begin(), in.k.end());
    ref_out.v.assign(in.v.begin(), in.v.end());
    ref_out.means.assign(std::size_t(c.n_complete()) * C, 0.0);
    for (int ch = 0; ch < c.n_complete(); ++ch) {
        double* m = &ref_out.means[std::size_t(ch) * C];
        for (int r = ch * c.B; r < (ch + 1) * c.B; ++r)
            for (std::size_t i = 0; i < C; ++i) m[i] += ref_out.k[std::size_t(r) * C + i];
        for (std::size_t i = 0; i < C; ++i) m[i] /= c.B;
    }
    if (c.n_complete() > 0) {
        const std::vector<float> want(ref_out.means.begin(), ref_out.means.end());
        LECTERN_COMPARE_CLOSE(means, want.data(), want.size(), 1e-5, 1e-5);
    }
}

// The kernel's selection `sel` ([T][H][K-1]) against the reference ranking per (query, head):
// chunks in range, none twice, -1 exactly where fewer than K-1 candidates exist, and the same set
// as the reference unless a near-tie explains the difference. Fills ref_out.y (the reference
// output over the kernel's chunks) and ref_out.read. Needs check_means first.
inline void check_selection(const Case& c, const Inputs& in, const int* sel, Reference& ref_out) {
    const std::size_t C = c.C();
    const int n_select = c.n_select();
    ref_out.y.assign(std::size_t(c.T) * C, 0.0f);
    ref_out.read.assign((c.rows() + c.B - 1) / c.B, false);
    ref_out.near_ties = 0;
    for (int t = 0; t < c.T; ++t) {
        const int s = c.p0 + t;
        const int own = s / c.B;
        ref_out.read[own] = true;
        for (int h = 0; h < c.H; ++h) {
            const std::size_t head = std::size_t(h) * N;
            const std::vector<double> qh(in.q.begin() + std::size_t(t) * C + head,
                                         in.q.begin() + std::size_t(t) * C + head + N);
            std::vector<double> score(own);
            double magnitude = 0;
            for (int ch = 0; ch < own; ++ch) {
                const double* m = &ref_out.means[std::size_t(ch) * C + head];
                score[ch] = ref::dot(qh.data(), m);
                double a = 0;
                for (int i = 0; i < N; ++i) a += std::fabs(qh[i] * m[i]);
                magnitude = std::max(magnitude, a);
            }
            const auto want = ref::top_indices(score, n_select);

            const int* got = sel + (std::size_t(t) * c.H + h) * n_select;
            std::vector<int> chosen;
            for (int i = 0; i < n_select; ++i) {
                if (i < int(want.size())) {
                    QVERIFY2(got[i] >= 0 && got[i] < own,
                             qPrintable(QStringLiteral("t=%1 h=%2: chunk %3 of %4 candidates")
                                            .arg(t).arg(h).arg(got[i]).arg(own)));
                    chosen.push_back(got[i]);
                    ref_out.read[got[i]] = true;
                } else {
                    QVERIFY2(got[i] == -1,
                             qPrintable(QStringLiteral("t=%1 h=%2: slot %3 = %4, want -1")
                                            .arg(t).arg(h).arg(i).arg(got[i])));
                }
            }
            auto chosen_sorted = chosen;
            std::sort(chosen_sorted.begin(), chosen_sorted.end());
            QVERIFY2(std::adjacent_find(chosen_sorted.begin(), chosen_sorted.end()) ==
                         chosen_sorted.end(),
                     qPrintable(QStringLiteral("t=%1 h=%2: a chunk chosen twice").arg(t).arg(h)));
            auto want_sorted = want;
            std::sort(want_sorted.begin(), want_sorted.end());
            if (chosen_sorted != want_sorted) {
                // Allowed only as a near-tie: the chosen scores, best first, equal the best scores.
                std::vector<double> got_scores, want_scores;
                for (int ch : chosen) got_scores.push_back(score[ch]);
                for (int ch : want) want_scores.push_back(score[ch]);
                std::sort(got_scores.rbegin(), got_scores.rend());
                const double eps = 1e-5 * magnitude + 1e-6;
                for (std::size_t i = 0; i < want_scores.size(); ++i)
                    QVERIFY2(std::fabs(got_scores[i] - want_scores[i]) <= eps,
                             qPrintable(QStringLiteral("t=%1 h=%2: selection differs (score %3 vs "
                                                       "%4)")
                                            .arg(t).arg(h)
                                            .arg(got_scores[i], 0, 'g', 9)
                                            .arg(want_scores[i], 0, 'g', 9)));
                ++ref_out.near_ties;
            }

            // Reference output over the kernel's chunks (the reference's own, but for near-ties).
            std::vector<const double*> keys, values;
            for (int ch : chosen)
                for (int r = ch * c.B; r < (ch + 1) * c.B; ++r) {
                    keys.push_back(&ref_out.k[std::size_t(r) * C + head]);
                    values.push_back(&ref_out.v[std::size_t(r) * C + head]);
                }
            for (int r = own * c.B; r <= s; ++r) {
                keys.push_back(&ref_out.k[std::size_t(r) * C + head]);
                values.push_back(&ref_out.v[std::size_t(r) * C + head]);
            }
            const auto yh = ref::attend(qh.data(), keys, values);
            for (int i = 0; i < N; ++i) ref_out.y[std::size_t(t) * C + head + i] = float(yh[i]);
        }
    }
    if (ref_out.near_ties > 0)
        qInfo("%d near-tie selections differed from the reference (accepted)", ref_out.near_ties);
}

// The rows of k / v ([rows][C]) scattered into pools of B-row slots: chunk c in slot page[c].
// The slots are shuffled and there are two spare ones; every row no chunk owns (spare slots, the
// tail of a partial last chunk) is NaN, and each chunk the launch does not read (read[c] false)
// points at a spare slot, so an access through a wrong page entry yields NaN.
struct PagedRows {
    std::vector<float> keys, values;
    std::vector<int> page;
};

inline PagedRows scatter_pages(const std::vector<float>& k, const std::vector<float>& v, int rows,
                               int B, std::size_t C, const std::vector<bool>& read,
                               std::uint32_t seed) {
    const int n_chunks = (rows + B - 1) / B;
    const int n_slots = n_chunks + 2;
    std::vector<int> slot(n_slots);
    for (int i = 0; i < n_slots; ++i) slot[i] = i;
    std::shuffle(slot.begin(), slot.end(), std::mt19937(seed));
    const std::size_t slot_floats = std::size_t(B) * C;
    PagedRows p;
    p.keys.assign(std::size_t(n_slots) * slot_floats, std::nanf(""));
    p.values.assign(p.keys.size(), std::nanf(""));
    p.page.assign(n_chunks, slot[n_chunks]);  // spare slot
    for (int c = 0; c < n_chunks; ++c) {
        if (!read[c]) continue;
        p.page[c] = slot[c];
        const std::size_t n = std::size_t(std::min(B, rows - c * B)) * C;
        const std::size_t from = std::size_t(c) * slot_floats;
        const std::size_t to = std::size_t(slot[c]) * slot_floats;
        std::copy_n(k.begin() + from, n, p.keys.begin() + to);
        std::copy_n(v.begin() + from, n, p.values.begin() + to);
    }
    return p;
}

// ---- The tensor-core path (stage 2 given a SparseAttentionScratch) ----
// Its products take q / 8, k, v and the softmax weights as IEEE halves (float32 sums). Its
// reference is the float64 one over q / 8, k and v rounded to half, over the kernel's selected
// chunks (half_reference_y). What that leaves: each weight's rounding, relative 2^-11; the output
// is a convex combination of value rows with those weights (the row sums are taken over the
// rounded weights too), so it moves by at most 2^-11 max|v_j - y| / (1 - 2^-11) <= 9.8e-4 for
// values in [-1, 1]; float32 sums and expf add ~1e-6. 1e-3 absolute. (Against the unrounded
// float64 reference the score errors, up to 2^-10 sum|q_i k_i| / 8, would dominate.)
constexpr double half_path_tolerance = 1e-3;

inline double round_to_half(float f) {
    return lectern::f16_to_f32(lectern::f32_to_f16(f));
}

// y [T][C] of the float64 reference over q / 8, k and v rounded to half, with the selection `sel`
// (the kernel's, already checked by check_selection).
inline std::vector<float> half_reference_y(const Case& c, const Inputs& in, const int* sel) {
    const std::size_t C = c.C();
    std::vector<double> k(in.k.size()), v(in.v.size());
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = round_to_half(in.k[i]);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = round_to_half(in.v[i]);
    std::vector<float> y(std::size_t(c.T) * C);
    for (int t = 0; t < c.T; ++t) {
        const int s = c.p0 + t;
        const int own = s / c.B;
        for (int h = 0; h < c.H; ++h) {
            const std::size_t head = std::size_t(h) * N;
            std::vector<double> qh(N);  // (q / 8 rounded) * 8: ref::attend divides by 8 again
            for (int i = 0; i < N; ++i)
                qh[i] = 8.0 * round_to_half(in.q[std::size_t(t) * C + head + i] * 0.125f);
            std::vector<const double*> keys, values;
            const int* got = sel ? sel + (std::size_t(t) * c.H + h) * c.n_select() : nullptr;
            for (int i = 0; got && i < c.n_select() && got[i] >= 0; ++i)
                for (int r = got[i] * c.B; r < (got[i] + 1) * c.B; ++r) {
                    keys.push_back(&k[std::size_t(r) * C + head]);
                    values.push_back(&v[std::size_t(r) * C + head]);
                }
            for (int r = own * c.B; r <= s; ++r) {
                keys.push_back(&k[std::size_t(r) * C + head]);
                values.push_back(&v[std::size_t(r) * C + head]);
            }
            const auto yh = ref::attend(qh.data(), keys, values);
            for (int i = 0; i < N; ++i) y[std::size_t(t) * C + head + i] = float(yh[i]);
        }
    }
    return y;
}

// ---- Trace weights (sparse_attention_chunk_weights) ----
// Tolerance on the shares, absolute (they lie in [0, 1]). A float32 share s_c exp(m_c - M) / Z
// is off from the float64 one by (relative error of its numerator + that of Z) * share. Each exp
// term inherits its score's absolute error as a relative one: a 64-term dot of |q_i k_i| <= 4,
// scaled by 1/8, rounds by at most ~64 * 2^-24 * 4 / 8 = 2e-6. Each sum of up to B terms is a
// lane's B/32 terms plus a 5-step shuffle tree: <= (B/32 + 5) * 2^-24 = 4e-6 at B = 2048. So even
// the worst case stays near 1e-5, and typical errors are far smaller (measured on the emulator:
// <= 1.2e-7 kernel vs float64, <= 4e-7 for the CPU engine, whose running-sum subtraction
// cancels). 1e-5 absolute; kernel vs engine, both float32, 2e-5.
constexpr double weight_tolerance = 1e-5;

// A valid selection [T][H][K-1] as stage 1 could write it, but random: distinct complete chunks
// before each query's own chunk, min(K-1, own) of them, then -1. Random rather than stage 1's, so
// that the weights checks need no means and cover chunks in any order.
inline std::vector<int> random_selection(const Case& c, std::uint32_t seed) {
    std::mt19937 rng(seed);
    const int n_select = c.n_select();
    std::vector<int> sel(std::size_t(c.T) * c.H * n_select, -1);
    for (int t = 0; t < c.T; ++t) {
        const int own = (c.p0 + t) / c.B;
        std::vector<int> candidates(own);
        for (int i = 0; i < own; ++i) candidates[i] = i;
        for (int h = 0; h < c.H; ++h) {
            std::shuffle(candidates.begin(), candidates.end(), rng);
            int* slot = &sel[(std::size_t(t) * c.H + h) * n_select];
            for (int i = 0; i < std::min(n_select, own); ++i) slot[i] = candidates[i];
        }
    }
    return sel;
}

// Chunks a launch reads: every query's own chunk and its selected ones.
inline std::vector<bool> chunks_read(const Case& c, const std::vector<int>& sel) {
    std::vector<bool> read((c.rows() + c.B - 1) / c.B, false);
    for (int t = 0; t < c.T; ++t) read[(c.p0 + t) / c.B] = true;
    for (int chunk : sel)
        if (chunk >= 0) read[chunk] = true;
    return read;
}

// Float64 shares [T][H][K-1] for selection `sel`: ref::group_shares over the selected chunks (up
// to the first -1) and the own chunk's rows up to the query; 0 from the first -1 on.
inline std::vector<double> reference_weights(const Case& c, const Inputs& in, const int* sel) {
    const std::size_t C = c.C();
    const int n_select = c.n_select();
    const std::vector<double> k(in.k.begin(), in.k.end());
    std::vector<double> w(std::size_t(c.T) * c.H * n_select, 0.0);
    for (int t = 0; t < c.T; ++t) {
        const int s = c.p0 + t;
        for (int h = 0; h < c.H; ++h) {
            const std::size_t head = std::size_t(h) * N;
            const std::vector<double> qh(in.q.begin() + std::size_t(t) * C + head,
                                         in.q.begin() + std::size_t(t) * C + head + N);
            const int* chunks = sel + (std::size_t(t) * c.H + h) * n_select;
            std::vector<std::vector<const double*>> groups;
            int n = 0;
            for (; n < n_select && chunks[n] >= 0; ++n) {
                groups.emplace_back();
                for (int r = chunks[n] * c.B; r < (chunks[n] + 1) * c.B; ++r)
                    groups.back().push_back(&k[std::size_t(r) * C + head]);
            }
            groups.emplace_back();  // the own chunk, causal
            for (int r = s / c.B * c.B; r <= s; ++r)
                groups.back().push_back(&k[std::size_t(r) * C + head]);
            const auto share = ref::group_shares(qh.data(), groups);
            for (int i = 0; i < n; ++i) w[(std::size_t(t) * c.H + h) * n_select + i] = share[i];
        }
    }
    return w;
}

// Kernel shares `got` ([T][H][K-1]) against `want` within `tol`: each in [0, 1], exactly 0 from
// the first -1 of `sel` on, and the selected shares of a (query, head) summing to at most 1 + tol.
inline void check_weights(const Case& c, const int* sel, const float* got,
                          const std::vector<double>& want, double tol) {
    const int n_select = c.n_select();
    for (std::size_t pair = 0; pair < std::size_t(c.T) * c.H; ++pair) {
        double sum = 0;
        bool unused = false;
        for (int i = 0; i < n_select; ++i) {
            const std::size_t at = pair * n_select + i;
            const QString where = QStringLiteral("t=%1 h=%2 slot %3 (chunk %4): got %5, want %6")
                                      .arg(pair / c.H).arg(pair % c.H).arg(i).arg(sel[at])
                                      .arg(double(got[at]), 0, 'g', 9).arg(want[at], 0, 'g', 9);
            unused = unused || sel[at] < 0;
            if (unused) {
                QVERIFY2(got[at] == 0.0f, qPrintable(where + QStringLiteral(": unused, not 0")));
                continue;
            }
            QVERIFY2(got[at] >= 0.0f && got[at] <= 1.0f, qPrintable(where));
            QVERIFY2(std::fabs(got[at] - want[at]) <= tol, qPrintable(where));
            sum += got[at];
        }
        QVERIFY2(
            sum <= 1.0 + tol,
            qPrintable(QStringLiteral("pair %1: shares sum to %2").arg(pair).arg(sum, 0, 'g', 9)));
    }
}

// The weights checks of case c, dense and paged (scatter_pages: unread chunks and spare slots NaN,
// so a wrong row address shows as a wrong or NaN share). `launch(q, keys, page, sel, out)` runs
// the kernel with page empty for the dense layout, writing T * H * (K-1) shares at out + guard
// (out is pre-filled with sentinels and must come back whole), and returns an error text or "".
template <typename Launch>
void check_weights_case(const Case& c, std::uint32_t seed, Launch&& launch) {
    const Inputs in = make_inputs(c, seed);
    const std::vector<int> sel = random_selection(c, seed + 5);
    const std::vector<double> want = reference_weights(c, in, sel.data());
    const std::size_t n = sel.size();
    std::vector<float> dense;
    for (const bool paged : {false, true}) {
        PagedRows pool;
        if (paged)
            pool = scatter_pages(in.k, in.v, c.rows(), c.B, c.C(), chunks_read(c, sel), seed + 6);
        std::vector<float> out(n + 2 * guard);
        std::memset(out.data(), 0xA5, out.size() * 4);
        const QString error = launch(in.q, paged ? pool.keys : in.k, pool.page, sel, out);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QVERIFY2(sentinels_intact(out, n),
                 paged ? "paged: sentinels overwritten" : "dense: sentinels overwritten");
        check_weights(c, sel.data(), out.data() + guard, want, weight_tolerance);
        if (QTest::currentTestFailed()) return;
        if (!paged) {
            dense.assign(out.begin() + guard, out.end() - guard);
        } else {
            QVERIFY2(std::memcmp(dense.data(), out.data() + guard, n * 4) == 0,
                     "paged shares differ from the dense shares");
        }
    }
}

}  // namespace sparse_check
