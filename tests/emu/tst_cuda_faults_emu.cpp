// A GPU failing in the middle of a forward call, on the emulated backend (faults injected with
// emu::arm_fault, cuda_emu_runtime.h): a refused kernel launch, and a kernel that faults when it
// runs (sticky, as a GPU's lost context), aimed at launches spread over a prefill of several
// segments, over the paged KV cache's prefill, over a decode token's first graph capture, and over
// the question of a fork that borrows its document's KV rows on the device (KvLoan).
// Checked for every fault:
// - the call fails with an error that names CUDA (a capture that fails instead falls back to plain
//   launches, and the token then comes out right);
// - the state's position does not move;
// - the state is exactly as before (the same call again gives the reference logits bit for bit,
//   and the tokens after it too), however far the call got: rows that reached the host KV caches
//   are taken out again (kv_cache_mark.h), and rows a rounded cache's first segment sealed on the
//   device while their chunk is still open before the call are uploaded again unrounded;
// - the model itself is unharmed: a fresh state from the same bytes gives the reference again;
// - a document whose rows a failed fork borrowed continues bit for bit as after a good question
//   (the fork's sealing rounds the lender's open chunk in place; it must be restored).
// The reference is the same call without a fault, on the same emulated backend (so bit for bit).
// Also: no page-locked memory to be had, where the KV uploads stage rows in pageable memory; and
// a question's fork, which pins none (the KV row buffers are the model's).
// Emulator only: a real GPU cannot be made to fail on cue.
#include <QRegularExpression>
#include <QTest>

#include <cstdint>
#include <optional>
#include <vector>

#include "cuda_emu.h"
#include "cuda_forward_util.h"
#include "gpu_test_util.h"
#include "lectern/inference.h"

namespace {

constexpr int kSpare = 160;  // rows a warmed document keeps room for: a question's

using lectern::token_id;
using namespace cuda_forward_test;

QString model_path() {
    return data_dir() + QStringLiteral("/golden/rwkvx-c128-1attn-f32.pth");
}

lectern::AttentionOptions options(lectern::KvDType dtype) { return small_chunks(dtype); }

// One call's logits, every row (the model's attention block is its last: a row's attention
// reaches no later row, so only every row's logits show each one), or nullopt with the error in
// *error.
std::optional<std::vector<float>> call(lectern::State& s, const std::vector<token_id>& ids,
                                       QString* error) {
    std::vector<float> logits;
    auto ok = lectern::forward(s, ids, true, logits);
    if (!ok) {
        *error = QString::fromStdString(ok.error().message);
        return std::nullopt;
    }
    return logits;
}

QString note(const lectern::State& s) {
    return QString::fromStdString(lectern::device_memory_note(s));
}
// A fork using its original's KV rows in place (KvLoan).
bool borrowed(const lectern::State& s) {
    return note(s).contains(QLatin1String("in place"));
}

// What a run of the call and the tokens after it gives, from a state in `bytes`.
struct Run {
    std::vector<float> call;
    std::vector<std::vector<float>> next;  // one per token after the call
};

}  // namespace

Q_DECLARE_METATYPE(lectern::KvDType)
Q_DECLARE_METATYPE(emu::Fault)

class TestCudaFaultsEmu : public QObject {
    Q_OBJECT

    // dense: a large budget (dense KV mirrors); paged: the paged cache with a small pool; loan:
    // room for a document's mirrors once and a half, so that its forks borrow them.
    std::shared_ptr<const lectern::Model> m_cpu, m_dense, m_paged, m_loan;
    std::vector<token_id> m_prefix, m_call, m_next;
    std::size_t m_paged_budget = 0;

