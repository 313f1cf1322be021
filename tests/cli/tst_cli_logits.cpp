// lectern-cli logits end to end: output sizes with and without --all and --split, --split
// changing nothing in native mode, tokens files, and one-line errors for every bad input.
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include "cli_runner.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace {

using Run = CliRun;

Run runCli(const QStringList& args) { return runLecternCli(args); }

QString model(const char* file)
{
    return QStringLiteral(LECTERN_TEST_DATA_DIR "/models/") + QLatin1String(file);
}

QString idList(int n, int vocab)
{
    QStringList ids;
    for (int i = 0; i < n; ++i)
        ids << QString::number((i * 37 + 11) % vocab);
    return ids.join(QLatin1Char(','));
}

std::vector<float> readFloats(const QString& path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    const QByteArray b = f.readAll();
    std::vector<float> v(std::size_t(b.size()) / sizeof(float));
    std::memcpy(v.data(), b.constData(), v.size() * sizeof(float));
    return v;
}

}  // namespace

class TestCliLogits : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { QVERIFY(m_dir.isValid()); }
    void outputSizes_data();
    void outputSizes();
    void splitChangesNothingInNativeMode();
    void tokensFile();
    void errors_data();
    void errors();

private:
    QString out(const char* name) const { return m_dir.filePath(QLatin1String(name)); }
    QTemporaryDir m_dir;
};

void TestCliLogits::outputSizes_data()
{
    QTest::addColumn<QStringList>("extra");
    QTest::addColumn<int>("rows");
    QTest::newRow("last row") << QStringList{} << 1;
    QTest::newRow("all rows") << QStringList{QStringLiteral("--all")} << 10;
    QTest::newRow("last row of each call")
        << QStringList{QStringLiteral("--split"), QStringLiteral("3,7")} << 3;
    QTest::newRow("all rows, split with a decode step")
        << QStringList{QStringLiteral("--all"), QStringLiteral("--split"), QStringLiteral("3,4")}
        << 10;
}

void TestCliLogits::outputSizes()
{
    QFETCH(QStringList, extra);
    QFETCH(int, rows);
    const QString file = out("sizes.bin");
    const Run r = runCli(QStringList{QStringLiteral("logits"), QStringLiteral("--model"),
                                     model("rwkv7-tiny-f32.pth"), QStringLiteral("--tokens"),
                                     idList(10, 128), QStringLiteral("--out"), file} +
                         extra);
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QVERIFY(r.err.isEmpty());
    const auto v = readFloats(file);
    QCOMPARE(v.size(), std::size_t(rows) * 128);
    QVERIFY(std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); }));
}

void TestCliLogits::splitChangesNothingInNativeMode()
{
    // 100 tokens with chunk 8, top-k 2: far beyond what one chunk set covers, so the sparse
    // selection is exercised; native attention is split-invariant.
    const QStringList common{QStringLiteral("logits"), QStringLiteral("--model"),
                             model("rwkvx-tiny-f32.pth"), QStringLiteral("--tokens"),
                             idList(100, 128), QStringLiteral("--all"),
                             QStringLiteral("--attention"), QStringLiteral("native"),
                             QStringLiteral("--chunk-size"), QStringLiteral("8"),
                             QStringLiteral("--top-k"), QStringLiteral("2"),
                             QStringLiteral("--threads"), QStringLiteral("2")};
    Run r = runCli(common + QStringList{QStringLiteral("--out"), out("whole.bin")});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    r = runCli(common + QStringList{QStringLiteral("--split"), QStringLiteral("13,50,51,80,99"),
                                    QStringLiteral("--out"), out("split.bin")});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const auto a = readFloats(out("whole.bin"));
    const auto b = readFloats(out("split.bin"));
    QCOMPARE(a.size(), std::size_t(100 * 128));
    QCOMPARE(b.size(), a.size());
    double err = 0.0, scale = 1.0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        err = std::max(err, double(std::abs(a[i] - b[i])));
        scale = std::max(scale, double(std::abs(a[i])));
    }
    QVERIFY2(err / scale <= 1e-5, qPrintable(QString::number(err / scale)));
}

void TestCliLogits::tokensFile()
{
    const QString ids = out("ids.txt");
    QFile f(ids);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("5, 6\n7\t8,9  \n");
    f.close();
    Run r = runCli({QStringLiteral("logits"), QStringLiteral("--model"), model("rwkv7-tiny-f32.pth"),
                    QStringLiteral("--tokens-file"), ids, QStringLiteral("--all"),
                    QStringLiteral("--out"), out("file.bin")});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    r = runCli({QStringLiteral("logits"), QStringLiteral("--model"), model("rwkv7-tiny-f32.pth"),
                QStringLiteral("--tokens"), QStringLiteral("5 6 7 8 9"), QStringLiteral("--all"),
                QStringLiteral("--out"), out("inline.bin")});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const auto a = readFloats(out("file.bin"));
    QCOMPARE(a.size(), std::size_t(5 * 128));
    QVERIFY(a == readFloats(out("inline.bin")));
}

