// The whole model on the GPU against the CPU engine on shapes the committed test models and the
// released models do not have: head sizes 16, 32 and 128 (RWKV-7; RWKV-X's attention requires
// 64), widths that are not a multiple of 128, an FFN width that is not a multiple of 4 or of the
// GEMV's 16-byte words, odd vocabularies, LoRA ranks from 16 to 64, attention blocks first, last
// or in pairs, top-k from 1 to 4. Random weights (Model::random), so every shape is built in
// memory. For each: one prefill and token-by-token decode on the GPU against one CPU prefill.
// QSKIPs without a device (tests/emu runs it on the emulated backend as tst_cuda_shapes_emu).
//
// Tolerances (scaled difference as in tst_cuda_forward: max |gpu - cpu| / max(1, max |cpu|) per
// row): f32 matrices 2e-3; bf16 3e-2 and f16 1e-2 for the prefill (it rounds GEMM inputs to the
// weights' type; decode's GEMV does not, so decode keeps 2e-3). Attention shapes: at most 3 % of
// the rows over, none over 10x (near-tied chunk choices may flip, as in tst_cuda_forward).
#include <QTest>

#include <algorithm>
#include <cmath>
#include <vector>

#include "cuda_forward_util.h"
#include "gpu_test_util.h"
#include "lectern/inference.h"

namespace {

using lectern::token_id;
using namespace cuda_forward_test;

lectern::ModelConfig shape(int n_rwkv, int n_attn, int C, int N, int V, int F, int lora,
                           const char* order) {
    lectern::ModelConfig c;
    c.arch = n_attn > 0 ? lectern::Arch::rwkv_x : lectern::Arch::rwkv7;
    c.key_prefix = n_attn > 0 ? "rwkv." : "";
    c.n_rwkv = n_rwkv;
    c.n_attn = n_attn;
    c.n_embd = C;
    c.head_size = N;
    c.n_head = C / N;
    c.vocab = V;
    c.ffn_dim = F;
    c.lora_decay = c.lora_iclr = c.lora_value = c.lora_gate = lora;
    c.block_order = order;
    return c;
}

std::shared_ptr<const lectern::Model> random_model(const lectern::ModelConfig& c,
                                                   lectern::DType dtype,
                                                   lectern::Backend backend) {
    lectern::RuntimeOptions rt;
    rt.threads = 2;
    rt.backend = backend;
    auto m = lectern::Model::random(c, dtype, 11, rt);
    if (!m) qWarning("Model::random: %s", m.error().message.c_str());
    return m ? *m : nullptr;
}

}  // namespace

Q_DECLARE_METATYPE(lectern::ModelConfig)

class TestCudaShapes : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { LECTERN_REQUIRE_GPU_BACKEND(); }

    void shapes_data() {
        QTest::addColumn<lectern::ModelConfig>("config");
        QTest::addColumn<int>("dtype");  // lectern::DType
        QTest::addColumn<int>("chunk");  // 0: pure RWKV-7
        QTest::addColumn<int>("top_k");
        QTest::addColumn<int>("count");  // tokens; 0: 120 with attention, 80 without
        using D = lectern::DType;
        const auto row = [](const char* name, lectern::ModelConfig c, D d, int chunk, int k,
                            int count = 0) {
            QTest::newRow(name) << c << int(d) << chunk << k << count;
        };
        row("N64 C128 V300", shape(2, 0, 128, 64, 300, 512, 32, "RR"), D::f32, 0, 0);
        row("N32 C96 V257", shape(2, 0, 96, 32, 257, 384, 32, "RR"), D::f32, 0, 0);
        row("N128 C256 V200", shape(2, 0, 256, 128, 200, 1024, 32, "RR"), D::f32, 0, 0);
        row("N16 C80 lora16", shape(2, 0, 80, 16, 128, 320, 16, "RR"), D::f32, 0, 0);
        row("N64 C192 F500", shape(2, 0, 192, 64, 511, 500, 32, "RR"), D::f32, 0, 0);
        row("N64 C192 bf16 lora64", shape(3, 0, 192, 64, 511, 768, 64, "RRR"), D::bf16, 0, 0);
        row("N64 C192 f16 F500", shape(3, 0, 192, 64, 511, 500, 64, "RRR"), D::f16, 0, 0);
        row("x RRARRA c16k2", shape(4, 2, 192, 64, 300, 768, 32, "RRARRA"), D::f32, 16, 2);
        row("x ARR c8k4", shape(2, 1, 128, 64, 300, 512, 32, "ARR"), D::f32, 8, 4);
        row("x RA c32k1", shape(1, 1, 128, 64, 300, 512, 32, "RA"), D::f32, 32, 1);
        row("x RAA bf16 c16k3", shape(1, 2, 128, 64, 300, 512, 32, "RAA"), D::bf16, 16, 3);
        // The tensor-core prefill of sparse attention: 64 | chunk and T * H > 1024 (4 heads).
        row("x RA c64k3 tensor cores", shape(1, 1, 256, 64, 300, 512, 32, "RA"), D::f32, 64, 3,
            400);
    }
    void shapes() {
        QFETCH(lectern::ModelConfig, config);
        QFETCH(int, dtype);
        QFETCH(int, chunk);
        QFETCH(int, top_k);
        QFETCH(int, count);
        const auto d = lectern::DType(dtype);
        auto cpu = random_model(config, d, lectern::Backend::cpu);
        auto gpu = random_model(config, d, lectern::Backend::cuda);
        QVERIFY(cpu && gpu);
        lectern::AttentionOptions a;
        if (chunk > 0) {
            a.chunk_size = chunk;
            a.top_k = top_k;
        }
        const bool attention = config.n_attn > 0;
        const int V = config.vocab;
        const double prefill_tol = d == lectern::DType::bf16  ? 3e-2
                                   : d == lectern::DType::f16 ? 1e-2
                                                              : 2e-3;
        const auto ids = tokens(count > 0   ? count
                                : attention ? 120
                                            : 80,
                                V, 5u + unsigned(config.n_embd));
        QString error;
        lectern::State sc(cpu, a), sg(gpu, a), sd(gpu, a);
        const auto want = feed(sc, ids, {}, &error);
        QVERIFY2(!want.empty(), qPrintable(error));
        const auto got = feed(sg, ids, {}, &error);
        QVERIFY2(!got.empty(), qPrintable(error));
        const Rule rule = attention ? Rule::near_ties : Rule::exact_tolerance;
        QString why = agree(got, want, V, prefill_tol, rule);
        QVERIFY2(why.isEmpty(), qPrintable(QStringLiteral("GPU prefill vs CPU: ") + why));
        const auto every = every_position(ids.size());
        const auto decoded = feed(sd, ids, every, &error);
        QVERIFY2(!decoded.empty(), qPrintable(error));
        why = agree(decoded, want, V, 2e-3, rule);
        QVERIFY2(why.isEmpty(), qPrintable(QStringLiteral("GPU decode vs CPU: ") + why));
    }
};

QTEST_GUILESS_MAIN(TestCudaShapes)
#include "tst_cuda_shapes.moc"
