// Whole-model properties of State + forward on the committed tiny models: splitting a token list
// into calls changes nothing (pure RWKV-7, and native attention with tiny chunks), native equals
// compat while the context fits in top_k chunks, forks are independent, serialized states resume
// bit-identically and corrupted images fail with specific errors, and bad input leaves the state
// untouched.
#include <QTest>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "infer_test_util.h"

using lectern::AttentionMode;
using lectern::AttentionOptions;
using lectern::State;
using lectern::token_id;

namespace {

AttentionOptions native(int chunk, int top_k) {
    AttentionOptions o;
    o.mode = AttentionMode::native;
    o.chunk_size = chunk;
    o.top_k = top_k;
    return o;
}

}  // namespace

class TestSplitInvariance : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void splitsChangeNothing_data();
    void splitsChangeNothing();
    void nativeEqualsCompatWhenContextFits();
    void forkIsIndependent_data();
    void forkIsIndependent();
    void serializeRoundTrip_data();
    void serializeRoundTrip();
    void corruptedImages();
    void badInputLeavesStateUnchanged_data();
    void badInputLeavesStateUnchanged();
    void loadErrors();
    void stateAccessors();
};

void TestSplitInvariance::splitsChangeNothing_data() {
    QTest::addColumn<QString>("model");
    QTest::addColumn<int>("chunk");
    QTest::addColumn<int>("topk");
    QTest::addColumn<int>("length");
    QTest::newRow("rwkv7 f32") << "rwkv7-tiny-f32.pth" << 2048 << 3 << 150;
    QTest::newRow("rwkv7 bf16") << "rwkv7-tiny-bf16.pth" << 2048 << 3 << 150;
    QTest::newRow("rwkv7 f32 long (cut internally)") << "rwkv7-tiny-f32.pth" << 2048 << 3 << 1100;
    QTest::newRow("rwkvx native chunk 8 top 2") << "rwkvx-tiny-f32.pth" << 8 << 2 << 150;
    QTest::newRow("rwkvx native chunk 16 top 3") << "rwkvx-tiny-f32.pth" << 16 << 3 << 150;
    QTest::newRow("rwkvx f16 native chunk 8 top 3") << "rwkvx-tiny-f16.safetensors" << 8 << 3 << 120;
    QTest::newRow("rwkvx one attn native chunk 8 top 3") << "rwkvx-one-attn-f32.pth" << 8 << 3 << 150;
    // The golden checkpoints have two heads and C = 128.
    QTest::newRow("golden rwkvx bf16 native chunk 8 top 2") << "../golden/rwkvx-c128-bf16.pth" << 8 << 2 << 150;
    QTest::newRow("golden rwkvx 1 attn native chunk 16 top 3") << "../golden/rwkvx-c128-1attn-f32.pth" << 16 << 3 << 150;
}

void TestSplitInvariance::splitsChangeNothing() {
    QFETCH(QString, model);
    QFETCH(int, chunk);
    QFETCH(int, topk);
    QFETCH(int, length);
    auto m = infer_test::load(infer_test::model_path(model.toUtf8().constData()));
    QVERIFY(m);
    const auto tokens = infer_test::random_tokens(length, m->config().vocab, 42u);
    const AttentionOptions opts = native(chunk, topk);

    State whole(m, opts);
    std::string err;
    const auto ref = infer_test::feed(whole, tokens, {}, &err);
    QVERIFY2(!ref.empty(), err.c_str());
    QVERIFY(std::all_of(ref.begin(), ref.end(), [](float x) { return std::isfinite(x); }));
    QCOMPARE(whole.position(), std::int64_t(length));

    State one_by_one(m, opts);
    const auto stepped = infer_test::feed(one_by_one, tokens, infer_test::every_position(tokens.size()), &err);
    QVERIFY2(!stepped.empty(), err.c_str());
    double worst = infer_test::scaled_diff(stepped, ref);
    QVERIFY2(worst <= 1e-5, qPrintable(QStringLiteral("token by token: %1").arg(worst)));

    std::mt19937 rng(7u);
    for (int trial = 0; trial < 20; ++trial) {
        State split(m, opts);
        const auto cuts = infer_test::random_cuts(tokens.size(), 1 + trial % 7, rng);
        const auto got = infer_test::feed(split, tokens, cuts, &err);
        QVERIFY2(!got.empty(), err.c_str());
        const double d = infer_test::scaled_diff(got, ref);
        worst = std::max(worst, d);
        QVERIFY2(d <= 1e-5, qPrintable(QStringLiteral("split trial %1: %2").arg(trial).arg(d)));
    }
    qInfo("largest difference to one call, relative to the logit scale: %.3g", worst);
}

