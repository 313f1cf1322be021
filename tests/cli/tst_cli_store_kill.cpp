// Crash safety of `lectern-cli ingest`: SIGKILL at fixed-seed random moments spread over an
// ingest, then `store verify` passes (or nothing was committed yet and the next ingest starts
// over), the same command resumes to completion, and the final answer's logits equal those of an
// uninterrupted store bit for bit.
#include <QElapsedTimer>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <random>

#include "store_test_util.h"

using namespace store_test;

namespace {

constexpr int kTokens = 10000;
constexpr int kTrials = 20;

QStringList ingestArgs(const QString& store, const QString& doc)
{
    return {QStringLiteral("ingest"), QStringLiteral("--model"), model("rwkvx-tiny-f32.pth"),
            QStringLiteral("--store"), store, QStringLiteral("--tokens-file"), doc,
            QStringLiteral("--chunk-size"), QStringLiteral("256"), QStringLiteral("--top-k"),
            QStringLiteral("3"), QStringLiteral("--checkpoint-every"), QStringLiteral("1024"),
            QStringLiteral("--kv-dtype"), QStringLiteral("f16"), QStringLiteral("--threads"),
            QStringLiteral("1")};
}

QStringList askArgs(const QString& store, const std::vector<int>& q, const QString& out)
{
    return {QStringLiteral("ask"), QStringLiteral("--store"), store, QStringLiteral("--tokens"),
            joinIds(q), QStringLiteral("--max-tokens"), QStringLiteral("0"),
            QStringLiteral("--logits-out"), out, QStringLiteral("--threads"), QStringLiteral("1")};
}

}  // namespace

class TestCliStoreKill : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void killAndResume();
};

void TestCliStoreKill::killAndResume()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString doc = dir.filePath(QStringLiteral("doc.txt"));
    QVERIFY(writeIds(doc, randomIds(kTokens, 128, 11)));
    const std::vector<int> q = randomIds(9, 128, 12);

    // The uninterrupted reference, timed.
    const QString ref = dir.filePath(QStringLiteral("ref"));
    QElapsedTimer timer;
    timer.start();
    CliRun r = runLecternCli(ingestArgs(ref, doc));
    const qint64 fullMs = timer.elapsed();
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const QString refLogits = dir.filePath(QStringLiteral("ref.bin"));
    r = runLecternCli(askArgs(ref, q, refLogits));
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const std::vector<float> want = readFloats(refLogits);
    QVERIFY(!want.empty());
    qInfo("uninterrupted ingest of %d tokens: %lld ms", kTokens, fullMs);

    std::mt19937 rng(20240611);
    int midway = 0, beforeCommit = 0, finished = 0;
    for (int trial = 0; trial < kTrials; ++trial) {
        const QString store = dir.filePath(QStringLiteral("t%1").arg(trial));
        // Spread the kills over the run (the first 90%: later runs can be quicker than the timed one).
        qint64 delay = qint64(std::uniform_real_distribution<double>(0.0, 0.9)(rng) *
                              double(fullMs));
        if (trial < 2)  // two kills at startup, most likely before anything is committed
            delay = trial == 0 ? 1 : 40;
        QProcess p;
        p.start(QStringLiteral(LECTERN_BIN_DIR "/lectern-cli"), ingestArgs(store, doc));
        QVERIFY(p.waitForStarted());
        const bool done = p.waitForFinished(int(std::max<qint64>(1, delay)));
        if (done) {
            QCOMPARE(p.exitCode(), 0);
            ++finished;
        } else {
            p.kill();
            QVERIFY(p.waitForFinished(30000));
        }

        const CliRun v = runLecternCli({QStringLiteral("store"), QStringLiteral("verify"), store});
        if (v.exitCode == 0) {
            if (!done)
                ++midway;
        } else {
            // Killed before the first commit: nothing (or only the skeleton of a store) is there.
            QVERIFY2(!QFileInfo::exists(store + QStringLiteral("/manifest.json")),
                     qPrintable(QStringLiteral("trial %1 (kill at %2 ms): %3")
                                    .arg(trial)
                                    .arg(delay)
                                    .arg(QString::fromUtf8(v.err))));
            ++beforeCommit;
        }
        r = runLecternCli(ingestArgs(store, doc));
        QVERIFY2(r.exitCode == 0, qPrintable(QStringLiteral("trial %1 (kill at %2 ms): %3")
                                                 .arg(trial)
                                                 .arg(delay)
                                                 .arg(QString::fromUtf8(r.err))));
        QVERIFY2(r.out.contains(QByteArray("tokens: ") + QByteArray::number(kTokens) + '\n'),
                 r.out.constData());
        const QString got = dir.filePath(QStringLiteral("t%1.bin").arg(trial));
        r = runLecternCli(askArgs(store, q, got));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY2(maxDiff(readFloats(got), want) == 0.0,
                 qPrintable(QStringLiteral("trial %1: logits differ").arg(trial)));
        QVERIFY(QDir(store).removeRecursively());
    }
    qInfo("%d trials: %d killed mid-way, %d killed before the first commit, %d finished first; "
          "total %lld ms",
          kTrials, midway, beforeCommit, finished, timer.elapsed());
    QVERIFY(midway >= kTrials / 4);  // kill times follow the timed run; a loaded machine varies
}

QTEST_GUILESS_MAIN(TestCliStoreKill)
#include "tst_cli_store_kill.moc"