    const std::shared_ptr<const lectern::Model>& model(const QString& name) {
        return name == QLatin1String("paged") ? m_paged : m_dense;
    }
    // A model with CUDA graphs for one-token calls, loaded afresh: null on error.
    static std::shared_ptr<const lectern::Model> graphs_model() {
        lectern::RuntimeOptions rt;
        rt.threads = 2;
        rt.backend = lectern::Backend::cuda;
        rt.cuda_graphs = true;
        auto m = lectern::Model::load(model_path().toStdString(), rt);
        return m ? *m : nullptr;
    }
    // The prefix's state (computed on the CPU), as a document store would hand it over.
    std::vector<std::byte> stored(lectern::KvDType dtype) {
        lectern::State s(m_cpu, options(dtype));
        QString error;
        if (!call(s, m_prefix, &error)) qWarning("%s", qPrintable(error));
        auto bytes = s.serialize();
        return bytes ? *bytes : std::vector<std::byte>();
    }
    // The call and then m_next token by token, without faults; empty on error. `launches`: the
    // kernel launches of the call (after the state's upload).
    std::optional<Run> reference(lectern::State& s, std::uint64_t* launches = nullptr) {
        Run r;
        QString error;
        if (auto warm = lectern::warm_up(s, int(m_call.size())); !warm) {
            qWarning("warm_up: %s", warm.error().message.c_str());
            return std::nullopt;
        }
        const std::uint64_t before = emu::launches_issued();
        auto logits = call(s, m_call, &error);
        if (launches) *launches = emu::launches_issued() - before;
        if (!logits) {
            qWarning("%s", qPrintable(error));
            return std::nullopt;
        }
        r.call = *logits;
        for (const token_id t : m_next) {
            auto one = call(s, {t}, &error);
            if (!one) {
                qWarning("%s", qPrintable(error));
                return std::nullopt;
            }
            r.next.push_back(*one);
        }
        return r;
    }

  private slots:
    void initTestCase() {
        LECTERN_REQUIRE_GPU_BACKEND();
        // Segments of 48 rows (read at load): a call of several segments, rows of one appended
        // while the next runs.
        qputenv("LECTERN_CUDA_SEGMENT_ROWS", "48");
        m_cpu = load(model_path(), lectern::Backend::cpu);
        m_dense = load(model_path(), lectern::Backend::cuda);
        QVERIFY(m_cpu && m_dense);
        const lectern::ModelConfig& c = m_cpu->config();
        // The paged model's budget: 48 KiB for the chunk means (the helper's default, 128 KiB,
        // would leave room for the call's 170 rows in dense mirrors).
        m_paged_budget = small_paged_budget(weights_and_scratch(model_path()), c, 16, 3,
                                            std::size_t(48) << 10);
        m_paged = load_with_budget(model_path(), m_paged_budget);
        QVERIFY(m_paged);
        // 40 tokens: two complete chunks and an open one of 8 rows, which the call's first
        // segment completes (an f16 cache then seals it); 130 more: 3 segments of 48 rows with a
        // float32 cache, 9 (ending at chunk boundaries) with f16.
        const auto ids = tokens(173, c.vocab, 777u);
        m_prefix.assign(ids.begin(), ids.begin() + 40);
        m_call.assign(ids.begin() + 40, ids.begin() + 170);
        m_next.assign(ids.begin() + 170, ids.end());
        {
            // The mirrors' size: a document warmed on the large budget says it in its note.
            auto doc = lectern::State::deserialize(m_dense, stored(lectern::KvDType::f16));
            QVERIFY(doc && lectern::warm_up(*doc, kSpare));
            const auto mib =
                QRegularExpression(QStringLiteral("^KV rows on the GPU: ([0-9.]+) MiB"))
                    .match(QString::fromStdString(lectern::device_memory_note(*doc)));
            QVERIFY(mib.hasMatch());
            m_loan = load_with_budget(
                model_path(), weights_and_scratch(model_path()) +
                                  std::size_t(mib.captured(1).toDouble() * 1.5 * (1 << 20)));
            QVERIFY(m_loan);
        }
    }

