// Whole-model agreement with the official packages: for every tests/data/golden/*.golden (format
// in tests/data/golden/README.md), run State + forward with the header's options, cutting the
// calls at its splits, and compare every logits row and every recurrent state array; report
// max |Δlogit| / std(logits) per file.
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "infer_test_util.h"

namespace {

const QString kGoldenDir = QStringLiteral(LECTERN_TEST_DATA_DIR "/golden");

struct Golden {
    QJsonObject header;
    std::map<std::string, std::vector<float>> arrays;
};

// Reads one golden file; empty error string on success.
QString read_golden(const QString& path, Golden& g) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) return QStringLiteral("cannot open");
    const QByteArray bytes = f.readAll();
    if (bytes.size() < 16 || !bytes.startsWith("LCTNGOLD")) return QStringLiteral("bad magic");
    std::uint32_t version = 0, header_len = 0;
    std::memcpy(&version, bytes.constData() + 8, 4);
    std::memcpy(&header_len, bytes.constData() + 12, 4);
    if (version != 1) return QStringLiteral("unsupported version %1").arg(version);
    if (qsizetype(16 + header_len) > bytes.size()) return QStringLiteral("truncated header");
    QJsonParseError perr;
    const auto doc = QJsonDocument::fromJson(bytes.mid(16, header_len), &perr);
    if (!doc.isObject()) return QStringLiteral("bad JSON header: ") + perr.errorString();
    g.header = doc.object();
    const qsizetype data_start = (16 + qsizetype(header_len) + 15) / 16 * 16;
    for (const auto& v : g.header.value(QStringLiteral("arrays")).toArray()) {
        const QJsonObject a = v.toObject();
        qsizetype n = 1;
        for (const auto& d : a.value(QStringLiteral("shape")).toArray()) n *= d.toInteger();
        const qsizetype off = data_start + qsizetype(a.value(QStringLiteral("offset")).toInteger());
        if (off < data_start || off + n * 4 > bytes.size())
            return QStringLiteral("array %1 outside the file").arg(a.value(QStringLiteral("name")).toString());
        std::vector<float> values(static_cast<std::size_t>(n));
        std::memcpy(values.data(), bytes.constData() + off, std::size_t(n) * 4);
        g.arrays[a.value(QStringLiteral("name")).toString().toStdString()] = std::move(values);
    }
    return {};
}

double max_abs_diff(std::span<const float> a, const std::vector<float>& b) {
    if (a.size() != b.size()) return INFINITY;
    double d = 0.0;
    for (std::size_t i = 0; i < b.size(); ++i) d = std::max(d, std::abs(double(a[i]) - b[i]));
    return d;
}

}  // namespace

class TestGolden : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void matchesReference_data();
    void matchesReference();
};

void TestGolden::matchesReference_data() {
    QTest::addColumn<QString>("file");
    const QDir dir(kGoldenDir);
    if (!dir.exists()) QSKIP("tests/data/golden is absent: no golden references to compare with");
    const QStringList files = dir.entryList({QStringLiteral("*.golden")}, QDir::Files, QDir::Name);
    if (files.isEmpty()) QSKIP("tests/data/golden holds no *.golden files");
    for (const QString& f : files) QTest::newRow(f.toUtf8().constData()) << dir.filePath(f);
}

