// Shared by the whole-model GPU tests (tst_cuda_forward, tst_cuda_trace): where the committed
// test models are, loading a model on a backend or with a GPU memory budget, the smallest budget a
// model loads with, seeded random tokens, and feeding tokens in calls cut at given positions.
#pragma once

#include <QDir>
#include <QFileInfo>
#include <QString>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include "lectern/inference.h"

namespace cuda_forward_test {

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

inline std::vector<token_id> tokens(int n, int vocab, unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<token_id> t(static_cast<std::size_t>(n));
    for (auto& x : t) x = token_id(rng() % unsigned(vocab));
    return t;
}

// Every row of logits of `ids` fed in calls starting at `cuts` (0 implied).
inline std::vector<float> feed(lectern::State& s, const std::vector<token_id>& ids,
                        std::vector<std::size_t> cuts, QString* error) {
    cuts.push_back(0);
    cuts.push_back(ids.size());
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    std::vector<float> all, part;
    for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
        auto ok = lectern::forward(s, std::span(ids.data() + cuts[i], cuts[i + 1] - cuts[i]),
                                   true, part);
        if (!ok) {
            *error = QString::fromStdString(ok.error().message);
            return {};
        }
        all.insert(all.end(), part.begin(), part.end());
    }
    return all;
}

}  // namespace cuda_forward_test