    // A fault at launches spread over a prefill call.
    void prefill_fault_data() {
        QTest::addColumn<QString>("mode");
        QTest::addColumn<lectern::KvDType>("dtype");
        QTest::addColumn<emu::Fault>("fault");
        // Where in the call's launches: a fraction of them, or the middle of the first (-1) or
        // the second (-2) segment's. With dense mirrors, the first segment's rows reach the host
        // while the second runs; with f16 the first segment seals the chunk open before the call.
        QTest::addColumn<double>("at");
        const struct {
            const char* mode;
            lectern::KvDType dtype;
        } setups[] = {{"dense", lectern::KvDType::f32},
                      {"dense", lectern::KvDType::f16},
                      {"paged", lectern::KvDType::f16}};
        for (const auto& setup : setups)
            for (const emu::Fault fault : {emu::Fault::refused_launch, emu::Fault::kernel_fault})
                for (const double at : {-1.0, -2.0, 0.0, 0.3, 0.6, 0.99}) {
                    const char* kind = fault == emu::Fault::refused_launch ? "refused" : "fault";
                    const char* dt = setup.dtype == lectern::KvDType::f32 ? "f32" : "f16";
                    if (at < 0)
                        QTest::addRow("%s %s %s in segment %d", setup.mode, dt, kind, int(-at))
                            << QString::fromLatin1(setup.mode) << setup.dtype << fault << at;
                    else
                        QTest::addRow("%s %s %s at %.2f", setup.mode, dt, kind, at)
                            << QString::fromLatin1(setup.mode) << setup.dtype << fault << at;
                }
    }
    void prefill_fault() {
        QFETCH(QString, mode);
        QFETCH(lectern::KvDType, dtype);
        QFETCH(emu::Fault, fault);
        QFETCH(double, at);
        const auto& gpu = model(mode);
        const std::vector<std::byte> bytes = stored(dtype);
        QVERIFY(!bytes.empty());

        // The reference, and how many launches its call makes.
        auto clean = lectern::State::deserialize(gpu, bytes);
        QVERIFY(clean);
        std::uint64_t launches = 0;
        const auto want = reference(*clean, &launches);
        QVERIFY(want);
        QVERIFY(launches > 10);

        // The first segments' launches: a call of their rows alone makes them and the head's.
        // Segments are 48 rows, and end at chunk boundaries with a rounded cache.
        const bool rounded = dtype != lectern::KvDType::f32;
        const int first_rows = rounded ? 16 - int(m_prefix.size()) % 16 : 48;
        const int second_rows = rounded ? 16 : 48;
        QVERIFY(first_rows + second_rows < int(m_call.size()));
        QString error;
        const auto launches_of = [&](int rows) -> std::optional<std::uint64_t> {
            auto part = lectern::State::deserialize(gpu, bytes);
            if (!part || !lectern::warm_up(*part, rows)) return std::nullopt;
            const std::uint64_t before = emu::launches_issued();
            if (!call(*part, {m_call.begin(), m_call.begin() + rows}, &error)) return std::nullopt;
            return emu::launches_issued() - before;
        };
        const auto first_launches = launches_of(first_rows);
        const auto two_launches = launches_of(first_rows + second_rows);
        QVERIFY2(first_launches && two_launches, qPrintable(error));

        // The same call with a fault at launch k.
        auto s = lectern::State::deserialize(gpu, bytes);
        QVERIFY(s);
        QVERIFY(lectern::warm_up(*s, int(m_call.size())));
        const std::uint64_t k =
            at == -1.0   ? *first_launches / 2
            : at == -2.0 ? *first_launches + (*two_launches - *first_launches) / 2
                         : std::uint64_t(at * double(launches - 1));
        emu::arm_fault(fault, k);
        const auto failed = call(*s, m_call, &error);
        emu::clear_faults();  // a "new context" after a kernel fault: what is left is the host's
        QVERIFY2(!failed, "the call succeeded despite the fault");
        QVERIFY2(error.contains(QLatin1String("CUDA")), qPrintable(error));
        // The paged rows run the paged cache (its budget has no room for the call's rows).
        QCOMPARE(note(*s).startsWith(QLatin1String("paged KV cache")),
                 mode == QLatin1String("paged"));
        QCOMPARE(s->position(), std::int64_t(m_prefix.size()));
        checkAfterFailure(*s, *want, k, launches);

        // The model still works for other states.
        auto again = lectern::State::deserialize(gpu, bytes);
        QVERIFY(again);
        const auto after = reference(*again);
        QVERIFY(after);
        QCOMPARE(after->call, want->call);
        QCOMPARE(after->next, want->next);
    }