void TestSplitInvariance::nativeEqualsCompatWhenContextFits() {
    auto m = infer_test::load(infer_test::model_path("rwkvx-tiny-f32.pth"));
    QVERIFY(m);
    // chunk 16, top-k 3: native attends to everything while T <= 48 and so does compat (T + CT
    // <= W = 48) with cache management off.
    const auto tokens = infer_test::random_tokens(48, m->config().vocab, 5u);
    AttentionOptions compat = native(16, 3);
    compat.mode = AttentionMode::compat;
    std::string err;
    State n1(m, native(16, 3)), c1(m, compat), c2(m, compat);
    const auto ref = infer_test::feed(n1, tokens, {}, &err);
    QVERIFY2(!ref.empty(), err.c_str());
    const auto prefill = infer_test::feed(c1, tokens, {20, 37}, &err);
    QVERIFY2(!prefill.empty(), err.c_str());
    const auto stepped = infer_test::feed(c2, tokens, infer_test::every_position(tokens.size()), &err);
    QVERIFY2(!stepped.empty(), err.c_str());
    QVERIFY2(infer_test::scaled_diff(prefill, ref) <= 1e-5, "compat prefill differs");
    QVERIFY2(infer_test::scaled_diff(stepped, ref) <= 1e-5, "compat decode differs");
}

void TestSplitInvariance::forkIsIndependent_data() {
    QTest::addColumn<QString>("model");
    QTest::newRow("rwkv7") << "rwkv7-tiny-f32.pth";
    QTest::newRow("rwkvx native") << "rwkvx-tiny-f32.pth";
}

void TestSplitInvariance::forkIsIndependent() {
    QFETCH(QString, model);
    auto m = infer_test::load(infer_test::model_path(model.toUtf8().constData()));
    QVERIFY(m);
    const int V = m->config().vocab;
    const auto prompt = infer_test::random_tokens(40, V, 1u);
    const auto x = infer_test::random_tokens(12, V, 2u);
    const auto y = infer_test::random_tokens(9, V, 3u);
    std::string err;
    State s(m, native(8, 2));
    QVERIFY2(!infer_test::feed(s, prompt, {17}, &err).empty(), err.c_str());
    State f = s.fork();
    QCOMPARE(f.position(), s.position());
    // Feeding the fork y first must not change what the original computes for x.
    QVERIFY2(!infer_test::feed(f, y, {}, &err).empty(), err.c_str());
    const auto from_original = infer_test::feed(s, x, {5}, &err);
    QVERIFY2(!from_original.empty(), err.c_str());
    // A second fork of the original, taken before x, continued with x: the same logits.
    State g(m, native(8, 2));
    QVERIFY(!infer_test::feed(g, prompt, {17}).empty());
    State g2 = g.fork();
    const auto from_fork = infer_test::feed(g2, x, {5}, &err);
    QVERIFY2(!from_fork.empty(), err.c_str());
    QCOMPARE(from_fork, from_original);
    QCOMPARE(f.position(), std::int64_t(prompt.size() + y.size()));
    QCOMPARE(s.position(), std::int64_t(prompt.size() + x.size()));
}

