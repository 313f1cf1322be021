// Backend selection without a GPU backend registered (lectern/backend.h) and the random-weight
// models of the benchmark shapes (Model::random, model_shape) on the CPU: what runs everywhere.
// The GPU side is tests/kernels/tst_cuda_forward.cpp.
#include <QTest>

#include <cmath>
#include <vector>

#include "lectern/backend.h"
#include "lectern/inference.h"

class TestBackend : public QObject {
    Q_OBJECT

private slots:
    // This test never calls register_cuda_backend(): the engine alone is CPU-only.
    void resolve_without_cuda() {
        auto cpu = lectern::resolve_backend("cpu");
        QVERIFY(cpu);
        QCOMPARE(cpu->backend, lectern::Backend::cpu);
        QVERIFY(cpu->note.empty());
        auto automatic = lectern::resolve_backend("auto");
        QVERIFY(automatic);
        QCOMPARE(automatic->backend, lectern::Backend::cpu);
        QVERIFY(automatic->note.find("without CUDA") != std::string::npos);
        auto cuda = lectern::resolve_backend("cuda");
        QVERIFY(!cuda);
        QVERIFY(cuda.error().message.find("no CUDA backend") != std::string::npos);
        QVERIFY(!lectern::resolve_backend("gpu"));
        QCOMPARE(std::string(lectern::backend_name(lectern::Backend::cuda)), std::string("cuda"));
    }

    void load_on_cuda_without_backend_fails() {
        lectern::RuntimeOptions rt;
        rt.backend = lectern::Backend::cuda;
        auto m = lectern::Model::load(LECTERN_TEST_DATA_DIR "/golden/rwkv7-c64-f32.pth", rt);
        QVERIFY(!m);
        QVERIFY2(m.error().message.find("not available") != std::string::npos,
                 m.error().message.c_str());
    }

    // The released shapes (spec §1.2): LoRA ranks from the RWKV-7 init formula, the RWKV-X layout.
    void shapes() {
        auto x = lectern::model_shape("rwkvx-3.6b");
        QVERIFY(x);
        QCOMPARE(x->n_embd, 2560);
        QCOMPARE(x->n_rwkv, 32);
        QCOMPARE(x->n_attn, 8);
        QCOMPARE(x->lora_decay, 96);
        QCOMPARE(x->lora_iclr, 96);
        QCOMPARE(x->lora_value, 64);
        QCOMPARE(x->lora_gate, 320);
        QCOMPARE(x->ffn_dim, 4 * 2560);
        QCOMPARE(QString::fromStdString(x->block_order),
                 QStringLiteral("RRRRA").repeated(8));
        auto small = lectern::model_shape("rwkv7-0.4b");
        QVERIFY(small);
        QCOMPARE(small->n_rwkv, 24);
        QCOMPARE(small->n_embd, 1024);
        QCOMPARE(small->n_attn, 0);
        QVERIFY(!lectern::model_shape("rwkv7-7b"));
    }

    // A small random RWKV-X model runs and gives finite logits; the same seed, the same logits.
    void random_model_runs() {
        lectern::ModelConfig c;
        c.arch = lectern::Arch::rwkv_x;
        c.n_rwkv = 2;
        c.n_attn = 1;
        c.n_embd = 128;
        c.n_head = 2;
        c.head_size = 64;
        c.vocab = 256;
        c.ffn_dim = 512;
        c.lora_decay = c.lora_iclr = c.lora_value = c.lora_gate = 32;
        c.block_order = "RRA";
        std::vector<float> first;
        for (int run = 0; run < 2; ++run) {
            lectern::RuntimeOptions rt;
            rt.threads = 2;
            auto m = lectern::Model::random(c, lectern::DType::bf16, 7, rt);
            QVERIFY2(m, m ? "" : m.error().message.c_str());
            lectern::AttentionOptions a;
            a.chunk_size = 8;
            lectern::State s(*m, a);
            std::vector<lectern::token_id> ids(40);
            for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = lectern::token_id(i * 37 % 256);
            std::vector<float> logits;
            QVERIFY(lectern::forward(s, ids, true, logits));
            QCOMPARE(logits.size(), std::size_t(40 * 256));
            for (float v : logits) QVERIFY(std::isfinite(v));
            if (run == 0) first = logits;
            else QVERIFY(logits == first);
        }
        lectern::ModelConfig bad = c;
        bad.block_order = "RR";
        QVERIFY(!lectern::Model::random(bad, lectern::DType::bf16, 7));
    }
};

QTEST_GUILESS_MAIN(TestBackend)
#include "tst_backend.moc"
