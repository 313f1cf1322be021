// End-to-end tests of generate() on the tiny committed RWKV-7 model (vocab 128): the loop feeds
// tokens as a hand-written greedy loop does, stops on stop tokens, stop strings, max_tokens and
// cancellation, leaves the state at prompt + generated tokens, and is reproducible by seed.
// The World tokenizer maps ids 1..128 to the single bytes 0x00..0x7F, so every id the tiny model
// can produce has one ASCII byte of text (id 0: none).
#include <QtTest>

#include <algorithm>

#include "lectern/generate.h"
#include "lectern/inference.h"

using lectern::FinishReason;
using lectern::GenerateResult;
using lectern::SamplingOptions;
using lectern::State;
using lectern::token_id;

namespace {

const std::vector<token_id> kPrompt{85, 116, 102, 115, 59, 33, 105, 106};  // "User: hi" as bytes

std::string text_of(const std::vector<token_id>& ids) {
    std::string s;
    for (token_id id : ids)
        if (id > 0) s.push_back(char(id - 1));
    return s;
}

}  // namespace

class TestGenerate : public QObject {
    Q_OBJECT

  private:
    std::shared_ptr<const lectern::Model> m_model;
    std::unique_ptr<lectern::Tokenizer> m_tok;
    std::vector<token_id> m_greedy;  // 24 greedy tokens after kPrompt, from a hand-written loop

    State fresh() const { return State(m_model, lectern::AttentionOptions{}); }

    GenerateResult run(State& state, const SamplingOptions& o,
                       std::vector<std::string>* pieces = nullptr, int cancel_after = -1) {
        int calls = 0;
        auto r = lectern::generate(state, *m_tok, kPrompt, o, [&](std::string_view piece) {
            if (pieces) pieces->emplace_back(piece);
            return ++calls != cancel_after;
        });
        if (!r) qFatal("generate: %s", r.error().message.c_str());
        return std::move(*r);
    }

    static SamplingOptions greedy(int max_tokens) {
        SamplingOptions o;
        o.temperature = 0.0f;
        o.max_tokens = max_tokens;
        return o;
    }

  private Q_SLOTS:
    void initTestCase() {
        // One thread: this test is about the generation loop, and a 64-wide model gains nothing
        // from a pool on a shared, busy machine.
        auto model = lectern::Model::load(LECTERN_TEST_DATA_DIR "/models/rwkv7-tiny-f32.pth",
                                          lectern::RuntimeOptions{.threads = 1});
        QVERIFY2(model, model ? "" : model.error().message.c_str());
        m_model = *model;
        QCOMPARE(m_model->config().vocab, 128);
        auto tok = lectern::load_world_tokenizer(LECTERN_VOCAB_PATH);
        QVERIFY2(tok, tok ? "" : tok.error().message.c_str());
        m_tok = std::move(*tok);

        State s = fresh();
        std::vector<float> logits;
        QVERIFY(lectern::forward(s, kPrompt, false, logits));
        for (int i = 0; i < 24; ++i) {
            const auto best =
                token_id(std::max_element(logits.begin(), logits.end()) - logits.begin());
            m_greedy.push_back(best);
            const token_id one[1] = {best};
            QVERIFY(lectern::forward(s, one, false, logits));
        }
    }

    void greedy_matches_hand_loop() {
        State s = fresh();
        std::vector<std::string> pieces;
        const GenerateResult r = run(s, greedy(24), &pieces);
        QCOMPARE(r.tokens, m_greedy);
        QCOMPARE(r.finish, FinishReason::max_tokens);
        QCOMPARE(QByteArray::fromStdString(r.text), QByteArray::fromStdString(text_of(m_greedy)));
        std::string joined;
        for (const auto& p : pieces) joined += p;
        QCOMPARE(joined, r.text);
        QCOMPARE(s.position(), std::int64_t(kPrompt.size() + 24));
    }

    // The state has consumed exactly prompt + generated tokens: its next logits equal those of a
    // fresh state fed the same tokens.
    void state_matches_tokens() {
        State s = fresh();
        const GenerateResult r = run(s, greedy(7));
        std::vector<float> after_generate, reference;
        const token_id probe[1] = {66};
        QVERIFY(lectern::forward(s, probe, false, after_generate));
        State t = fresh();
        std::vector<token_id> all = kPrompt;
        all.insert(all.end(), r.tokens.begin(), r.tokens.end());
        all.push_back(66);
        QVERIFY(lectern::forward(t, all, false, reference));
        QCOMPARE(after_generate.size(), reference.size());
        for (std::size_t i = 0; i < reference.size(); ++i)
            QVERIFY(std::abs(after_generate[i] - reference[i]) < 1e-4f);
    }

