// Shared by the whole-model GPU tests (tst_cuda_forward, tst_cuda_trace, tst_cuda_shapes): their
// setup (a usable GPU, the backend registered), where the committed test models are, loading a
// model on a backend or with a GPU memory budget, the smallest budget a model loads with, seeded
// random tokens, feeding tokens in calls cut at given positions (the CPU tests' infer_test::feed),
// and the rules two sets of logits must agree by.
#pragma once

#include <QDir>
#include <QFileInfo>
#include <QString>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include "../infer/infer_test_util.h"
#include "gpu_test_util.h"
#include "lectern/inference.h"
#ifdef LECTERN_HAVE_CUDA
#include "lectern/cuda_backend.h"
#endif

// QSKIP unless a GPU is usable, then register the CUDA backend; first in initTestCase().
#ifdef LECTERN_HAVE_CUDA
#define LECTERN_REQUIRE_GPU_BACKEND()   \
    do {                                \
        LECTERN_REQUIRE_GPU();          \
        lectern::register_cuda_backend(); \
    } while (false)
#else
#define LECTERN_REQUIRE_GPU_BACKEND() LECTERN_REQUIRE_GPU()
#endif

namespace cuda_forward_test {

using infer_test::every_position;

using lectern::token_id;

// The committed data: the build tree's path, else relative to the working directory (the GPU
// bundle runs from a copy of the repository root).
inline QString data_dir() {
    const QString built = QStringLiteral(LECTERN_TEST_DATA_DIR);
    if (QFileInfo::exists(built + QStringLiteral("/golden"))) return built;
    return QDir::current().absoluteFilePath(QStringLiteral("tests/data"));
}

inline QString demo_model() {
    const QString a = data_dir() + QStringLiteral("/../../resources/demo-model/lectern-demo.pth");
    if (QFileInfo::exists(a)) return QFileInfo(a).absoluteFilePath();
    return QDir::current().absoluteFilePath(QStringLiteral("resources/demo-model/lectern-demo.pth"));
}

inline std::shared_ptr<const lectern::Model> load(const QString& path,
                                                  lectern::Backend backend) {
    lectern::RuntimeOptions rt;
    rt.threads = 2;
    rt.backend = backend;
    auto m = lectern::Model::load(path.toStdString(), rt);
    if (!m) qWarning("loading %s: %s", qPrintable(path), m.error().message.c_str());
    return m ? *m : nullptr;
}

// A model on the GPU with `budget` bytes of GPU memory; null when it does not load.
inline std::shared_ptr<const lectern::Model> load_with_budget(const QString& path,
                                                              std::size_t budget) {
    lectern::RuntimeOptions rt;
    rt.threads = 2;
    rt.backend = lectern::Backend::cuda;
    rt.gpu_memory_budget = budget;
    auto m = lectern::Model::load(path.toStdString(), rt);
    return m ? *m : nullptr;
}

// The smallest budget (to 1 KiB) the model loads with: its weights and scratch, no KV room.
inline std::size_t weights_and_scratch(const QString& path) {
    std::size_t lo = 0, hi = std::size_t(16) << 30;
    while (hi - lo > 1024) {
        const std::size_t mid = lo + (hi - lo) / 2;
        (load_with_budget(path, mid) ? hi : lo) = mid;
    }
    return hi;
}

// A GPU budget that puts a model's KV rows in the paged cache with a small pool: its weights and
// scratch (`weights`, from weights_and_scratch), `means_room` for the chunk means (KvPages::grow
// leaves 64 KiB of the KV budget for them, which take up to ~55 KiB per state on the test models
// and twice that while they grow), and f32 slots for one query's chunks (its own and
// n_head * (top_k - 1) chosen ones) plus 3.
inline std::size_t small_paged_budget(std::size_t weights, const lectern::ModelConfig& c,
                                      int chunk, int top_k,
                                      std::size_t means_room = std::size_t(128) << 10) {
    const int min_slots = 1 + c.n_head * (top_k - 1);
    const std::size_t slot = std::size_t(chunk) * std::size_t(c.n_embd) * 4 * 2;
    return weights + means_room + std::size_t(min_slots + 3) * slot;
}

// Native attention with small chunks, as the tests on the 1-attention-block test model use them.
inline lectern::AttentionOptions small_chunks(lectern::KvDType dtype, int chunk = 16,
                                              int top_k = 3) {
    lectern::AttentionOptions a;
    a.chunk_size = chunk;
    a.top_k = top_k;
    a.kv_dtype = dtype;
    return a;
}

inline std::vector<token_id> tokens(int n, int vocab, unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<token_id> t(static_cast<std::size_t>(n));
    for (auto& x : t) x = token_id(rng() % unsigned(vocab));
    return t;
}

// Every row of logits of `ids` fed in calls starting at `cuts` (0 implied); empty on error.
inline std::vector<float> feed(lectern::State& s, const std::vector<token_id>& ids,
                               std::vector<std::size_t> cuts, QString* error) {
    std::string why;
    auto all = infer_test::feed(s, ids, std::move(cuts), &why);
    if (all.empty()) *error = QString::fromStdString(why);
    return all;
}

// How closely two sets of logits [rows][V] must agree, per row's scaled difference
// max |got - want| / max(1, max |want|) (why each rule: tst_cuda_forward's file comment):
// exact_tolerance: every row within tol; near_ties: at most 3 % of the rows over, none over 10x
// (near-tied chunk choices may flip); rounded_prefill: at most a quarter over, none over 20x, the
// median row within tol / 2 (bf16-rounded GEMM inputs flip many near ties), or within
// `median_bound` when one is given. LECTERN_TEST_STATS=1 prints every comparison's figures.
enum class Rule { exact_tolerance, near_ties, rounded_prefill };

// Per-row scaled differences of two [rows][V] arrays (infinite when got has a NaN).
inline std::vector<double> row_errors(const std::vector<float>& got,
                                      const std::vector<float>& want, int V) {
    std::vector<double> e;
    for (std::size_t r = 0; r * std::size_t(V) < want.size(); ++r) {
        double err = 0, scale = 1;
        for (std::size_t i = r * V; i < (r + 1) * std::size_t(V); ++i) {
            if (std::isnan(got[i])) return {INFINITY};
            err = std::max(err, std::abs(double(got[i]) - double(want[i])));
            scale = std::max(scale, std::abs(double(want[i])));
        }
        e.push_back(err / scale);
    }
    return e;
}

// The median of row_errors(got, want, V) (0 for no rows).
inline double median_row_error(const std::vector<float>& got, const std::vector<float>& want,
                               int V) {
    std::vector<double> e = row_errors(got, want, V);
    if (e.empty()) return 0.0;
    std::nth_element(e.begin(), e.begin() + long(e.size() / 2), e.end());
    return e[e.size() / 2];
}

// Empty when got agrees with want under `rule`, else why not. median_bound < 0: tol / 2.
inline QString agree(const std::vector<float>& got, const std::vector<float>& want, int V,
                     double tol, Rule rule, double median_bound = -1.0) {
    if (got.size() != want.size())
        return QStringLiteral("sizes differ: %1 vs %2").arg(got.size()).arg(want.size());
    const auto e = row_errors(got, want, V);
    std::size_t over = 0, worst = 0;
    for (std::size_t i = 0; i < e.size(); ++i) {
        if (e[i] > tol) ++over;
        if (e[i] > e[worst]) worst = i;
    }
    std::vector<double> sorted = e;
    std::nth_element(sorted.begin(), sorted.begin() + long(sorted.size() / 2), sorted.end());
    const double median = sorted.empty() ? 0.0 : sorted[sorted.size() / 2];
    if (qEnvironmentVariableIsSet("LECTERN_TEST_STATS"))
        qInfo("agree: %zu of %zu rows over %g, worst %g, median %g", over, e.size(), tol,
              e[worst], median);
    bool ok = over == 0;
    if (rule == Rule::near_ties) ok = over * 100 <= 3 * e.size() && e[worst] <= 10 * tol;
    if (rule == Rule::rounded_prefill)
        ok = over * 4 <= e.size() && e[worst] <= 20 * tol &&
             median <= (median_bound >= 0 ? median_bound : tol / 2);
    if (ok) return {};
    return QStringLiteral("%1 of %2 rows over %3; worst row %4: %5; median %6")
        .arg(over).arg(e.size()).arg(tol).arg(worst).arg(e[worst], 0, 'g', 3)
        .arg(median, 0, 'g', 3);
}

}  // namespace cuda_forward_test
