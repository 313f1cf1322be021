// Tests for Sampler: greedy and the temperature -> 0 limit, top-k/top-p/min-p exclusion (exactly
// on crafted logits and on a 65536-token row), agreement with softmax by a chi-square test,
// penalty amounts, the fixed RNG stream, seeded reproducibility and option validation.
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <set>

#include "lectern/sampler.h"

using lectern::Sampler;
using lectern::SamplingOptions;
using lectern::token_id;

namespace {

Sampler make(const SamplingOptions& o) {
    auto s = Sampler::create(o);
    if (!s) qFatal("Sampler::create: %s", s.error().message.c_str());
    return std::move(*s);
}

// Draw n tokens from fresh copies of `logits` (sample() overwrites its input).
std::vector<int> histogram(Sampler& s, const std::vector<float>& logits, int n) {
    std::vector<int> counts(logits.size(), 0);
    std::vector<float> row;
    for (int i = 0; i < n; ++i) {
        row = logits;
        ++counts[s.sample(row)];
    }
    return counts;
}

// Logits whose softmax is exactly proportional to `probs`.
std::vector<float> log_probs(std::initializer_list<double> probs) {
    std::vector<float> out;
    for (double p : probs) out.push_back(float(std::log(p)));
    return out;
}

std::set<token_id> drawn(const std::vector<int>& counts) {
    std::set<token_id> s;
    for (std::size_t i = 0; i < counts.size(); ++i)
        if (counts[i] > 0) s.insert(token_id(i));
    return s;
}

// Pearson chi-square of observed counts against expected probabilities (cells with p > 0).
double chi_square(const std::vector<int>& counts, const std::vector<double>& probs, int n) {
    double chi = 0.0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        if (probs[i] == 0.0) {
            if (counts[i] != 0) return 1e30;
            continue;
        }
        const double e = probs[i] * n;
        chi += (counts[i] - e) * (counts[i] - e) / e;
    }
    return chi;
}

std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
    const double m = *std::max_element(logits.begin(), logits.end());
    std::vector<double> p(logits.size());
    double z = 0.0;
    for (std::size_t i = 0; i < logits.size(); ++i)
        z += p[i] = std::exp((logits[i] - m) / temperature);
    for (double& v : p) v /= z;
    return p;
}

}  // namespace

class TestSampler : public QObject {
    Q_OBJECT

  private Q_SLOTS:
    void greedy_picks_argmax() {
        SamplingOptions o;
        o.temperature = 0.0f;
        Sampler s = make(o);
        std::mt19937 rng(7);
        std::normal_distribution<float> normal(0.0f, 3.0f);
        for (int trial = 0; trial < 50; ++trial) {
            std::vector<float> row(1000);
            for (float& v : row) v = normal(rng);
            const auto expected = token_id(std::max_element(row.begin(), row.end()) - row.begin());
            QCOMPARE(s.sample(row), expected);
        }
        std::vector<float> ties{1.0f, 3.0f, -2.0f, 3.0f, 3.0f};
        QCOMPARE(s.sample(ties), token_id(1));  // lowest index among equal maxima
    }

    void temperature_to_zero_is_greedy() {
        SamplingOptions o;
        o.temperature = 1e-4f;  // second best is exp(-100) times less likely
        o.seed = 3;
        Sampler s = make(o);
        const std::vector<float> logits{0.2f, 1.5f, 1.49f, -4.0f, 1.0f};
        const std::vector<int> counts = histogram(s, logits, 2000);
        QCOMPARE(counts[1], 2000);
        o.temperature = 1e-45f;  // denormal: 1/T overflows to infinity
        Sampler tiny = make(o);
        QCOMPARE(histogram(tiny, logits, 100)[1], 100);
    }