    void stop_token() {
        const std::size_t k = 5;
        const token_id stop = m_greedy[k];
        const auto first =
            std::size_t(std::find(m_greedy.begin(), m_greedy.end(), stop) - m_greedy.begin());
        SamplingOptions o = greedy(24);
        o.stop_tokens = {stop};
        State s = fresh();
        const GenerateResult r = run(s, o);
        QCOMPARE(r.finish, FinishReason::stop_token);
        QCOMPARE(r.tokens, std::vector<token_id>(m_greedy.begin(), m_greedy.begin() + first));
        QCOMPARE(r.text, text_of(r.tokens));
        QCOMPARE(s.position(), std::int64_t(kPrompt.size() + first));  // stop token not fed
    }

    void stop_string() {
        const std::string full = text_of(m_greedy);
        QVERIFY(full.size() >= 8);
        const std::string stop = full.substr(4, 3);
        const std::size_t at = full.find(stop);
        SamplingOptions o = greedy(24);
        o.stop_strings = {stop};
        State s = fresh();
        std::vector<std::string> pieces;
        const GenerateResult r = run(s, o, &pieces);
        QCOMPARE(r.finish, FinishReason::stop_string);
        QCOMPARE(QByteArray::fromStdString(r.text), QByteArray::fromStdString(full.substr(0, at)));
        for (const auto& p : pieces) QVERIFY(p.find(stop) == std::string::npos);
        // Generation ran up to the token that completed the stop string.
        QVERIFY(r.tokens.size() <= m_greedy.size());
        QCOMPARE(text_of(r.tokens).substr(0, at + stop.size()), full.substr(0, at + stop.size()));
        QCOMPARE(text_of(r.tokens).size(), at + stop.size());
    }

    void cancellation() {
        State s = fresh();
        std::vector<std::string> pieces;
        const GenerateResult r = run(s, greedy(24), &pieces, /*cancel_after=*/3);
        QCOMPARE(r.finish, FinishReason::cancelled);
        QCOMPARE(pieces.size(), std::size_t(3));
        std::string joined;
        for (const auto& p : pieces) joined += p;
        QCOMPARE(r.text, joined);
        QCOMPARE(s.position(), std::int64_t(kPrompt.size() + r.tokens.size()));
    }

    void max_tokens_zero() {
        State s = fresh();
        const GenerateResult r = run(s, greedy(0));
        QVERIFY(r.tokens.empty());
        QCOMPARE(r.finish, FinishReason::max_tokens);
        QCOMPARE(s.position(), std::int64_t(kPrompt.size()));
    }

    void seeded_sampling_reproducible() {
        SamplingOptions o;
        o.max_tokens = 30;
        o.seed = 5;
        o.top_p = 0.9f;
        o.presence_penalty = 0.2f;
        State a = fresh(), b = fresh(), c = fresh();
        const GenerateResult ra = run(a, o);
        const GenerateResult rb = run(b, o);
        o.seed = 6;
        const GenerateResult rc = run(c, o);
        QCOMPARE(ra.tokens, rb.tokens);
        QCOMPARE(ra.text, rb.text);
        QVERIFY(ra.tokens != rc.tokens);
    }

    void errors_leave_state_alone() {
        State s = fresh();
        const auto ignore = [](std::string_view) { return true; };
        auto empty = lectern::generate(s, *m_tok, {}, greedy(4), ignore);
        QVERIFY(!empty);
        SamplingOptions bad = greedy(4);
        bad.top_p = 0.0f;
        auto invalid = lectern::generate(s, *m_tok, kPrompt, bad, ignore);
        QVERIFY(!invalid);
        QVERIFY(invalid.error().message.find("top_p") != std::string::npos);
        const std::vector<token_id> out_of_vocab{5, 300};
        auto oov = lectern::generate(s, *m_tok, out_of_vocab, greedy(4), ignore);
        QVERIFY(!oov);
        QCOMPARE(s.position(), std::int64_t(0));
    }
};

QTEST_GUILESS_MAIN(TestGenerate)
#include "tst_generate.moc"