void TestCliLogits::errors_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<int>("code");
    QTest::addColumn<QByteArray>("fragment");
    const QString m = model("rwkv7-tiny-f32.pth");
    const QString o = QStringLiteral("/tmp/lectern-tst-cli-logits-unused.bin");
    const auto with = [&](const QStringList& extra) {
        return QStringList{QStringLiteral("logits"), QStringLiteral("--model"), m,
                           QStringLiteral("--out"), o} +
               extra;
    };
    const QString ids = QStringLiteral("1,2,3,4,5");
    const QString tk = QStringLiteral("--tokens");
    QTest::newRow("no tokens") << with({}) << 2 << QByteArray("exactly one of --tokens");
    // Without --model the bundled demo model runs (tst_cli_demo_model); usage errors come first.
    QTest::newRow("no model") << QStringList{QStringLiteral("logits"), tk, ids}
                              << 2 << QByteArray("--out is required");
    QTest::newRow("no out") << QStringList{QStringLiteral("logits"), QStringLiteral("--model"), m,
                                           tk, ids}
                            << 2 << QByteArray("--out is required");
    QTest::newRow("bad id") << with({tk, QStringLiteral("1,x")}) << 2 << QByteArray("not a token id");
    QTest::newRow("empty ids") << with({tk, QStringLiteral(" , ")}) << 2 << QByteArray("no token ids");
    QTest::newRow("id outside vocab") << with({tk, QStringLiteral("1,128")}) << 1
                                      << QByteArray("token id 128 at position 1 is outside");
    QTest::newRow("split not increasing") << with({tk, ids, QStringLiteral("--split"), QStringLiteral("3,2")})
                                          << 2 << QByteArray("strictly increasing");
    QTest::newRow("split repeated") << with({tk, ids, QStringLiteral("--split"), QStringLiteral("2,2")})
                                    << 2 << QByteArray("strictly increasing");
    QTest::newRow("split out of range") << with({tk, ids, QStringLiteral("--split"), QStringLiteral("5")})
                                        << 2 << QByteArray("out of range");
    QTest::newRow("split zero") << with({tk, ids, QStringLiteral("--split"), QStringLiteral("0,2")})
                                << 2 << QByteArray("out of range");
    QTest::newRow("split garbage") << with({tk, ids, QStringLiteral("--split"), QStringLiteral("a")})
                                   << 2 << QByteArray("invalid --split item 'a'");
    QTest::newRow("bad attention") << with({tk, ids, QStringLiteral("--attention"), QStringLiteral("full")})
                                   << 2 << QByteArray("invalid --attention 'full'");
    QTest::newRow("bad chunk") << with({tk, ids, QStringLiteral("--chunk-size"), QStringLiteral("0")})
                               << 2 << QByteArray("invalid --chunk-size '0'");
    QTest::newRow("bad top-k") << with({tk, ids, QStringLiteral("--top-k"), QStringLiteral("two")})
                               << 2 << QByteArray("invalid --top-k 'two'");
    QTest::newRow("bad kv-max") << with({tk, ids, QStringLiteral("--kv-max"), QStringLiteral("-1")})
                                << 2 << QByteArray("invalid --kv-max");
    QTest::newRow("bad threads") << with({tk, ids, QStringLiteral("--threads"), QStringLiteral("1.5")})
                                 << 2 << QByteArray("invalid --threads");
    QTest::newRow("bad kv dtype") << with({tk, ids, QStringLiteral("--kv-dtype"), QStringLiteral("f64")})
                                  << 2 << QByteArray("invalid --kv-dtype 'f64'");
    QTest::newRow("missing tokens file")
        << with({QStringLiteral("--tokens-file"), QStringLiteral("/nonexistent/ids.txt")}) << 1
        << QByteArray("no such file");
    QTest::newRow("missing model")
        << QStringList{QStringLiteral("logits"), QStringLiteral("--model"),
                       QStringLiteral("/nonexistent/m.pth"), tk, ids, QStringLiteral("--out"), o}
        << 1 << QByteArray("lectern-cli: ");
    QTest::newRow("broken model")
        << QStringList{QStringLiteral("logits"), QStringLiteral("--model"),
                       QStringLiteral(LECTERN_TEST_DATA_DIR "/broken/truncated.pth"), tk, ids,
                       QStringLiteral("--out"), o}
        << 1 << QByteArray("lectern-cli: ");
    QTest::newRow("unwritable out")
        << QStringList{QStringLiteral("logits"), QStringLiteral("--model"), m, tk, ids,
                       QStringLiteral("--out"), QStringLiteral("/nonexistent/dir/x.bin")}
        << 1 << QByteArray("/nonexistent/dir/x.bin");
}

void TestCliLogits::errors()
{
    QFETCH(QStringList, args);
    QFETCH(int, code);
    QFETCH(QByteArray, fragment);
    const Run r = runCli(args);
    QCOMPARE(r.exitCode, code);
    QVERIFY2(r.err.startsWith("lectern-cli: "), r.err.constData());
    QVERIFY2(r.err.endsWith('\n') && r.err.count('\n') == 1, r.err.constData());
    QVERIFY2(r.err.contains(fragment), r.err.constData());
    QVERIFY(!QFile::exists(QStringLiteral("/tmp/lectern-tst-cli-logits-unused.bin")));
}

QTEST_GUILESS_MAIN(TestCliLogits)
#include "tst_cli_logits.moc"