    void top_k_excludes_exactly() {
        SamplingOptions o;
        o.top_k = 3;
        o.seed = 11;
        Sampler s = make(o);
        const std::vector<float> logits{0.0f, 2.0f, 1.0f, 2.5f, 1.9f, 1.95f, -1.0f};
        QCOMPARE(drawn(histogram(s, logits, 5000)), (std::set<token_id>{1, 3, 5}));
        // Ties at the cut go to the lower id.
        const std::vector<float> tied{1.0f, 1.0f, 1.0f, 1.0f};
        QCOMPARE(drawn(histogram(s, tied, 2000)), (std::set<token_id>{0, 1, 2}));
    }

    void top_p_min_p_exact_data() {
        QTest::addColumn<int>("top_k");
        QTest::addColumn<float>("top_p");
        QTest::addColumn<float>("min_p");
        QTest::addColumn<QList<uint>>("allowed");
        // probabilities 0.5, 0.3, 0.15, 0.05 (ids 2, 0, 3, 1)
        QTest::newRow("top_p 0.45") << 0 << 0.45f << 0.0f << QList<uint>{2};
        QTest::newRow("top_p 0.75") << 0 << 0.75f << 0.0f << QList<uint>{0, 2};
        QTest::newRow("top_p 0.9") << 0 << 0.9f << 0.0f << QList<uint>{0, 2, 3};
        QTest::newRow("top_p 1") << 0 << 1.0f << 0.0f << QList<uint>{0, 1, 2, 3};
        QTest::newRow("min_p 0.35") << 0 << 1.0f << 0.35f << QList<uint>{0, 2};
        QTest::newRow("min_p 0.2") << 0 << 1.0f << 0.2f << QList<uint>{0, 2, 3};
        QTest::newRow("min_p 1") << 0 << 1.0f << 1.0f << QList<uint>{2};
        // Ratio of the third token to the best is 0.15 / 0.5 = 0.3: tight thresholds either side.
        QTest::newRow("min_p 0.31") << 0 << 1.0f << 0.31f << QList<uint>{0, 2};
        QTest::newRow("min_p 0.29") << 0 << 1.0f << 0.29f << QList<uint>{0, 2, 3};
        // top-p is measured after top-k renormalises: over the top 3, 0.5/0.95 + 0.3/0.95 =
        // 0.842 >= 0.82, while over all four tokens 0.8 < 0.82 needs a third token.
        QTest::newRow("top_p 0.82") << 0 << 0.82f << 0.0f << QList<uint>{0, 2, 3};
        QTest::newRow("top_k 3 then top_p 0.82") << 3 << 0.82f << 0.0f << QList<uint>{0, 2};
        QTest::newRow("all three") << 3 << 0.9f << 0.5f << QList<uint>{0, 2};
    }

    void top_p_min_p_exact() {
        QFETCH(int, top_k);
        QFETCH(float, top_p);
        QFETCH(float, min_p);
        QFETCH(QList<uint>, allowed);
        SamplingOptions o;
        o.top_k = top_k;
        o.top_p = top_p;
        o.min_p = min_p;
        o.seed = 5;
        Sampler s = make(o);
        const std::vector<float> logits = log_probs({0.3, 0.05, 0.5, 0.15});
        const std::set<token_id> expected(allowed.begin(), allowed.end());
        QCOMPARE(drawn(histogram(s, logits, 6000)), expected);
    }

