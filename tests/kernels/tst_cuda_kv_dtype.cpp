// The GPU with a rounded KV cache (f16, the document store's default, and int8): the same logits
// as the CPU engine, which reads every complete chunk in the cache's precision and a query's own
// chunk in float32 (attention/kv_cache_impl.h), whatever the calls' cuts. Checked GPU vs CPU: one
// prefill (chunks complete inside the call, so later queries of the same call select rounded
// chunks), token-by-token decode (and the same decode from CUDA graphs, bit for bit), prefills
// cut at random positions, a state that went through serialize/deserialize (its rows come back
// from the host, as a reopened document store's do) continuing, and the paged KV cache under a
// small budget. QSKIPs without a device (tests/emu runs it on the emulated backend as
// tst_cuda_kv_dtype_emu).
//
// Model rwkvx-c128-1attn-f32 (f32 matrices: GPU and CPU differ only by summation order), chunk 16,
// top-k 3, 300 tokens: 18 chunks complete. Rule near_ties (at most 3 % of the rows over the
// tolerance, none over 10x) on the scaled row difference; on the emulator (median / worst row):
// float32 cache 6.5e-7 / 1.5e-6 (the tolerance 1e-5, for scale); f16 1e-5: 1.4e-6 / 2.3e-5 (rows
// that differ in the last bits sometimes round to neighbouring halves); int8 3e-4: 6.5e-7 /
// 2.5e-4, 13 rows over 1e-4 (a quantisation step flips now and then, and the recurrence carries
// it to later rows). Before the GPU rounded sealed chunks
// (reading them in float32, its means from unrounded rows) it was f16 3e-5 / 8.4e-5 and int8
// 1.1e-3 / 0.081: both fail.
#include <QTest>

#include <random>
#include <vector>

#include "cuda_forward_util.h"
#include "gpu_test_util.h"
#include "lectern/inference.h"

namespace {

using lectern::token_id;
using namespace cuda_forward_test;

QString model_path() { return data_dir() + QStringLiteral("/golden/rwkvx-c128-1attn-f32.pth"); }

lectern::AttentionOptions options(lectern::KvDType dtype) { return small_chunks(dtype); }

}  // namespace

Q_DECLARE_METATYPE(lectern::KvDType)

class TestCudaKvDtype : public QObject {
    Q_OBJECT

    std::shared_ptr<const lectern::Model> m_cpu, m_gpu;

private slots:
    void initTestCase() {
        LECTERN_REQUIRE_GPU_BACKEND();
        m_cpu = load(model_path(), lectern::Backend::cpu);
        m_gpu = load(model_path(), lectern::Backend::cuda);
        QVERIFY(m_cpu && m_gpu);
    }

    void gpu_reads_chunks_as_the_cpu_data() {
        QTest::addColumn<lectern::KvDType>("dtype");
        QTest::addColumn<double>("tol");
        QTest::newRow("f16") << lectern::KvDType::f16 << 1e-5;
        QTest::newRow("int8") << lectern::KvDType::int8 << 3e-4;
        QTest::newRow("f32") << lectern::KvDType::f32 << 1e-5;  // the float32 cache, for scale
    }
    void gpu_reads_chunks_as_the_cpu() {
        QFETCH(lectern::KvDType, dtype);
        QFETCH(double, tol);
        const lectern::AttentionOptions a = options(dtype);
        const int V = m_cpu->config().vocab;
        const auto ids = tokens(300, V, 515u);
        QString error;
        lectern::State sc(m_cpu, a);
        const auto want = feed(sc, ids, {}, &error);
        QVERIFY2(!want.empty(), qPrintable(error));

        // 1. One prefill call.
        lectern::State sg(m_gpu, a);
        const auto got = feed(sg, ids, {}, &error);
        QVERIFY2(!got.empty(), qPrintable(error));
        QString why = agree(got, want, V, tol, Rule::near_ties);
        QVERIFY2(why.isEmpty(), qPrintable(QStringLiteral("GPU vs CPU prefill: ") + why));

        // 2. Token by token.
        lectern::State sd(m_gpu, a);
        const auto decoded = feed(sd, ids, every_position(ids.size()), &error);
        QVERIFY2(!decoded.empty(), qPrintable(error));
        why = agree(decoded, want, V, tol, Rule::near_ties);
        QVERIFY2(why.isEmpty(), qPrintable(QStringLiteral("GPU decode vs CPU: ") + why));

        // 2b. The same decode replayed from CUDA graphs (RWKV blocks graphed, attention blocks
        // launched; the sealing between tokens writes into the buffers the graphs read): the
        // same bits as the plain launches.
        {
            lectern::RuntimeOptions rt;
            rt.backend = lectern::Backend::cuda;
            rt.cuda_graphs = true;
            auto graphed = lectern::Model::load(model_path().toStdString(), rt);
            QVERIFY2(graphed, graphed ? "" : graphed.error().message.c_str());
            lectern::State sgr(*graphed, a);
            const auto replayed = feed(sgr, ids, every_position(ids.size()), &error);
            QVERIFY2(!replayed.empty(), qPrintable(error));
            QVERIFY(replayed == decoded);
        }

        // 3. Calls cut anywhere, inside chunks and on their boundaries.
        std::mt19937 rng(99u);
        for (int trial = 0; trial < 3; ++trial) {
            std::vector<std::size_t> cuts;
            for (std::size_t at = 1 + rng() % 40; at < ids.size(); at += 1 + rng() % 50)
                cuts.push_back(at);
            lectern::State ss(m_gpu, a);
            const auto split = feed(ss, ids, cuts, &error);
            QVERIFY2(!split.empty(), qPrintable(error));
            why = agree(split, want, V, tol, Rule::near_ties);
            QVERIFY2(why.isEmpty(),
                     qPrintable(QStringLiteral("GPU split (trial %1) vs CPU: ").arg(trial) + why));
        }
    }