    // A refused launch at launches spread over a decode token's first call with CUDA graphs
    // (each on a model of its own, since a failed capture turns graphs off for the model): a
    // capture that fails is dropped and its span runs on plain launches (the token is right), a
    // plain launch that fails fails the call as any call does.
    void decode_graph_capture_fault() {
        const std::vector<std::byte> bytes = stored(lectern::KvDType::f16);
        QVERIFY(!bytes.empty());
        const auto first = graphs_model();
        QVERIFY(first);
        auto clean = lectern::State::deserialize(first, bytes);
        QVERIFY(clean);
        const auto want = reference(*clean);
        QVERIFY(want);
        // The launches of the first decode token (its captures included) after the call.
        const auto second = graphs_model();
        QVERIFY(second);
        auto probe = lectern::State::deserialize(second, bytes);
        QVERIFY(probe);
        QString error;
        QVERIFY2(call(*probe, m_call, &error), qPrintable(error));
        const std::uint64_t before = emu::launches_issued();
        QVERIFY2(call(*probe, {m_next[0]}, &error), qPrintable(error));
        const std::uint64_t launches = emu::launches_issued() - before;
        QVERIFY(launches > 4);
        int fell_back = 0, failed_calls = 0;
        for (std::uint64_t k = 0; k < launches; k += std::max<std::uint64_t>(1, launches / 8)) {
            const auto gpu = graphs_model();
            QVERIFY(gpu);
            auto s = lectern::State::deserialize(gpu, bytes);
            QVERIFY(s);
            QVERIFY2(call(*s, m_call, &error), qPrintable(error));
            emu::arm_fault(emu::Fault::refused_launch, k);
            auto got = call(*s, {m_next[0]}, &error);
            emu::clear_faults();
            if (got) {
                ++fell_back;
                QCOMPARE(*got, want->next[0]);
                for (std::size_t i = 1; i < m_next.size(); ++i) {
                    auto one = call(*s, {m_next[i]}, &error);
                    QVERIFY2(one, qPrintable(error));
                    QCOMPARE(*one, want->next[i]);
                }
                continue;
            }
            ++failed_calls;
            QVERIFY2(error.contains(QLatin1String("CUDA")), qPrintable(error));
            QCOMPARE(s->position(), std::int64_t(m_prefix.size() + m_call.size()));
            checkAfterFailure(*s, *want, k, launches, true);
        }
        qInfo("%d faults fell back to plain launches, %d failed the call", fell_back, failed_calls);
        QVERIFY(fell_back > 0);  // the first launch of the token is in a capture
    }

    // A fault in the question of a fork that borrows its document's rows.
    void fork_loan_fault_data() {
        QTest::addColumn<emu::Fault>("fault");
        QTest::addColumn<double>("at");
        for (const emu::Fault fault : {emu::Fault::refused_launch, emu::Fault::kernel_fault})
            for (const double at : {0.0, 0.1, 0.3, 0.6, 0.99})
                QTest::addRow("%s at %.2f",
                              fault == emu::Fault::refused_launch ? "refused" : "fault", at)
                    << fault << at;
    }
    void fork_loan_fault() {
        QFETCH(emu::Fault, fault);
        QFETCH(double, at);
        const std::vector<std::byte> bytes = stored(lectern::KvDType::f16);
        QVERIFY(!bytes.empty());
        QString error;
        // Reference: the question on a borrowing fork, then the document continuing.
        auto doc = lectern::State::deserialize(m_loan, bytes);
        QVERIFY(doc && lectern::warm_up(*doc, kSpare));
        std::uint64_t launches = 0;
        std::vector<float> answer;
        {
            lectern::State fork = doc->fork();
            QVERIFY2(borrowed(fork), qPrintable(note(fork)));
            const std::uint64_t before = emu::launches_issued();
            auto got = call(fork, m_call, &error);
            launches = emu::launches_issued() - before;
            QVERIFY2(got, qPrintable(error));
            answer = *got;
        }
        auto doc_next = call(*doc, m_next, &error);
        QVERIFY2(doc_next, qPrintable(error));

        // The same with a fault in the question.
        auto doc2 = lectern::State::deserialize(m_loan, bytes);
        QVERIFY(doc2 && lectern::warm_up(*doc2, kSpare));
        {
            lectern::State fork = doc2->fork();
            QVERIFY2(borrowed(fork), qPrintable(note(fork)));
            const auto k = std::uint64_t(at * double(launches - 1));
            emu::arm_fault(fault, k);
            const auto failed = call(fork, m_call, &error);
            emu::clear_faults();
            QVERIFY2(!failed, "the question succeeded despite the fault");
            QVERIFY2(error.contains(QLatin1String("CUDA")), qPrintable(error));
            qInfo("launch %llu of %llu: %s", (unsigned long long)k, (unsigned long long)launches,
                  qPrintable(error.left(160)));
        }
        auto next = call(*doc2, m_next, &error);
        QVERIFY2(next, qPrintable(error));
        QVERIFY2(*next == *doc_next, "the document continues otherwise after a failed fork");
        // A question after the failed one is the reference's (a fresh document, same bytes).
        auto doc3 = lectern::State::deserialize(m_loan, bytes);
        QVERIFY(doc3 && lectern::warm_up(*doc3, kSpare));
        lectern::State fork3 = doc3->fork();
        auto answer3 = call(fork3, m_call, &error);
        QVERIFY2(answer3, qPrintable(error));
        QVERIFY(*answer3 == answer);
    }