void TestGolden::matchesReference() {
    QFETCH(QString, file);
    Golden g;
    const QString err = read_golden(file, g);
    QVERIFY2(err.isEmpty(), qPrintable(err));
    const QJsonObject& h = g.header;

    const QString model_file = kGoldenDir + QLatin1Char('/') + h.value(QStringLiteral("model")).toString();
    // One thread for the main comparison (fast on a loaded machine); the extra native/RWKV-7
    // runs below use a pool so the parallel paths are checked against the reference too.
    auto model = infer_test::load(model_file.toStdString(), 1);
    QVERIFY2(model, qPrintable(model_file));
    const auto& c = model->config();

    lectern::AttentionOptions opts;
    const QString mode = h.value(QStringLiteral("mode")).toString();
    opts.mode = mode == QLatin1String("native") ? lectern::AttentionMode::native
                                                : lectern::AttentionMode::compat;
    if (mode != QLatin1String("rwkv7")) {
        opts.chunk_size = h.value(QStringLiteral("chunk_size")).toInt();
        opts.top_k = h.value(QStringLiteral("top_k")).toInt();
        opts.kv_max = h.value(QStringLiteral("kv_max")).toInt();
        opts.kv_min = h.value(QStringLiteral("kv_min")).toInt();
        opts.kv_window = h.value(QStringLiteral("kv_window")).toInt();
    }
    std::vector<lectern::token_id> tokens;
    for (const auto& t : h.value(QStringLiteral("tokens")).toArray())
        tokens.push_back(lectern::token_id(t.toInteger()));
    std::vector<std::size_t> cuts;
    for (const auto& s : h.value(QStringLiteral("splits")).toArray())
        cuts.push_back(std::size_t(s.toInteger()));
    const double tolerance = h.value(QStringLiteral("tolerance")).toDouble();
    QVERIFY(tolerance > 0);
    QVERIFY(h.value(QStringLiteral("all_rows")).toBool());

    lectern::State state(model, opts);
    std::string ferr;
    const auto logits = infer_test::feed(state, tokens, cuts, &ferr);
    QVERIFY2(!logits.empty(), ferr.c_str());
    const auto& ref = g.arrays["logits"];
    QCOMPARE(logits.size(), ref.size());
    const double dlogit = max_abs_diff(logits, ref);
    double mean = 0.0, var = 0.0;
    for (float v : ref) mean += v;
    mean /= double(ref.size());
    for (float v : ref) var += (v - mean) * (v - mean);
    const double stddev = std::sqrt(var / double(ref.size()));

    // Every state array the file carries (KV caches belong to the attention tests).
    double dstate = 0.0;
    std::string worst_state;
    int compared = 0;
    for (const auto& [name, values] : g.arrays) {
        const auto dot = name.find('.');
        if (dot == std::string::npos) continue;
        const std::string kind = name.substr(0, dot);
        const int index = std::stoi(name.substr(dot + 1));
        std::span<const float> mine;
        if (kind == "wkv") mine = state.wkv_state(index);
        else if (kind == "att_shift") mine = state.att_shift(index);
        else if (kind == "ffn_shift") mine = state.ffn_shift(index);
        else if (kind == "attn_ffn_shift") mine = state.attn_ffn_shift(index);
        else continue;
        const double d = max_abs_diff(mine, values);
        ++compared;
        if (d > dstate || !std::isfinite(d)) {
            dstate = d;
            worst_state = name;
        }
    }
    QCOMPARE(compared, 3 * c.n_rwkv + c.n_attn);
    qInfo("%s: max |dlogit| %.3g = %.3g std(logits); max |dstate| %.3g (%s); tolerance %.0e",
          qPrintable(QFileInfo(file).fileName()), dlogit, dlogit / stddev, dstate,
          worst_state.c_str(), tolerance);
    QVERIFY2(dlogit <= tolerance, qPrintable(QStringLiteral("max |dlogit| %1").arg(dlogit)));
    QVERIFY2(dstate <= tolerance,
             qPrintable(QStringLiteral("%1: max |d| %2").arg(QString::fromStdString(worst_state)).arg(dstate)));

    // Native attention is split-invariant, so its goldens (one call) must also hold when the
    // tokens arrive one by one or in arbitrary calls; so must pure RWKV-7.
    if (mode == QLatin1String("compat")) return;
    auto pooled = infer_test::load(model_file.toStdString(), 3);
    QVERIFY(pooled);
    std::mt19937 rng(17u);
    for (int trial = 0; trial < 3; ++trial) {
        lectern::State other(pooled, opts);
        const auto other_cuts = trial == 0 ? infer_test::every_position(tokens.size())
                                           : infer_test::random_cuts(tokens.size(), 2 + 3 * trial, rng);
        const auto got = infer_test::feed(other, tokens, other_cuts, &ferr);
        QVERIFY2(!got.empty(), ferr.c_str());
        const double d = max_abs_diff(got, ref);
        QVERIFY2(d <= tolerance, qPrintable(QStringLiteral("cut trial %1: max |dlogit| %2").arg(trial).arg(d)));
    }
}

QTEST_GUILESS_MAIN(TestGolden)
#include "tst_golden.moc"
