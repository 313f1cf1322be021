// Forks that borrow their original's paged KV pool on the GPU (PoolLoan, kernels/model/
// cuda_state.h): a budget that cannot hold a document's dense KV mirrors, as a card that pages a
// long book does, with the document's complete chunks served from a counting chunk source, as a
// reopened store serves them from disk. The app keeps the document's state there (warm_up) and
// forks it per question; such a fork used to start from an empty pool and load every chunk its
// question selected from the host again, every question.
// Checked: the first question's fork borrows the document's (empty) pool and loads what it needs;
// the second question's fork gets that pool back through the document and loads nothing, with the
// same logits bit for bit (the document's open chunk, which the first fork completed and rounded
// in its slot, is reloaded, not read rounded); the document answers the same after the loans; the
// document used while a fork holds its pool takes it back, and the fork still answers right (from
// the host); a fork outliving its document keeps the pool, whose budget is free after it goes;
// an idle borrowed pool is reclaimed by a third state; a fork of a fork loads its own.
// QSKIPs without a device (tests/emu: tst_cuda_pool_loan_emu).
#include <QTest>

#include <optional>
#include <vector>

#include "chunk_source_test_util.h"
#include "cuda_forward_util.h"
#include "fork_loan_test_util.h"
#include "gpu_test_util.h"
#include "lectern/inference.h"

namespace {

using lectern::token_id;
using namespace cuda_forward_test;
using namespace fork_loan_test;

// Complete chunks from memory, counted: each load is a chunk the GPU staged from the host.
class CountingSource final : public lectern::ChunkSource {
  public:
    std::vector<std::shared_ptr<const lectern::KvChunk>> chunks;
    mutable int loads = 0;
    lectern::Result<std::shared_ptr<const lectern::KvChunk>> load(std::int64_t c) const override {
        ++loads;
        return chunks.at(std::size_t(c));
    }
};

}  // namespace

class TestCudaPoolLoan : public QObject {
    Q_OBJECT

    std::shared_ptr<const lectern::Model> m_cpu, m_paged;
    std::vector<token_id> m_question;
    std::vector<std::byte> m_stored;  // the document's state, as a store keeps it
    std::vector<float> m_cpu_answer;  // the question's logits on the CPU
    std::vector<std::shared_ptr<CountingSource>> m_sources;

    int loads() const {
        int n = 0;
        for (const auto& s : m_sources) n += s->loads;
        return n;
    }
    // The document's state on the paged model's GPU, as the app puts it there (room for a long
    // next call, which the budget's dense mirrors cannot hold); its chunks in counted sources.
    std::optional<lectern::State> document() {
        auto s = lectern::State::deserialize(m_paged, m_stored);
        if (!s) return std::nullopt;
        m_sources = chunk_source_test::move_chunks_to_sources<CountingSource>(*s);
        if (!lectern::warm_up(*s, 512)) return std::nullopt;
        return std::move(*s);
    }
    std::vector<float> ask(lectern::State& s, std::size_t from = 0,
                           std::size_t to = std::size_t(-1)) {
        return feed_part(s, m_question, from, to);
    }
    QString against_cpu(const std::vector<float>& got) const {
        return agree(got, m_cpu_answer, m_cpu->config().vocab, 1e-5, Rule::near_ties);
    }

  private slots:
    void initTestCase() {
        LECTERN_REQUIRE_GPU_BACKEND();
        m_cpu = load(model_path(), lectern::Backend::cpu);
        QVERIFY(m_cpu);
        QString error;
        auto read = read_on_cpu(m_cpu, 4243u, &error);
        QVERIFY2(read, qPrintable(error));
        m_question = read->question;
        m_stored = read->stored;
        m_cpu_answer = read->cpu_answer;
        // KV room for a pool of every chunk after the question (25 slots of 16 KiB) with the
        // means of two states beside it, not for dense mirrors of 812 rows (812 KiB).
        m_paged = load_with_budget(model_path(),
                                   weights_and_scratch(model_path()) + (std::size_t(600) << 10));
        QVERIFY(m_paged);
    }

