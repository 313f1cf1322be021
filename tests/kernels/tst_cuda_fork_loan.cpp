// Forks that borrow their original's KV rows on the GPU (KvLoan, kernels/model/cuda_state.h): a
// budget that holds a document's dense KV mirrors once but not twice, as a card that holds one
// long book does. The app keeps the document's state there (warm_up) and forks it per question;
// such a fork used to take the mirrors back from the document and upload every row from the host.
// Checked: the fork borrows (its note says so) and answers bit for bit as a fork that got a copy
// (a large budget), and within the GPU-vs-CPU tolerance of the CPU; the lender's open chunk, which
// the fork's sealing rounds (f16 cache, the question crosses a chunk boundary), is restored, so
// the document continues bit for bit as before; a second fork borrows again; the document used
// while a fork holds its rows takes them back, and that fork still answers right (from the host);
// a third state needing the memory while both are idle gets it; a fork that must grow its mirror
// where the budget has no room beside the lender's keeps the rows; a fork outliving its document
// keeps the rows, and their budget is freed when it goes.
// QSKIPs without a device (tests/emu: tst_cuda_fork_loan_emu).
#include <QRegularExpression>
#include <QTest>

#include <optional>
#include <vector>

#include "cuda_forward_util.h"
#include "fork_loan_test_util.h"
#include "gpu_test_util.h"
#include "lectern/inference.h"

namespace {

using lectern::token_id;
using namespace cuda_forward_test;
using namespace fork_loan_test;

// The MiB in "KV rows on the GPU: 1.0 MiB ..." (0 when the note has none).
double note_mib(const lectern::State& s) {
    const auto m =
        QRegularExpression(QStringLiteral("^KV rows on the GPU: ([0-9.]+) MiB")).match(note(s));
    return m.hasMatch() ? m.captured(1).toDouble() : 0.0;
}

}  // namespace

class TestCudaForkLoan : public QObject {
    Q_OBJECT

    std::shared_ptr<const lectern::Model> m_cpu, m_big, m_small, m_tight;
    std::vector<token_id> m_question;
    std::vector<std::byte> m_stored;     // the document's state, as a store keeps it
    std::vector<float> m_cpu_answer;     // the question's logits on the CPU
    std::vector<float> m_copied_answer;  // on the GPU, by a fork that got a copy

    // The document's state on `model`'s GPU, as the app puts it there; null on failure.
    std::optional<lectern::State> document(const std::shared_ptr<const lectern::Model>& model,
                                           int spare = 128) {
        auto s = lectern::State::deserialize(model, m_stored);
        if (!s || !lectern::warm_up(*s, spare)) return std::nullopt;
        return std::move(*s);
    }
    std::vector<float> ask(lectern::State& s, std::size_t from = 0,
                           std::size_t to = std::size_t(-1)) {
        return feed_part(s, m_question, from, to);
    }

  private slots:
    void initTestCase() {
        LECTERN_REQUIRE_GPU_BACKEND();
        m_cpu = load(model_path(), lectern::Backend::cpu);
        m_big = load(model_path(), lectern::Backend::cuda);
        QVERIFY(m_cpu && m_big);
        const int V = m_cpu->config().vocab;
        QString error;
        auto read = read_on_cpu(m_cpu, 4242u, &error);
        QVERIFY2(read, qPrintable(error));
        m_question = read->question;
        m_stored = read->stored;
        m_cpu_answer = read->cpu_answer;

        // A large budget: the fork gets a copy of the rows.
        auto doc = document(m_big);
        QVERIFY(doc);
        const double mib = note_mib(*doc);
        QVERIFY2(mib > 0, qPrintable(note(*doc)));
        lectern::State fork = doc->fork();
        QVERIFY2(!note(fork).contains(QLatin1String("in place")), qPrintable(note(fork)));
        m_copied_answer = ask(fork);
        QVERIFY(!m_copied_answer.empty());
        const QString why = agree(m_copied_answer, m_cpu_answer, V, 1e-5, Rule::near_ties);
        QVERIFY2(why.isEmpty(), qPrintable(QStringLiteral("copied fork vs CPU: ") + why));

        // Room for the document's mirrors once and a half; and for less than one question beside
        // the document's rows (~0.3 MiB of them: 300 of the 1024 rows the mirrors above hold).
        const std::size_t weights = weights_and_scratch(model_path());
        m_small = load_with_budget(model_path(), weights + std::size_t(mib * 1.5 * (1 << 20)));
        m_tight = load_with_budget(model_path(), weights + std::size_t(mib * 0.45 * (1 << 20)));
        QVERIFY(m_small && m_tight);
    }

