// Shared by the tests of forks that borrow their original's device KV (tst_cuda_fork_loan: dense
// mirrors; tst_cuda_pool_loan: the paged slot pool): the one-attention-block test model with
// small chunks in an f16 cache, as a document store keeps it, and the state's device note.
#pragma once

#include <QString>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

#include "cuda_forward_util.h"
#include "lectern/inference.h"

namespace fork_loan_test {

inline QString model_path() {
    return cuda_forward_test::data_dir() + QStringLiteral("/golden/rwkvx-c128-1attn-f32.pth");
}

inline lectern::AttentionOptions options() {
    lectern::AttentionOptions a;
    a.chunk_size = 16;
    a.top_k = 3;
    a.kv_dtype = lectern::KvDType::f16;
    return a;
}

// Where the state's KV rows sit on the device, in words (lectern::device_memory_note).
inline QString note(const lectern::State& s) {
    return QString::fromStdString(lectern::device_memory_note(s));
}

// The logits of ids[from, to) fed to `s` (empty, with the error logged, on failure): a question
// asked whole or in two calls.
inline std::vector<float> feed_part(lectern::State& s, const std::vector<lectern::token_id>& ids,
                                    std::size_t from, std::size_t to) {
    QString error;
    const std::vector<lectern::token_id> part(
        ids.begin() + std::ptrdiff_t(from), ids.begin() + std::ptrdiff_t(std::min(to, ids.size())));
    auto logits = cuda_forward_test::feed(s, part, {}, &error);
    if (logits.empty()) qWarning("%s", qPrintable(error));
    return logits;
}

// A document of 300 tokens (18 complete chunks and an open one of 12 rows, which the question's
// 100 tokens complete, and the f16 cache then seals) read on the CPU: its state as a store keeps
// it, and the question's logits there. Empty, with `error` set, on failure.
struct ReadDocument {
    std::vector<lectern::token_id> document, question;
    std::vector<std::byte> stored;
    std::vector<float> cpu_answer;
};
inline std::optional<ReadDocument> read_on_cpu(const std::shared_ptr<const lectern::Model>& cpu,
                                               unsigned seed, QString* error) {
    const auto ids = cuda_forward_test::tokens(400, cpu->config().vocab, seed);
    ReadDocument r;
    r.document.assign(ids.begin(), ids.begin() + 300);
    r.question.assign(ids.begin() + 300, ids.end());
    lectern::State host(cpu, options());
    if (cuda_forward_test::feed(host, r.document, {}, error).empty()) return std::nullopt;
    auto bytes = host.serialize();
    if (!bytes) {
        *error = QString::fromStdString(bytes.error().message);
        return std::nullopt;
    }
    r.stored = *bytes;
    r.cpu_answer = feed_part(host, r.question, 0, r.question.size());
    if (r.cpu_answer.empty()) return std::nullopt;
    return r;
}

}  // namespace fork_loan_test
