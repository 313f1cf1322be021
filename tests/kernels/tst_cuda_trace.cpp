// Traced forward calls on the GPU (lectern::ForwardTrace: for every token, attention block and
// head, the chunks the sparse attention chose and each one's share of the softmax mass) against the
// CPU engine's traces of the same tokens, on the committed RWKV-X test model: a prefill and
// token-by-token decode, with dense KV mirrors and with the paged KV cache (a budget far below the
// mirrors), with float32 and f16 caches. Also: tracing changes no logits (traced = untraced GPU
// calls, bit for bit), and a failed traced call adds no rows. QSKIPs without a device.
//
// Agreement: the chunks are chosen on q·mean scores that differ between the backends by float32
// rounding, so a near-tied choice may flip (as in tst_cuda_forward); at least 97 % of the
// (token, block, head) entries must choose the same chunks in the same order, and where they do,
// every share must agree within 2e-4 (shares in [0, 1] from float32 sums over at most 3 x 16 rows,
// ~1e-6 apart in the kernel tests; 2e-4 leaves room for the logit-level 2e-3 differences of the
// f32 model's activations). Positions must be equal.
#include <QTest>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cuda_forward_util.h"
#include "gpu_test_util.h"
#include "lectern/inference.h"

namespace {

using namespace cuda_forward_test;

// `ids` fed traced: a prefill of `prefix` tokens, then one token per call; every row of logits.
std::vector<float> feed_traced(lectern::State& s, const std::vector<token_id>& ids,
                               std::size_t prefix, lectern::ForwardTrace& trace, QString* error) {
    std::vector<float> all, part;
    for (std::size_t at = 0; at < ids.size();) {
        const std::size_t n = at == 0 ? prefix : 1;
        auto ok = lectern::forward(s, std::span(ids.data() + at, n), true, part, &trace);
        if (!ok) {
            *error = QString::fromStdString(ok.error().message);
            return {};
        }
        all.insert(all.end(), part.begin(), part.end());
        at += n;
    }
    return all;
}

// Empty when the GPU trace agrees with the CPU's under the rule in the file comment.
QString traces_agree(const lectern::ForwardTrace& gpu, const lectern::ForwardTrace& cpu) {
    if (gpu.rows != cpu.rows || gpu.n_attn != cpu.n_attn || gpu.n_head != cpu.n_head ||
        gpu.width != cpu.width || gpu.chunk.size() != cpu.chunk.size() ||
        gpu.weight.size() != cpu.weight.size())
        return QStringLiteral("shapes differ: %1 vs %2 rows, width %3 vs %4")
            .arg(gpu.rows).arg(cpu.rows).arg(gpu.width).arg(cpu.width);
    if (gpu.position != cpu.position) return QStringLiteral("positions differ");
    const std::size_t W = std::size_t(cpu.width);
    std::size_t entries = 0, same = 0, used = 0;
    double worst = 0;
    for (std::size_t e = 0; e + W <= cpu.chunk.size(); e += W) {
        ++entries;
        bool equal = true;
        for (std::size_t i = 0; i < W; ++i) equal = equal && gpu.chunk[e + i] == cpu.chunk[e + i];
        if (!equal) continue;
        ++same;
        double sum = 0;
        for (std::size_t i = 0; i < W; ++i) {
            const float g = gpu.weight[e + i];
            if (!(g >= 0.0f && g <= 1.0f)) return QStringLiteral("share %1 outside [0, 1]").arg(g);
            if (gpu.chunk[e + i] < 0 && g != 0.0f)
                return QStringLiteral("share %1 for an unused slot").arg(g);
            used += gpu.chunk[e + i] >= 0;
            sum += g;
            worst = std::max(worst, std::fabs(double(g) - double(cpu.weight[e + i])));
        }
        if (sum > 1.0 + 1e-5) return QStringLiteral("shares of one head sum to %1").arg(sum);
    }
    qInfo("%zu of %zu entries chose the same chunks (%zu chunks used); worst share difference %.3g",
          same, entries, used, worst);
    if (used == 0) return QStringLiteral("no chunk was ever selected: the case tests nothing");
    if (same * 100 < entries * 97)
        return QStringLiteral("only %1 of %2 entries chose the same chunks").arg(same).arg(entries);
    if (worst > 2e-4) return QStringLiteral("a share differs by %1").arg(worst);
    return {};
}

}  // namespace

