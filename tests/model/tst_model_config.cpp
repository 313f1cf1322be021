// Tests for infer_model_config: every good fixture's inferred config equals manifest.json, and
// synthetic safetensors models (zero weights, built here) cover layouts and rejected variants.
#include <QTemporaryDir>
#include <QTest>

#include <functional>

#include "lectern/model_config.h"
#include "model_test_util.h"

using namespace lectern;
using test_util::TensorSpec;

namespace {

struct Dims {
    std::int64_t C = 128, H = 2, N = 64, V = 64, F = 256, Dw = 16, Da = 8, Dv = 4, Dg = 12;
};

// Tensor list of a model per spec §1.3 (written independently of the engine's table).
std::vector<TensorSpec> model_tensors(const Dims& d, int n_rwkv, int n_attn, const std::string& p) {
    const std::int64_t C = d.C;
    std::vector<TensorSpec> t = {{p + "emb.weight", {d.V, C}},   {p + "blocks.0.ln0.weight", {C}},
                                 {p + "blocks.0.ln0.bias", {C}}, {p + "ln_out.weight", {C}},
                                 {p + "ln_out.bias", {C}},       {p + "head.weight", {d.V, C}}};
    for (int i = 0; i < n_rwkv; ++i) {
        const std::string b = p + "blocks." + std::to_string(i) + ".";
        for (const char* n : {"ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias", "att.ln_x.weight",
                              "att.ln_x.bias"})
            t.push_back({b + n, {C}});
        for (const char* n : {"att.x_r", "att.x_w", "att.x_k", "att.x_v", "att.x_a", "att.x_g",
                              "att.w0", "att.a0", "att.k_k", "att.k_a", "ffn.x_k"})
            t.push_back({b + n, {1, 1, C}});
        t.push_back({b + "att.w1", {C, d.Dw}});
        t.push_back({b + "att.w2", {d.Dw, C}});
        t.push_back({b + "att.a1", {C, d.Da}});
        t.push_back({b + "att.a2", {d.Da, C}});
        if (i > 0) {
            t.push_back({b + "att.v0", {1, 1, C}});
            t.push_back({b + "att.v1", {C, d.Dv}});
            t.push_back({b + "att.v2", {d.Dv, C}});
        }
        t.push_back({b + "att.g1", {C, d.Dg}});
        t.push_back({b + "att.g2", {d.Dg, C}});
        t.push_back({b + "att.r_k", {d.H, d.N}});
        for (const char* n :
             {"att.receptance.weight", "att.key.weight", "att.value.weight", "att.output.weight"})
            t.push_back({b + n, {C, C}});
        t.push_back({b + "ffn.key.weight", {d.F, C}});
        t.push_back({b + "ffn.value.weight", {C, d.F}});
    }
    for (int j = 0; j < n_attn; ++j) {
        const std::string b = "moba." + std::to_string(j) + ".";
        for (const char* n : {"ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias"})
            t.push_back({b + n, {C}});
        for (const char* n :
             {"att.receptance.weight", "att.key.weight", "att.value.weight", "att.output.weight"})
            t.push_back({b + n, {C, C}});
        t.push_back({b + "ffn.x_k", {1, 1, C}});
        t.push_back({b + "ffn.key.weight", {d.F, C}});
        t.push_back({b + "ffn.value.weight", {C, d.F}});
    }
    return t;
}

void set_shape(std::vector<TensorSpec>& t, const std::string& name, std::vector<std::int64_t> s) {
    for (auto& [n, shape] : t)
        if (n == name) shape = std::move(s);
}

void remove(std::vector<TensorSpec>& t, const std::string& prefix) {
    std::erase_if(t, [&](const TensorSpec& s) { return s.first.starts_with(prefix); });
}

}  // namespace

Q_DECLARE_METATYPE(std::function<std::vector<TensorSpec>()>)

class TestModelConfig : public QObject {
    Q_OBJECT