    // Forks borrow, answer as a copied fork, and give the rows back as they were.
    void forks_borrow_and_give_back() {
        auto doc = document(m_small);
        QVERIFY(doc);
        QVERIFY2(note(*doc).startsWith(QLatin1String("KV rows on the GPU")),
                 qPrintable(note(*doc)));
        for (int question = 0; question < 2; ++question) {
            lectern::State fork = doc->fork();
            QVERIFY2(note(fork).contains(QLatin1String("in place")), qPrintable(note(fork)));
            QVERIFY2(note(*doc).contains(QLatin1String("lent to a fork")), qPrintable(note(*doc)));
            const auto answer = ask(fork);
            QVERIFY2(answer == m_copied_answer,
                     qPrintable(QStringLiteral("question %1: a borrowing fork answers otherwise "
                                               "than a copied one")
                                    .arg(question)));
            QVERIFY2(note(fork).contains(QLatin1String("in place")), qPrintable(note(fork)));
        }
        // The document itself, after both forks: its open chunk as it was (unrounded).
        QVERIFY2(!note(*doc).contains(QLatin1String("lent")), qPrintable(note(*doc)));
        QVERIFY2(ask(*doc) == m_copied_answer,
                 "the document continues otherwise after lending its rows");
    }

    // The document used while a fork holds its rows: it takes them back; the fork's next call
    // uploads its own from the host and still agrees with the CPU.
    void lender_takes_back() {
        const int V = m_cpu->config().vocab;
        auto doc = document(m_small);
        QVERIFY(doc);
        lectern::State fork = doc->fork();
        const auto first = ask(fork, 0, 40);
        QVERIFY(!first.empty());
        QVERIFY2(ask(*doc) == m_copied_answer, "the document, taking its rows back mid-loan");
        QVERIFY2(!note(fork).contains(QLatin1String("in place")), qPrintable(note(fork)));
        auto rest = ask(fork, 40);
        QVERIFY(!rest.empty());
        std::vector<float> joined = first;
        joined.insert(joined.end(), rest.begin(), rest.end());
        const QString why = agree(joined, m_cpu_answer, V, 1e-5, Rule::near_ties);
        QVERIFY2(why.isEmpty(), qPrintable(QStringLiteral("fork after the recall vs CPU: ") + why));
    }

    // A third state needing the memory while the document and its borrowing fork are idle
    // gets it (the fork gives the rows back, the document frees them); both still answer right.
    void idle_loans_are_reclaimed() {
        const int V = m_cpu->config().vocab;
        std::optional<lectern::State> doc = document(m_small);
        QVERIFY(doc);
        const double mib = note_mib(*doc);
        lectern::State fork = doc->fork();
        QVERIFY2(note(fork).contains(QLatin1String("in place")), qPrintable(note(fork)));
        auto other = document(m_small);
        QVERIFY(other);
        QVERIFY2(note_mib(*other) == mib, qPrintable(note(*other)));
        QVERIFY2(ask(*other) == m_copied_answer, "the third state answers otherwise");
        other.reset();
        const QString why = agree(ask(fork), m_cpu_answer, V, 1e-5, Rule::near_ties);
        QVERIFY2(why.isEmpty(), qPrintable(QStringLiteral("the fork, reclaimed: ") + why));
        const QString doc_why = agree(ask(*doc), m_cpu_answer, V, 1e-5, Rule::near_ties);
        QVERIFY2(doc_why.isEmpty(), qPrintable(QStringLiteral("the document: ") + doc_why));
    }

    // A document put on the GPU without spare rows, under a budget with no room for a question
    // beside them: the fork's mirror must grow and cannot beside the lender's, so the fork keeps
    // the rows (no upload) and the document uploads them again when it next runs.
    void a_growing_fork_keeps_the_rows() {
        std::optional<lectern::State> doc = document(m_tight, 1);
        QVERIFY(doc);
        QVERIFY2(note(*doc).startsWith(QLatin1String("KV rows on the GPU")),
                 qPrintable(note(*doc)));
        lectern::State fork = doc->fork();
        QVERIFY2(note(fork).contains(QLatin1String("in place")), qPrintable(note(fork)));
        QVERIFY2(ask(fork) == m_copied_answer, "a fork that kept the rows answers otherwise");
        QVERIFY2(note(fork).startsWith(QLatin1String("KV rows on the GPU")) &&
                     !note(fork).contains(QLatin1String("in place")),
                 qPrintable(note(fork)));
        QVERIFY2(ask(*doc) == m_copied_answer, "the document, after its fork kept its rows");
    }

    // A fork outliving the document keeps the rows; when it goes, their budget is free again:
    // a new document state gets mirrors as large as the first one's (with a leaked charge they
    // would be cut to the rows or paged).
    void fork_outlives_lender() {
        std::optional<lectern::State> doc = document(m_small);
        QVERIFY(doc);
        const double mib = note_mib(*doc);
        QVERIFY2(mib > 0, qPrintable(note(*doc)));
        std::optional<lectern::State> fork = doc->fork();
        QVERIFY2(note(*fork).contains(QLatin1String("in place")), qPrintable(note(*fork)));
        doc.reset();
        QVERIFY2(ask(*fork) == m_copied_answer, "a fork whose lender is gone answers otherwise");
        fork.reset();
        for (int again = 0; again < 2; ++again) {
            auto next = document(m_small);
            QVERIFY(next);
            QVERIFY2(note_mib(*next) == mib, qPrintable(note(*next)));
        }
    }
};

QTEST_MAIN(TestCudaForkLoan)
#include "tst_cuda_fork_loan.moc"
