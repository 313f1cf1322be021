// Long-document retrieval through the product: the bundled demo model reads a pass-key document
// once (`lectern-cli ingest`, every option from the model card), and a new process asks
// "What is the pass key?" (`lectern-cli ask`, greedy). 100K tokens by default (20 documents,
// seeded random depths, >= 90 % found); 1M tokens under the `slow` label when LECTERN_RUN_SLOW=1.
#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

#include <random>

#include "cli_runner.h"

namespace {

// Spec §6.1's prompt: an intro, filler, the key sentence at the given depth, more filler. The
// question is asked afterwards as a chat turn. ~3.3 characters per token with the demo tokenizer.
QByteArray passkeyDocument(qint64 targetTokens, double depth, int key)
{
    static const QByteArray intro =
        "There is an important info hidden inside a lot of irrelevant text. Find it and memorize "
        "them. I will quiz you about the important information there.";
    static const QByteArray filler =
        "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";
    const qint64 chars = qint64(double(targetTokens) * 3.4);
    QByteArray repeated;
    repeated.reserve(chars + filler.size() + 1);
    while (repeated.size() < chars)
        repeated += filler + ' ';
    const qint64 pre = qint64(double(chars) * depth);
    const QByteArray k = QByteArray::number(key);
    return intro + '\n' + repeated.left(pre) + '\n' + "The pass key is " + k + ". Remember it. " +
           k + " is the pass key." + '\n' + repeated.left(chars - pre);
}

struct Trial {
    bool ran = false;
    bool correct = false;
    QString summary;
};

Trial runTrial(const QString& work, qint64 tokens, double depth, int key, int timeoutMs)
{
    Trial t;
    const QString doc = work + QStringLiteral("/doc.txt");
    const QString store = work + QStringLiteral("/store");
    QDir(store).removeRecursively();
    QFile f(doc);
    if (!f.open(QIODevice::WriteOnly) || f.write(passkeyDocument(tokens, depth, key)) < 0)
        return t;
    f.close();
    const CliRun ingest = runLecternCli({QStringLiteral("ingest"), QStringLiteral("--store"), store,
                                         doc},
                                        timeoutMs);
    if (ingest.exitCode != 0) {
        t.summary = QStringLiteral("ingest failed: ") + QString::fromUtf8(ingest.err.right(400));
        return t;
    }
    const CliRun ask = runLecternCli({QStringLiteral("ask"), QStringLiteral("--store"), store,
                                      QStringLiteral("--temperature"), QStringLiteral("0"),
                                      QStringLiteral("--max-tokens"), QStringLiteral("24"),
                                      QStringLiteral("What is the pass key?")});
    QDir(store).removeRecursively();
    if (ask.exitCode != 0) {
        t.summary = QStringLiteral("ask failed: ") + QString::fromUtf8(ask.err.right(400));
        return t;
    }
    const QString answer = QString::fromUtf8(ask.out).split(QLatin1Char('\n')).first().trimmed();
    const auto m = QRegularExpression(QStringLiteral("\\d+")).match(answer);
    t.ran = true;
    t.correct = m.hasMatch() && m.captured() == QString::number(key);
    t.summary = QStringLiteral("depth %1 key %2: \"%3\" %4")
                    .arg(depth, 0, 'f', 3)
                    .arg(key)
                    .arg(answer, t.correct ? QStringLiteral("ok") : QStringLiteral("WRONG"));
    return t;
}

}  // namespace

class TestCliPasskey : public QObject {
    Q_OBJECT

private:
    void runGrid(qint64 tokens, int trials, int needCorrect, std::uint32_t seed, int timeoutMs)
    {
        QTemporaryDir work;
        QVERIFY(work.isValid());
        std::mt19937 rng(seed);
        std::uniform_real_distribution<double> depthDist(0.0, 1.0);
        std::uniform_int_distribution<int> keyDist(1, 49999);  // spec §6.1's key range
        int correct = 0;
        for (int i = 0; i < trials; ++i) {
            // One depth per 1/trials of the document, jittered, so every region is tried.
            const double depth = (i + depthDist(rng)) / trials;
            const int key = keyDist(rng);
            const Trial t = runTrial(work.path(), tokens, depth, key, timeoutMs);
            QVERIFY2(t.ran, qPrintable(t.summary));
            qInfo("%lld tokens, %s", static_cast<long long>(tokens), qPrintable(t.summary));
            correct += t.correct ? 1 : 0;
        }
        qInfo("%d of %d correct", correct, trials);
        QVERIFY2(correct >= needCorrect,
                 qPrintable(QStringLiteral("%1 of %2 pass keys found, need %3")
                                .arg(correct)
                                .arg(trials)
                                .arg(needCorrect)));
    }

private Q_SLOTS:
    void initTestCase()
    {
#ifdef LECTERN_SANITIZE_BUILD
        QSKIP("a 100K-token document per trial is too slow under sanitizers; the model math is "
              "covered by the other tests");
#endif
    }

    // The default: 20 documents of 100K tokens, key at a random depth in each twentieth; the
    // issue's bar, >= 90 % (18 of 20). The bundled model finds 20 of these 20 (docs/demo-model.md).
    void passkey100k() { runGrid(100000, 20, 18, 20261127u, 600000); }

    // 1M tokens (~4 minutes and ~2 GB of store each on 2 cores): only when asked for.
    void passkey1m()
    {
        if (qEnvironmentVariableIntValue("LECTERN_RUN_SLOW") != 1)
            QSKIP("1M-token documents: set LECTERN_RUN_SLOW=1 (ctest -L slow)");
        runGrid(1000000, 3, 3, 1000003u, 3600000);
    }
};

int main(int argc, char** argv)
{
    // Qt Test stops a test function after 5 minutes by default; ten 100K-token documents take
    // longer on a 2-core machine. CTest's TIMEOUT stays the outer limit.
    qputenv("QTEST_FUNCTION_TIMEOUT", "14400000");
    QCoreApplication app(argc, argv);
    TestCliPasskey test;
    return QTest::qExec(&test, argc, argv);
}

#include "tst_cli_passkey.moc"