    // The second question's fork finds the chunks the first one loaded, and answers the same.
    void questions_share_the_pool() {
        auto doc = document();
        QVERIFY(doc);
        QVERIFY2(note(*doc).startsWith(QLatin1String("paged")), qPrintable(note(*doc)));
        std::vector<float> first;
        int first_loads = 0;
        for (int question = 0; question < 3; ++question) {
            const int before = loads();
            lectern::State fork = doc->fork();
            const bool lent = note(*doc).contains(QLatin1String("lent to a fork"));
            const auto answer = ask(fork);
            QVERIFY(!answer.empty());
            const int loaded = loads() - before;
            if (question == 0) {
                const QString why = against_cpu(answer);
                QVERIFY2(why.isEmpty(), qPrintable(QStringLiteral("first fork vs CPU: ") + why));
                QVERIFY2(loaded > 0, "the first question loaded no chunk");
                first = answer;
                first_loads = loaded;
                continue;
            }
            QVERIFY2(answer == first,
                     qPrintable(QStringLiteral("question %1 answers otherwise").arg(question)));
            QVERIFY2(loaded == 0, qPrintable(QStringLiteral("question %1 loaded %2 chunks again "
                                                            "(the first: %3); %4")
                                                 .arg(question)
                                                 .arg(loaded)
                                                 .arg(first_loads)
                                                 .arg(note(fork))));
            QVERIFY2(lent, "the document did not lend its pool");
            QVERIFY2(note(fork).contains(QLatin1String("forked from")), qPrintable(note(fork)));
        }
        QVERIFY2(!note(*doc).contains(QLatin1String("lent")), qPrintable(note(*doc)));
        QVERIFY2(ask(*doc) == first, "the document continues otherwise after lending its pool");
    }

    // The document used while a fork holds its pool: it takes it back; the fork's next call
    // loads its chunks from the host and still agrees with the CPU.
    void lender_takes_back() {
        auto doc = document();
        QVERIFY(doc);
        lectern::State fork = doc->fork();
        const auto first = ask(fork, 0, 40);
        QVERIFY(!first.empty());
        const auto whole = ask(*doc);
        QVERIFY2(against_cpu(whole).isEmpty(), qPrintable(against_cpu(whole)));
        QVERIFY2(!note(fork).contains(QLatin1String("forked from")), qPrintable(note(fork)));
        const auto rest = ask(fork, 40);
        QVERIFY(!rest.empty());
        std::vector<float> joined = first;
        joined.insert(joined.end(), rest.begin(), rest.end());
        const QString why = against_cpu(joined);
        QVERIFY2(why.isEmpty(), qPrintable(QStringLiteral("the fork after the recall: ") + why));
    }

    // A fork outliving its document keeps the pool and answers; when it goes, the budget is
    // free again: the next document's questions get a pool as large as the first one's.
    void fork_outlives_lender() {
        std::optional<lectern::State> doc = document();
        QVERIFY(doc);
        std::optional<lectern::State> fork = doc->fork();
        doc.reset();
        const auto answer = ask(*fork);
        QVERIFY2(against_cpu(answer).isEmpty(), qPrintable(against_cpu(answer)));
        const QString pool = note(*fork).section(QLatin1Char(' '), 6, 6);
        fork.reset();
        for (int again = 0; again < 2; ++again) {
            auto next = document();
            QVERIFY(next);
            lectern::State question = next->fork();
            QVERIFY2(ask(question) == answer, "a later document answers otherwise");
            QVERIFY2(note(question).section(QLatin1Char(' '), 6, 6) == pool,
                     qPrintable(note(question) + QStringLiteral(" (before: ") + pool + ')'));
        }
    }

    // A third state needing the budget while a document and its borrowing fork are idle gets it;
    // both still answer right, and a fork of the fork (which borrows nothing) too.
    void idle_loans_are_reclaimed() {
        std::optional<lectern::State> doc = document();
        QVERIFY(doc);
        lectern::State fork = doc->fork();
        const auto first = ask(fork, 0, 40);
        QVERIFY(!first.empty());
        lectern::State nested = fork.fork();
        auto made = lectern::State::deserialize(m_paged, m_stored);
        QVERIFY(made);
        std::optional<lectern::State> other = std::move(*made);
        const auto third = ask(*other);
        QVERIFY2(against_cpu(third).isEmpty(), qPrintable(against_cpu(third)));
        other.reset();
        for (lectern::State* s : {&fork, &nested}) {
            std::vector<float> joined = first;
            const auto rest = ask(*s, 40);
            QVERIFY(!rest.empty());
            joined.insert(joined.end(), rest.begin(), rest.end());
            const QString why = against_cpu(joined);
            QVERIFY2(why.isEmpty(),
                     qPrintable(QStringLiteral("a fork, its pool reclaimed: ") + why));
        }
        const auto again = ask(*doc);
        QVERIFY2(against_cpu(again).isEmpty(), qPrintable(against_cpu(again)));
    }
};

QTEST_GUILESS_MAIN(TestCudaPoolLoan)
#include "tst_cuda_pool_loan.moc"