    // A full-size row: every draw lies in the nucleus / top-k set computed here by a full sort.
    void large_vocab_truncation() {
        const int V = 65536;
        std::mt19937 rng(1234);
        std::normal_distribution<float> normal(0.0f, 2.5f);
        std::vector<float> logits(V);
        for (float& v : logits) v = normal(rng);
        std::vector<int> order(V);
        std::iota(order.begin(), order.end(), 0);
        std::sort(order.begin(), order.end(), [&](int a, int b) {
            return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
        });
        const std::vector<double> p = softmax(logits, 1.0);

        std::set<token_id> nucleus;
        double acc = 0.0;
        for (int id : order) {
            nucleus.insert(token_id(id));
            acc += p[id];
            if (acc >= 0.6) break;
        }
        SamplingOptions o;
        o.top_p = 0.6f;
        o.seed = 99;
        Sampler nucleus_sampler = make(o);
        const std::set<token_id> got = drawn(histogram(nucleus_sampler, logits, 1000));
        QVERIFY(std::includes(nucleus.begin(), nucleus.end(), got.begin(), got.end()));
        QVERIFY(got.size() >= 10);  // it samples, not just argmax

        o.top_p = 1.0f;
        o.top_k = 40;
        Sampler k_sampler = make(o);
        const std::set<token_id> top40(order.begin(), order.begin() + 40);
        const std::set<token_id> got_k = drawn(histogram(k_sampler, logits, 1000));
        QVERIFY(std::includes(top40.begin(), top40.end(), got_k.begin(), got_k.end()));
        QVERIFY(got_k.size() >= 30);
    }

    // 100 tied tokens at scattered ids hold 60% of the mass among 10000. The nucleus for p = 0.5
    // is exactly the 84 lowest ids of the tied group (ties go to the lower id), which exercises
    // the selection path (more than 64 candidates) exactly.
    void top_p_selection_with_ties() {
        const int V = 10000;
        std::vector<float> logits(V, 0.0f);
        std::vector<token_id> tied;
        std::mt19937 rng(5);
        while (tied.size() < 100) {
            const auto id = token_id(rng() % V);
            if (logits[id] == 0.0f) {
                logits[id] = 5.0f;
                tied.push_back(id);
            }
        }
        std::sort(tied.begin(), tied.end());
        const double e5 = std::exp(5.0);
        const double z = 100 * e5 + (V - 100);
        const auto m = std::size_t(std::ceil(0.5 * z / e5));
        QCOMPARE(m, std::size_t(84));
        SamplingOptions o;
        o.top_p = 0.5f;
        o.seed = 8;
        Sampler s = make(o);
        const std::set<token_id> expected(tied.begin(), tied.begin() + std::ptrdiff_t(m));
        QCOMPARE(drawn(histogram(s, logits, 20000)), expected);
    }

    void matches_softmax_data() {
        QTest::addColumn<float>("temperature");
        QTest::addColumn<int>("top_k");
        QTest::newRow("T=1") << 1.0f << 0;
        QTest::newRow("T=0.7") << 0.7f << 0;
        QTest::newRow("T=1.5") << 1.5f << 0;
        QTest::newRow("T=1, top_k 4 (truncated path)") << 1.0f << 4;
    }

    // Chi-square with 5 degrees of freedom (3 for the top-k row): 30 is far out in the tail
    // (p < 1e-4), so only a wrong distribution fails; the fixed seed makes the run repeatable.
    void matches_softmax() {
        QFETCH(float, temperature);
        QFETCH(int, top_k);
        const std::vector<float> logits{0.0f, 0.5f, 1.0f, -1.0f, 2.0f, 0.3f};
        std::vector<double> expected = softmax(logits, temperature);
        if (top_k > 0) {
            // Keep the 4 largest (ids 4, 2, 1, 5) and renormalise.
            expected[0] = expected[3] = 0.0;
            const double z = std::accumulate(expected.begin(), expected.end(), 0.0);
            for (double& v : expected) v /= z;
        }
        SamplingOptions o;
        o.temperature = temperature;
        o.top_k = top_k;
        o.seed = 2024;
        Sampler s = make(o);
        const int n = 60000;
        const double chi = chi_square(histogram(s, logits, n), expected, n);
        QVERIFY2(chi < 30.0, qPrintable(QStringLiteral("chi-square %1").arg(chi)));
    }