void TestSplitInvariance::serializeRoundTrip_data() {
    QTest::addColumn<QString>("model");
    QTest::newRow("rwkv7") << "rwkv7-tiny-f32.pth";
    QTest::newRow("rwkvx native") << "rwkvx-tiny-f32.pth";
}

void TestSplitInvariance::serializeRoundTrip() {
    QFETCH(QString, model);
    auto m = infer_test::load(infer_test::model_path(model.toUtf8().constData()));
    QVERIFY(m);
    const int V = m->config().vocab;
    const auto prompt = infer_test::random_tokens(45, V, 11u);
    const auto more = infer_test::random_tokens(10, V, 12u);
    std::string err;
    State s(m, native(8, 3));
    QVERIFY2(!infer_test::feed(s, prompt, {30}, &err).empty(), err.c_str());
    const auto image = s.serialize().value();
    auto restored = State::deserialize(m, image);
    QVERIFY2(restored, restored ? "" : restored.error().message.c_str());
    QCOMPARE(restored->position(), s.position());
    QCOMPARE(restored->attention().chunk_size, 8);
    QCOMPARE(restored->attention().top_k, 3);
    QVERIFY(restored->serialize().value() == image);
    const auto a = infer_test::feed(s, more, {4}, &err);
    const auto b = infer_test::feed(*restored, more, {4}, &err);
    QVERIFY2(!a.empty() && !b.empty(), err.c_str());
    QVERIFY(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

void TestSplitInvariance::corruptedImages() {
    auto small = infer_test::load(infer_test::model_path("rwkv7-tiny-f32.pth"));
    auto big = infer_test::load(infer_test::model_path("rwkvx-tiny-f32.pth"));
    QVERIFY(small && big);
    State s(small, AttentionOptions{});
    QVERIFY(!infer_test::feed(s, infer_test::random_tokens(20, 128, 4u), {}).empty());
    const auto image = s.serialize().value();

    auto expect_error = [](std::shared_ptr<const lectern::Model> m, std::vector<std::byte> bytes,
                           const std::string& fragment) {
        auto r = State::deserialize(std::move(m), bytes);
        if (r) return std::string("accepted");
        const std::string& msg = r.error().message;
        if (msg.find(fragment) == std::string::npos) return msg;
        if (msg.find('\n') != std::string::npos) return "multi-line: " + msg;
        return std::string();
    };
    auto flipped = image;
    flipped[image.size() / 2] ^= std::byte{0x20};
    QCOMPARE(expect_error(small, flipped, "state: checksum mismatch"), std::string());
    auto tail = image;
    tail.back() ^= std::byte{1};
    QCOMPARE(expect_error(small, tail, "state: checksum mismatch"), std::string());
    const std::vector<std::byte> cut(image.begin(), image.begin() + long(image.size() - 100));
    QCOMPARE(expect_error(small, cut, "state: truncated"), std::string());
    const std::vector<std::byte> stub(image.begin(), image.begin() + 10);
    QCOMPARE(expect_error(small, stub, "state: truncated"), std::string());
    QCOMPARE(expect_error(small, {}, "state: not a Lectern state image"), std::string());
    auto magic = image;
    magic[0] = std::byte{'X'};
    QCOMPARE(expect_error(small, magic, "state: not a Lectern state image"), std::string());
    auto version = image;
    const std::uint32_t seven = 7;
    std::memcpy(version.data() + 8, &seven, 4);
    QCOMPARE(expect_error(small, version, "state: format version 7 is newer than this Lectern (1)"),
             std::string());
    QCOMPARE(expect_error(big, image, "state: made for a model with 2 RWKV blocks, this model has 4"),
             std::string());
    auto longer = image;
    longer.push_back(std::byte{0});
    QCOMPARE(expect_error(small, longer, "unexpected bytes"), std::string());
}

void TestSplitInvariance::badInputLeavesStateUnchanged_data() {
    QTest::addColumn<QString>("model");
    QTest::newRow("rwkv7") << "rwkv7-tiny-f32.pth";
    QTest::newRow("rwkvx native") << "rwkvx-tiny-f32.pth";
}

void TestSplitInvariance::badInputLeavesStateUnchanged() {
    QFETCH(QString, model);
    auto m = infer_test::load(infer_test::model_path(model.toUtf8().constData()));
    QVERIFY(m);
    const int V = m->config().vocab;
    std::string err;
    State s(m, native(8, 2));
    QVERIFY2(!infer_test::feed(s, infer_test::random_tokens(25, V, 8u), {}, &err).empty(),
             err.c_str());
    State untouched = s.fork();
    const auto before = s.serialize().value();

    std::vector<float> logits;
    auto r = lectern::forward(s, std::span<const token_id>(), true, logits);
    QVERIFY(!r);
    QCOMPARE(r.error().message, std::string("forward: no tokens to feed"));
    const std::vector<token_id> bad{1, 2, 70000, 3};
    r = lectern::forward(s, bad, false, logits);
    QVERIFY(!r);
    QCOMPARE(r.error().message, "token id 70000 at position 2 is outside the model's vocabulary (" +
                                    std::to_string(V) + ")");
    const std::vector<token_id> edge{token_id(V)};
    QVERIFY(!lectern::forward(s, edge, false, logits));
    QCOMPARE(s.position(), untouched.position());
    QVERIFY(s.serialize().value() == before);

    const auto good = infer_test::random_tokens(6, V, 9u);
    const auto a = infer_test::feed(s, good, {}, &err);
    const auto b = infer_test::feed(untouched, good, {}, &err);
    QVERIFY2(!a.empty(), err.c_str());
    QCOMPARE(a, b);

    if (m->config().n_attn > 0) {
        State bad_opts(m, native(0, 2));
        r = lectern::forward(bad_opts, good, false, logits);
        QVERIFY(!r);
        QVERIFY2(r.error().message.find("chunk size") != std::string::npos,
                 r.error().message.c_str());
        QCOMPARE(bad_opts.position(), std::int64_t(0));
    }
}

void TestSplitInvariance::loadErrors() {
    auto missing = lectern::Model::load("/nonexistent/model.pth");
    QVERIFY(!missing);
    QVERIFY(!missing.error().message.empty());
    for (const char* f : {"truncated.pth", "wrong-shape.pth", "missing-tensor.pth", "not-a-model.txt"}) {
        auto r = lectern::Model::load(std::string(LECTERN_TEST_DATA_DIR "/broken/") + f);
        QVERIFY2(!r, f);
        QVERIFY2(r.error().message.find('\n') == std::string::npos, r.error().message.c_str());
    }
}

void TestSplitInvariance::stateAccessors() {
    auto m = infer_test::load(infer_test::model_path("rwkvx-tiny-f32.pth"));
    QVERIFY(m);
    const auto& c = m->config();
    State s(m, native(8, 2));
    QCOMPARE(s.wkv_state(0).size(), std::size_t(c.n_head * c.head_size * c.head_size));
    QCOMPARE(s.att_shift(c.n_rwkv - 1).size(), std::size_t(c.n_embd));
    QCOMPARE(s.ffn_shift(1).size(), std::size_t(c.n_embd));
    QCOMPARE(s.attn_ffn_shift(c.n_attn - 1).size(), std::size_t(c.n_embd));
    QVERIFY(s.wkv_state(c.n_rwkv).empty());
    QVERIFY(s.attn_ffn_shift(-1).empty());
    QVERIFY(std::all_of(s.wkv_state(0).begin(), s.wkv_state(0).end(), [](float v) { return v == 0; }));
}

QTEST_GUILESS_MAIN(TestSplitInvariance)
#include "tst_split_invariance.moc"