Q_DECLARE_METATYPE(lectern::KvDType)

class TestCudaTrace : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { LECTERN_REQUIRE_GPU_BACKEND(); }

    void traced_calls_data() {
        QTest::addColumn<int>("chunk");
        QTest::addColumn<int>("top_k");
        QTest::addColumn<bool>("paged");
        QTest::addColumn<lectern::KvDType>("kv_dtype");
        QTest::newRow("c16k3 dense") << 16 << 3 << false << lectern::KvDType::f32;
        QTest::newRow("c8k4 dense") << 8 << 4 << false << lectern::KvDType::f32;
        QTest::newRow("c16k3 paged") << 16 << 3 << true << lectern::KvDType::f32;
        // A document store's f16 cache: the prefill's segments end at chunk boundaries and each
        // completed chunk is sealed on the device (tst_cuda_kv_dtype); the trace spans them all.
        QTest::newRow("c16k3 dense f16") << 16 << 3 << false << lectern::KvDType::f16;
        QTest::newRow("c16k3 paged f16") << 16 << 3 << true << lectern::KvDType::f16;
    }
    void traced_calls() {
        QFETCH(int, chunk);
        QFETCH(int, top_k);
        QFETCH(bool, paged);
        QFETCH(lectern::KvDType, kv_dtype);
        const QString path = data_dir() + QStringLiteral("/golden/rwkvx-c128-1attn-f32.pth");
        auto cpu = load(path, lectern::Backend::cpu);
        QVERIFY(cpu);
        const lectern::ModelConfig& c = cpu->config();
        std::shared_ptr<const lectern::Model> gpu;
        if (paged) {  // as tst_cuda_forward's paged_kv_cache: a few slots beyond the minimum
            gpu = load_with_budget(path,
                                   small_paged_budget(weights_and_scratch(path), c, chunk, top_k));
        } else {
            gpu = load(path, lectern::Backend::cuda);
        }
        QVERIFY(gpu);
        lectern::AttentionOptions a;
        a.chunk_size = chunk;
        a.top_k = top_k;
        a.kv_dtype = kv_dtype;
        const auto ids = tokens(200, c.vocab, 900u + unsigned(chunk * top_k));
        const std::size_t prefix = 150;
        QString error;

        lectern::ForwardTrace want;
        {
            lectern::State s(cpu, a);
            QVERIFY2(!feed_traced(s, ids, prefix, want, &error).empty(), qPrintable(error));
        }
        lectern::ForwardTrace got;
        std::vector<float> traced;
        {
            lectern::State s(gpu, a);
            traced = feed_traced(s, ids, prefix, got, &error);
            QVERIFY2(!traced.empty(), qPrintable(error));
            // A failed traced call (a token outside the vocabulary) adds no rows.
            const std::vector<token_id> bad = {token_id(c.vocab)};
            std::vector<float> none;
            const int rows = got.rows;
            QVERIFY(!lectern::forward(s, bad, true, none, &got));
            QCOMPARE(got.rows, rows);
        }
        const QString why = traces_agree(got, want);
        QVERIFY2(why.isEmpty(), qPrintable(why));

        // Tracing changes nothing else: the same calls untraced give the same bits.
        lectern::State s(gpu, a);
        std::vector<float> plain, part;
        for (std::size_t at = 0; at < ids.size();) {
            const std::size_t n = at == 0 ? prefix : 1;
            QVERIFY(lectern::forward(s, std::span(ids.data() + at, n), true, part));
            plain.insert(plain.end(), part.begin(), part.end());
            at += n;
        }
        QCOMPARE(plain.size(), traced.size());
        QVERIFY2(std::memcmp(plain.data(), traced.data(), plain.size() * sizeof(float)) == 0,
                 "traced and untraced GPU logits differ");
    }
};

QTEST_GUILESS_MAIN(TestCudaTrace)
#include "tst_cuda_trace.moc"