    void penalties_change_the_right_logits() {
        SamplingOptions o;
        o.presence_penalty = 0.5f;
        o.frequency_penalty = 0.25f;
        Sampler s = make(o);
        s.accept(2);
        s.accept(5);
        s.accept(2);
        std::vector<float> row(8, 0.0f);
        s.apply_penalties(row);
        const std::vector<float> expected{0, 0, -1.0f, 0, 0, -0.75f, 0, 0};
        QCOMPARE(row, expected);

        // sample() leaves the penalised logits in its input.
        std::vector<float> row2(8, 0.0f);
        (void)s.sample(row2);
        QCOMPARE(row2, expected);

        // A zero frequency weight (PIPELINE: space, tab, digit) still gets the presence penalty.
        s.accept(7, lectern::pipeline_frequency_weight("4"));
        QCOMPARE(s.count(7), 0.0f);
        std::vector<float> row3(8, 0.0f);
        s.apply_penalties(row3);
        QCOMPARE(row3[7], -0.5f);

        // Tokens beyond the row (a smaller vocabulary) are ignored.
        s.accept(100);
        std::vector<float> small(4, 0.0f);
        s.apply_penalties(small);
        QCOMPARE(small, (std::vector<float>{0, 0, -1.0f, 0}));

        s.reset_penalties();
        std::vector<float> row4(8, 0.0f);
        s.apply_penalties(row4);
        QCOMPARE(row4, std::vector<float>(8, 0.0f));
    }

    void penalty_decay() {
        SamplingOptions o;
        o.presence_penalty = 0.5f;
        o.frequency_penalty = 0.25f;
        o.penalty_decay = 0.5f;
        Sampler s = make(o);
        s.accept(2);  // {2: 1}
        s.accept(5);  // {2: 0.5, 5: 1}
        s.accept(2);  // {2: 1.25, 5: 0.5}
        QCOMPARE(s.count(2), 1.25f);
        QCOMPARE(s.count(5), 0.5f);
        std::vector<float> row(6, 0.0f);
        s.apply_penalties(row);
        QCOMPARE(row[2], -(0.5f + 0.25f * 1.25f));
        QCOMPARE(row[5], -(0.5f + 0.25f * 0.5f));
    }

    void repetition_penalty() {
        SamplingOptions o;
        o.repetition_penalty = 2.0f;
        o.presence_penalty = 1.0f;
        Sampler s = make(o);
        s.accept(0);
        s.accept(1);
        std::vector<float> row{3.0f, -3.0f, 3.0f};
        s.apply_penalties(row);
        // Positive divided, negative multiplied, then the additive penalties.
        QCOMPARE(row, (std::vector<float>{0.5f, -7.0f, 3.0f}));
    }

    // The RNG is xoshiro256** seeded by splitmix64: these values come from an independent
    // implementation, so a platform or library change cannot silently change seeded output.
    void rng_stream_is_fixed() {
        lectern::Rng zero(0);
        QCOMPARE(zero.next_u64(), Q_UINT64_C(0x99ec5f36cb75f2b4));
        QCOMPARE(zero.next_u64(), Q_UINT64_C(0xbf6e1f784956452a));
        QCOMPARE(zero.next_u64(), Q_UINT64_C(0x1a5f849d4933e6e0));
        lectern::Rng other(12345);
        QCOMPARE(other.next_u64(), Q_UINT64_C(0xbe6a36374160d49b));
        lectern::Rng unit(1);
        for (int i = 0; i < 10000; ++i) {
            const double u = unit.next_double();
            QVERIFY(u >= 0.0 && u < 1.0);
        }
    }

    void seeded_reproducibility() {
        std::mt19937 rng(42);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        std::vector<float> logits(500);
        for (float& v : logits) v = normal(rng);
        const auto run = [&](std::uint64_t seed) {
            SamplingOptions o;
            o.seed = seed;
            o.top_p = 0.9f;
            o.presence_penalty = 0.3f;
            Sampler s = make(o);
            std::vector<token_id> out;
            for (int i = 0; i < 200; ++i) {
                std::vector<float> row = logits;
                const token_id t = s.sample(row);
                s.accept(t);
                out.push_back(t);
            }
            return out;
        };
        QCOMPARE(run(7), run(7));
        QVERIFY(run(7) != run(8));
    }