    // A state saved and loaded again (its KV rows come back from the host in the cache's
    // precision) continues as the CPU does.
    void reloaded_state_continues_data() { gpu_reads_chunks_as_the_cpu_data(); }
    void reloaded_state_continues() {
        QFETCH(lectern::KvDType, dtype);
        QFETCH(double, tol);
        const lectern::AttentionOptions a = options(dtype);
        const int V = m_cpu->config().vocab;
        const auto ids = tokens(260, V, 616u);
        const std::vector<token_id> head(ids.begin(), ids.begin() + 150);
        const std::vector<token_id> rest(ids.begin() + 150, ids.end());
        QString error;
        lectern::State sc(m_cpu, a);
        const auto all = feed(sc, ids, {150}, &error);
        QVERIFY2(!all.empty(), qPrintable(error));
        const std::vector<float> want(all.begin() + std::ptrdiff_t(150) * V, all.end());

        lectern::State sg(m_gpu, a);
        QVERIFY2(!feed(sg, head, {}, &error).empty(), qPrintable(error));
        auto bytes = sg.serialize();
        QVERIFY2(bytes, bytes ? "" : bytes.error().message.c_str());
        auto loaded = lectern::State::deserialize(m_gpu, *bytes);
        QVERIFY2(loaded, loaded ? "" : loaded.error().message.c_str());
        const auto got = feed(*loaded, rest, every_position(40), &error);
        QVERIFY2(!got.empty(), qPrintable(error));
        const QString why = agree(got, want, V, tol, Rule::near_ties);
        QVERIFY2(why.isEmpty(), qPrintable(QStringLiteral("reloaded GPU state vs CPU: ") + why));
    }

    // The paged KV cache: chunks completed inside a call are read rounded from their slots too.
    void paged_data() { gpu_reads_chunks_as_the_cpu_data(); }
    void paged() {
        QFETCH(lectern::KvDType, dtype);
        QFETCH(double, tol);
        const lectern::AttentionOptions a = options(dtype);
        const lectern::ModelConfig& c = m_cpu->config();
        const int V = c.vocab;
        // Room for a few slots beyond one query's need (as tst_cuda_forward's paged_kv_cache).
        auto gpu = load_with_budget(
            model_path(),
            small_paged_budget(weights_and_scratch(model_path()), c, a.chunk_size, a.top_k));
        QVERIFY(gpu);
        const auto ids = tokens(300, V, 717u);
        QString error;
        lectern::State sc(m_cpu, a);
        const auto want = feed(sc, ids, {}, &error);
        QVERIFY2(!want.empty(), qPrintable(error));
        lectern::State sp(gpu, a);
        const auto got = feed(sp, ids, {100, 101, 170}, &error);
        QVERIFY2(!got.empty(), qPrintable(error));
        QVERIFY2(lectern::device_memory_note(sp).starts_with("paged KV cache"),
                 lectern::device_memory_note(sp).c_str());
        const QString why = agree(got, want, V, tol, Rule::near_ties);
        QVERIFY2(why.isEmpty(), qPrintable(QStringLiteral("paged GPU vs CPU: ") + why));
    }
};

QTEST_GUILESS_MAIN(TestCudaKvDtype)
#include "tst_cuda_kv_dtype.moc"
