// Tests for ModelFile / parse_pth / parse_safetensors on the good fixtures of tests/data/models:
// names, shapes, dtypes and values against manifest.json, strided tensors made contiguous, and
// the same weights read from .pth and safetensors in different dtypes.
#include <QTest>

#include <QFileInfo>

#include <cmath>
#include <cstring>

#include "lectern/model_file.h"
#include "model_test_util.h"

using namespace lectern;

class TestModelFile : public QObject {
    Q_OBJECT
  private Q_SLOTS:
    void open_matches_manifest_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QJsonObject>("entry");
        const QJsonObject models = test_util::manifest().value(QStringLiteral("models")).toObject();
        QVERIFY2(models.size() >= 6, "manifest.json lists the good models");
        for (auto it = models.begin(); it != models.end(); ++it)
            QTest::newRow(qPrintable(it.key())) << it.key() << it.value().toObject();
    }
    void open_matches_manifest() {
        QFETCH(QString, file);
        QFETCH(QJsonObject, entry);
        auto mf = ModelFile::open(test_util::model_path(file));
        QVERIFY2(mf.has_value(), mf.has_value() ? "" : mf.error().message.c_str());
        QCOMPARE(QString::fromUtf8(model_format_name(mf->format()).data()),
                 entry.value(QStringLiteral("config"))
                     .toObject()
                     .value(QStringLiteral("format"))
                     .toString());
        QCOMPARE(mf->file_size(),
                 std::uint64_t(QFileInfo(QString::fromStdString(mf->path())).size()));

        const QJsonArray tensors = entry.value(QStringLiteral("tensors")).toArray();
        QCOMPARE(qsizetype(mf->tensors().size()), tensors.size());
        for (qsizetype i = 0; i < tensors.size(); ++i) {
            const QJsonObject t = tensors[i].toObject();
            const TensorView& v = mf->tensors()[std::size_t(i)];
            QCOMPARE(QString::fromStdString(v.name), t.value(QStringLiteral("name")).toString());
            QCOMPARE(v.shape, test_util::shape_of(t.value(QStringLiteral("shape")).toArray()));
            QCOMPARE(QString::fromUtf8(dtype_name(v.dtype).data()),
                     t.value(QStringLiteral("dtype")).toString());
            QCOMPARE(v.nbytes, std::size_t(v.numel()) * dtype_size(v.dtype));
            QCOMPARE(mf->find(v.name), &v);
        }
        QVERIFY(mf->find("no.such.tensor") == nullptr);

        for (const auto& s : entry.value(QStringLiteral("samples")).toArray()) {
            const QJsonObject o = s.toObject();
            const std::string name = o.value(QStringLiteral("name")).toString().toStdString();
            const TensorView* t = mf->find(name);
            QVERIFY2(t != nullptr, name.c_str());
            const std::vector<float> vals = test_util::values(*t);
            double sum = 0, abs_sum = 0;
            for (float x : vals) {
                sum += x;
                abs_sum += std::fabs(x);
            }
            const double expected = o.value(QStringLiteral("sum")).toDouble();
            QVERIFY2(std::fabs(sum - expected) <= 1e-9 * abs_sum + 1e-12,
                     qPrintable(QStringLiteral("%1: sum %2, expected %3")
                                    .arg(QString::fromStdString(name))
                                    .arg(sum)
                                    .arg(expected)));
            const QJsonArray first = o.value(QStringLiteral("first")).toArray();
            for (qsizetype i = 0; i < first.size(); ++i)
                QCOMPARE(vals[std::size_t(i)], float(first[i].toDouble()));
        }
    }

    // strided.pth holds transposed, sliced and expanded views; values must equal .contiguous().
    void strided_values() {
        const QJsonObject strided =
            test_util::manifest().value(QStringLiteral("strided")).toObject();
        auto mf = ModelFile::open(
            test_util::model_path(strided.value(QStringLiteral("file")).toString()));
        QVERIFY2(mf.has_value(), mf.has_value() ? "" : mf.error().message.c_str());
        const QJsonArray tensors = strided.value(QStringLiteral("tensors")).toArray();
        QCOMPARE(qsizetype(mf->tensors().size()), tensors.size());
        for (const auto& tv : tensors) {
            const QJsonObject t = tv.toObject();
            const std::string name = t.value(QStringLiteral("name")).toString().toStdString();
            const TensorView* v = mf->find(name);
            QVERIFY2(v != nullptr, name.c_str());
            QCOMPARE(v->shape, test_util::shape_of(t.value(QStringLiteral("shape")).toArray()));
            const std::vector<float> got = test_util::values(*v);
            const QJsonArray want = t.value(QStringLiteral("values")).toArray();
            QCOMPARE(qsizetype(got.size()), want.size());
            for (qsizetype i = 0; i < want.size(); ++i)
                if (got[std::size_t(i)] != float(want[i].toDouble()))
                    QFAIL(qPrintable(
                        QStringLiteral("%1[%2] differs").arg(QString::fromStdString(name)).arg(i)));
        }
    }

    // The bf16 .pth and the f16 safetensors hold the f32 weights rounded to nearest even.
    void converted_copies_data() {
        QTest::addColumn<QString>("reference");
        QTest::addColumn<QString>("converted");
        QTest::newRow("rwkv7 bf16")
            << QStringLiteral("rwkv7-tiny-f32.pth") << QStringLiteral("rwkv7-tiny-bf16.pth");
        QTest::newRow("rwkvx bf16")
            << QStringLiteral("rwkvx-tiny-f32.pth") << QStringLiteral("rwkvx-tiny-bf16.pth");
        QTest::newRow("rwkvx f16 safetensors")
            << QStringLiteral("rwkvx-tiny-f32.pth") << QStringLiteral("rwkvx-tiny-f16.safetensors");
    }
    void converted_copies() {
        QFETCH(QString, reference);
        QFETCH(QString, converted);
        auto ref = ModelFile::open(test_util::model_path(reference));
        auto conv = ModelFile::open(test_util::model_path(converted));
        QVERIFY(ref.has_value() && conv.has_value());
        QCOMPARE(ref->tensors().size(), conv->tensors().size());
        for (const TensorView& r : ref->tensors()) {
            const TensorView* c = conv->find(r.name);
            QVERIFY2(c != nullptr, r.name.c_str());
            QCOMPARE(c->shape, r.shape);
            QVERIFY(c->dtype != DType::f32);
            const std::vector<float> rv = test_util::values(r);
            for (std::size_t i = 0; i < rv.size(); ++i) {
                std::uint16_t bits;
                std::memcpy(&bits, c->data + 2 * i, 2);
                const std::uint16_t want =
                    c->dtype == DType::f16 ? f32_to_f16(rv[i]) : f32_to_bf16(rv[i]);
                if (bits != want)
                    QFAIL(qPrintable(QStringLiteral("%1[%2]: 0x%3, expected 0x%4")
                                         .arg(QString::fromStdString(r.name))
                                         .arg(i)
                                         .arg(bits, 4, 16)
                                         .arg(want, 4, 16)));
            }
        }
    }

    void parse_from_memory() {
        QFile f(
            QString::fromStdString(test_util::model_path(QStringLiteral("rwkv7-tiny-bf16.pth"))));
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray bytes = f.readAll();
        auto table =
            parse_pth(std::as_bytes(std::span(bytes.constData(), std::size_t(bytes.size()))));
        QVERIFY(table.has_value());
        QVERIFY(table->owned_copies.empty());
        QCOMPARE(table->tensors.front().name, std::string("emb.weight"));
    }

    void tensor_view_helpers() {
        TensorView v;
        v.shape = {768, 64};
        QCOMPARE(v.numel(), std::int64_t(768 * 64));
        QCOMPARE(v.shape_string(), std::string("[768,64]"));
        v.shape = {};
        QCOMPARE(v.numel(), std::int64_t(1));
        QCOMPARE(v.shape_string(), std::string("[]"));
        QCOMPARE(model_format_name(ModelFormat::pth), std::string_view("pth"));
        QCOMPARE(model_format_name(ModelFormat::safetensors), std::string_view("safetensors"));
    }

    void move_keeps_views() {
        auto mf = ModelFile::open(test_util::model_path(QStringLiteral("strided.pth")));
        QVERIFY(mf.has_value());
        const TensorView* before = mf->find("transposed");
        const std::vector<float> vals = test_util::values(*before);
        ModelFile moved = std::move(*mf);
        const TensorView* after = moved.find("transposed");
        QVERIFY(after != nullptr);
        QCOMPARE(test_util::values(*after), vals);
    }
};

QTEST_GUILESS_MAIN(TestModelFile)
#include "tst_model_file.moc"