    // No page-locked memory to be had (emu::refuse_pinned): a reopened document's rows still
    // reach the GPU (the dense upload and the paged loads stage them in pageable memory), and
    // the call and the tokens after it give what they give with page-locked staging, bit for bit.
    void page_locked_memory_refused_data() {
        QTest::addColumn<QString>("mode");
        QTest::addColumn<lectern::KvDType>("dtype");
        for (const char* mode : {"dense", "paged"})
            for (const auto& [name, dtype] : {std::pair{"f16", lectern::KvDType::f16},
                                              std::pair{"int8", lectern::KvDType::int8}})
                QTest::addRow("%s %s", mode, name) << QString::fromLatin1(mode) << dtype;
    }
    void page_locked_memory_refused() {
        QFETCH(QString, mode);
        QFETCH(lectern::KvDType, dtype);
        const std::vector<std::byte> bytes = stored(dtype);
        QVERIFY(!bytes.empty());
        auto pinned = lectern::State::deserialize(model(mode), bytes);
        QVERIFY(pinned);
        const auto want = reference(*pinned);
        QVERIFY(want);

        // A model of its own: the staging and row buffers are the model's, and the first one's
        // are pinned already.
        const auto fresh = mode == QLatin1String("paged")
                               ? load_with_budget(model_path(), m_paged_budget)
                               : load(model_path(), lectern::Backend::cuda);
        QVERIFY(fresh);
        auto pageable = lectern::State::deserialize(fresh, bytes);
        QVERIFY(pageable);
        emu::pinned_refused = 0;
        emu::refuse_pinned = true;
        const auto got = reference(*pageable);
        emu::refuse_pinned = false;
        QVERIFY(got);
        QVERIFY2(emu::pinned_refused > 0, "page-locked memory was not asked for");
        QCOMPARE(got->call, want->call);
        QCOMPARE(got->next, want->next);
    }

    // The KV row buffers are the model's (CudaModel::kv_row_buffer): once a document's reading
    // has sized them, a question's fork and its tokens pin no page-locked memory. Each state and
    // each fork used to pin its own (two per attention block, for its first token).
    void a_question_pins_nothing_data() {
        QTest::addColumn<QString>("mode");
        QTest::newRow("dense") << QStringLiteral("dense");
        QTest::newRow("paged") << QStringLiteral("paged");
    }
    void a_question_pins_nothing() {
        QFETCH(QString, mode);
        auto doc = lectern::State::deserialize(model(mode), stored(lectern::KvDType::f16));
        QVERIFY(doc);
        QString error;
        QVERIFY2(call(*doc, m_call, &error), qPrintable(error));
        QVERIFY2(call(*doc, {m_next[0]}, &error), qPrintable(error));
        lectern::State question = doc->fork();
        emu::pinned_refused = 0;
        emu::refuse_pinned = true;
        const auto first = call(question, {m_next[1]}, &error);
        const auto second = first ? call(question, {m_next[2]}, &error) : std::nullopt;
        emu::refuse_pinned = false;
        QVERIFY2(first && second, qPrintable(error));
        QCOMPARE(emu::pinned_refused.load(), 0);
    }

  private:
    // After a failed call the state is as before: the call (not for a decode) and the tokens
    // after it give the reference.
    void checkAfterFailure(lectern::State& s, const Run& want, std::uint64_t k,
                           std::uint64_t launches, bool decode = false) {
        QString error;
        if (!decode) {
            auto again = call(s, m_call, &error);
            QVERIFY2(again, qPrintable(error));
            QCOMPARE(*again, want.call);
        }
        for (std::size_t i = 0; i < m_next.size(); ++i) {
            auto one = call(s, {m_next[i]}, &error);
            QVERIFY2(one, qPrintable(error));
            QCOMPARE(*one, want.next[i]);
        }
        qInfo("launch %llu of %llu: the state is as before", (unsigned long long)k,
              (unsigned long long)launches);
    }
};

QTEST_APPLESS_MAIN(TestCudaFaultsEmu)
#include "tst_cuda_faults_emu.moc"