    // Write `tensors` as safetensors into the temporary dir and infer its config.
    Result<ModelConfig> infer(const std::vector<TensorSpec>& tensors) {
        const QString path = m_dir.filePath(QStringLiteral("model.safetensors"));
        QFile f(path);
        if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate)) return make_error("cannot write");
        f.write(test_util::make_safetensors(tensors));
        f.close();
        auto mf = ModelFile::open(path.toStdString());
        if (!mf) return mf.error();
        return infer_model_config(*mf);
    }

    QTemporaryDir m_dir;

  private Q_SLOTS:
    void matches_manifest_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QJsonObject>("entry");
        const QJsonObject models = test_util::manifest().value(QStringLiteral("models")).toObject();
        QVERIFY(!models.isEmpty());
        for (auto it = models.begin(); it != models.end(); ++it)
            QTest::newRow(qPrintable(it.key())) << it.key() << it.value().toObject();
    }
    void matches_manifest() {
        QFETCH(QString, file);
        QFETCH(QJsonObject, entry);
        auto mf = ModelFile::open(test_util::model_path(file));
        QVERIFY(mf.has_value());
        auto c = infer_model_config(*mf);
        QVERIFY2(c.has_value(), c.has_value() ? "" : c.error().message.c_str());
        const QJsonObject config = entry.value(QStringLiteral("config")).toObject();
        auto str = [&](const char* key) { return config.value(QLatin1String(key)).toString(); };
        auto num = [&](const char* key) { return config.value(QLatin1String(key)).toInteger(); };
        QCOMPARE(QString::fromUtf8(arch_name(c->arch).data()), str("arch"));
        QCOMPARE(QString::fromStdString(c->key_prefix),
                 entry.value(QStringLiteral("key_prefix")).toString());
        QCOMPARE(c->n_rwkv, num("n_rwkv"));
        QCOMPARE(c->n_attn, num("n_attn"));
        QCOMPARE(c->n_embd, num("n_embd"));
        QCOMPARE(c->n_head, num("n_head"));
        QCOMPARE(c->head_size, num("head_size"));
        QCOMPARE(c->vocab, num("vocab"));
        QCOMPARE(c->ffn_dim, num("ffn_dim"));
        QCOMPARE(c->lora_decay, num("lora_decay"));
        QCOMPARE(c->lora_iclr, num("lora_iclr"));
        QCOMPARE(c->lora_value, num("lora_value"));
        QCOMPARE(c->lora_gate, num("lora_gate"));
        QCOMPARE(QString::fromStdString(c->block_order), str("block_order"));
        QCOMPARE(c->params, num("params"));
        QCOMPARE(QString::fromUtf8(dtype_name(c->dtype).data()), str("dtype"));
        QCOMPARE(c->mixed_dtype, config.value(QStringLiteral("mixed_dtype")).toBool());
    }

    void block_order_data() {
        QTest::addColumn<int>("n_rwkv");
        QTest::addColumn<int>("n_attn");
        QTest::addColumn<QString>("order");
        QTest::newRow("pure rwkv") << 3 << 0 << QStringLiteral("RRR");
        QTest::newRow("one attn at the end") << 4 << 1 << QStringLiteral("RRRRA");
        QTest::newRow("0.22B layout") << 12 << 4 << QStringLiteral("RRRARRRARRRARRRA");
        QTest::newRow("p = 1") << 2 << 2 << QStringLiteral("RARA");
    }
    void block_order() {
        QFETCH(int, n_rwkv);
        QFETCH(int, n_attn);
        QFETCH(QString, order);
        Dims d;
        d.C = 64, d.H = 1, d.F = 64;
        auto c = infer(model_tensors(d, n_rwkv, n_attn, n_attn > 0 ? "rwkv." : ""));
        QVERIFY2(c.has_value(), c.has_value() ? "" : c.error().message.c_str());
        QCOMPARE(QString::fromStdString(c->block_order), order);
        QCOMPARE(c->arch, n_attn > 0 ? Arch::rwkv_x : Arch::rwkv7);
    }

    void accepted_variants() {
        const Dims d;
        auto flat = model_tensors(d, 2, 0, "");
        set_shape(flat, "blocks.1.att.x_r", {d.C});  // [C] instead of [1,1,C]
        set_shape(flat, "blocks.0.att.w0", {d.C});
        auto c = infer(flat);
        QVERIFY2(c.has_value(), c.has_value() ? "" : c.error().message.c_str());
        QCOMPARE(c->n_head, 2);
        QCOMPARE(c->lora_value, 4);

        auto with_v0 = model_tensors(d, 2, 0, "");  // block 0 carrying dummy value LoRA
        with_v0.push_back({"blocks.0.att.v0", {1, 1, d.C}});
        with_v0.push_back({"blocks.0.att.v1", {d.C, d.Dv}});
        with_v0.push_back({"blocks.0.att.v2", {d.Dv, d.C}});
        QVERIFY(infer(with_v0).has_value());

        auto single = model_tensors(d, 1, 0, "");  // one block: no value LoRA at all
        c = infer(single);
        QVERIFY(c.has_value());
        QCOMPARE(c->lora_value, 0);
    }

    void rejected_data() {
        QTest::addColumn<QString>("expected");
        QTest::addColumn<std::function<std::vector<TensorSpec>()>>("make");
        using Make = std::function<std::vector<TensorSpec>()>;
        const Dims d;
        QTest::newRow("wrong lora dim")
            << QStringLiteral("rwkv.blocks.3.att.w1: shape [128,15], expected [128,16]")
            << Make([d] {
                   auto t = model_tensors(d, 4, 2, "rwkv.");
                   set_shape(t, "rwkv.blocks.3.att.w1", {128, 15});
                   return t;
               });
        QTest::newRow("moba ffn.x_k")
            << QStringLiteral("moba.1.ffn.x_k: shape [1,128], expected [1,1,128]") << Make([d] {
                   auto t = model_tensors(d, 4, 2, "rwkv.");
                   set_shape(t, "moba.1.ffn.x_k", {1, 128});
                   return t;
               });
        QTest::newRow("missing") << QStringLiteral("rwkv.blocks.2.att.k_k: missing") << Make([d] {
            auto t = model_tensors(d, 4, 2, "rwkv.");
            remove(t, "rwkv.blocks.2.att.k_k");
            return t;
        });
        QTest::newRow("unexpected")
            << QStringLiteral("unexpected tensor moba.0.att.bias") << Make([d] {
                   auto t = model_tensors(d, 4, 2, "rwkv.");
                   t.push_back({"moba.0.att.bias", {128}});
                   return t;
               });
        QTest::newRow("block gap") << QStringLiteral("blocks.1: missing") << Make([d] {
            auto t = model_tensors(d, 3, 0, "");
            remove(t, "blocks.1.");
            return t;
        });
        QTest::newRow("moba gap") << QStringLiteral("moba.0: missing") << Make([d] {
            auto t = model_tensors(d, 4, 2, "rwkv.");
            remove(t, "moba.0.");
            return t;
        });
        QTest::newRow("rwkv-x head size")
            << QStringLiteral("RWKV-X requires head size 64, got 32") << Make([] {
                   Dims e;
                   e.H = 4;
                   e.N = 32;
                   return model_tensors(e, 2, 1, "rwkv.");
               });
        QTest::newRow("uneven split")
            << QStringLiteral("5 RWKV blocks cannot be split evenly between 2")
            << Make([d] { return model_tensors(d, 5, 2, "rwkv."); });
        QTest::newRow("heads times size")
            << QStringLiteral("heads x head size must equal n_embd 128") << Make([] {
                   Dims e;
                   e.H = 3;
                   return model_tensors(e, 2, 0, "");
               });
        QTest::newRow("no embedding") << QStringLiteral("emb.weight: missing") << Make([d] {
            auto t = model_tensors(d, 2, 0, "");
            remove(t, "emb.");
            return t;
        });
        QTest::newRow("head vocab")
            << QStringLiteral("emb.weight: shape [64,128], expected [65,128]") << Make([d] {
                   auto t = model_tensors(d, 2, 0, "");
                   set_shape(t, "head.weight", {65, 128});
                   return t;
               });
        QTest::newRow("3-D lora") << QStringLiteral(
                                         "blocks.0.att.w1: shape [1,128,16], expected 2 dimensions")
                                  << Make([d] {
                                         auto t = model_tensors(d, 2, 0, "");
                                         set_shape(t, "blocks.0.att.w1", {1, 128, 16});
                                         return t;
                                     });
    }
    void rejected() {
        QFETCH(QString, expected);
        QFETCH(std::function<std::vector<TensorSpec>()>, make);
        auto c = infer(make());
        QVERIFY(!c.has_value());
        const QString msg = QString::fromStdString(c.error().message);
        QVERIFY2(msg.contains(expected), qPrintable(msg));
        QVERIFY(!msg.contains(QLatin1Char('\n')));
    }
};

QTEST_GUILESS_MAIN(TestModelConfig)
#include "tst_model_config.moc"