    void non_finite_logits() {
        SamplingOptions o;
        o.seed = 1;
        Sampler s = make(o);
        const float nan = std::numeric_limits<float>::quiet_NaN();
        const float inf = std::numeric_limits<float>::infinity();
        std::vector<float> with_nan{nan, 0.0f, nan};
        QCOMPARE(s.sample(with_nan), token_id(1));
        std::vector<float> all_neg{-inf, -inf};
        QCOMPARE(s.sample(all_neg), token_id(0));
        std::vector<float> pos_inf{0.0f, inf, 1.0f};
        QCOMPARE(s.sample(pos_inf), token_id(1));
        std::vector<float> masked{-inf, 0.0f, -inf, 0.0f};
        o.top_p = 0.99f;
        Sampler t = make(o);
        QCOMPARE(drawn(histogram(t, masked, 500)), (std::set<token_id>{1, 3}));
        QCOMPARE(s.sample(std::span<float>()), token_id(0));
    }

    void validation_data() {
        QTest::addColumn<QString>("field");
        QTest::addColumn<float>("value");
        QTest::addColumn<QString>("message");
        const float nan = std::numeric_limits<float>::quiet_NaN();
        QTest::newRow("temperature<0") << "temperature" << -0.1f << "temperature";
        QTest::newRow("temperature nan") << "temperature" << nan << "temperature";
        QTest::newRow("top_p 0") << "top_p" << 0.0f << "top_p";
        QTest::newRow("top_p >1") << "top_p" << 1.01f << "in (0, 1]";
        QTest::newRow("top_k<0") << "top_k" << -1.0f << "top_k";
        QTest::newRow("min_p<0") << "min_p" << -0.5f << "min_p";
        QTest::newRow("min_p>1") << "min_p" << 1.5f << "min_p";
        QTest::newRow("presence inf")
            << "presence" << std::numeric_limits<float>::infinity() << "presence_penalty";
        QTest::newRow("frequency nan") << "frequency" << nan << "frequency_penalty";
        QTest::newRow("decay 0") << "decay" << 0.0f << "penalty_decay";
        QTest::newRow("decay >1") << "decay" << 1.5f << "penalty_decay";
        QTest::newRow("repetition 0") << "repetition" << 0.0f << "repetition_penalty";
        QTest::newRow("max_tokens<0") << "max_tokens" << -1.0f << "max_tokens";
    }

    void validation() {
        QFETCH(QString, field);
        QFETCH(float, value);
        QFETCH(QString, message);
        SamplingOptions o;
        if (field == "temperature") o.temperature = value;
        if (field == "top_p") o.top_p = value;
        if (field == "top_k") o.top_k = int(value);
        if (field == "min_p") o.min_p = value;
        if (field == "presence") o.presence_penalty = value;
        if (field == "frequency") o.frequency_penalty = value;
        if (field == "decay") o.penalty_decay = value;
        if (field == "repetition") o.repetition_penalty = value;
        if (field == "max_tokens") o.max_tokens = int(value);
        const lectern::Result<void> r = lectern::validate(o);
        QVERIFY(!r);
        QVERIFY2(QString::fromStdString(r.error().message).contains(message),
                 r.error().message.c_str());
        QVERIFY(!Sampler::create(o));
    }

    void validation_stop_strings() {
        SamplingOptions o;
        QVERIFY(lectern::validate(o));
        o.stop_strings = {"\n\nUser:", ""};
        auto r = lectern::validate(o);
        QVERIFY(!r);
        QVERIFY(r.error().message.find("stop_strings[1]") != std::string::npos);
        o.stop_strings = {"ok", "\xE2\x82"};  // truncated euro sign
        r = lectern::validate(o);
        QVERIFY(!r);
        QVERIFY(r.error().message.find("UTF-8") != std::string::npos);
        o.stop_strings = {"\xE2\x82\xAC"};
        QVERIFY(lectern::validate(o));
    }
};

QTEST_GUILESS_MAIN(TestSampler)
#include "tst_sampler.moc"
