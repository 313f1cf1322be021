// The document store on the GPU backend, end to end through the CLI, as a user with an NVIDIA card
// runs it: lectern-cli-emu (the CLI on the emulated CUDA backend, tests/emu) reads documents into
// stores and asks them, lectern-cli (the CPU engine) gives the reference. Covered: ingest on the
// GPU (KV rows computed there, written to f16 / int8 chunk files), questions on the GPU with the
// KV rows dense on the device or paged under a small --gpu-memory-mb (chunks then come from the
// store's mapped files when selected, also with a 1 MiB map budget), an older checkpoint, a source
// appended on the GPU to a store the CPU made, and a budget below what the weights need (a clear
// error; the store is untouched).
//
// Tolerances on the logits (rwkvx-tiny-f32: f32 matrices, so the GPU and CPU differ only by
// summation order): 1e-4 for questions on the same stored chunks (1.6e-6 seen); for a document
// the GPU read, 1e-4 with f16 chunks (6.3e-6 seen) and 1e-3 with int8 (3.6e-6 seen; rows that
// differ in their last bits may round to another quantisation step). Before the GPU read sealed
// chunks in the cache's precision as the CPU does (tst_cuda_kv_dtype), a GPU-read document answered
// 3.0e-3 (f16) and 4.3e-3 (int8) away from the CPU-read one: the size of the rounding itself.
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>

#include "../cli/store_test_util.h"

using namespace store_test;

namespace {

const QString kTiny = model("rwkvx-tiny-f32.pth");
const QString kCpu = QStringLiteral(LECTERN_BIN_DIR "/lectern-cli");
const QString kGpu = QStringLiteral(LECTERN_CLI_EMU);

QStringList storeArgs(const QString& kvDType)
{
    return {QStringLiteral("--checkpoint-every"), QStringLiteral("256"),
            QStringLiteral("--chunk-size"),       QStringLiteral("128"),
            QStringLiteral("--top-k"),            QStringLiteral("3"),
            QStringLiteral("--kv-dtype"),         kvDType};
}

QStringList gpu(double budgetMb)
{
    return {QStringLiteral("--backend"), QStringLiteral("cuda"), QStringLiteral("--gpu-memory-mb"),
            QString::number(budgetMb, 'f', 2)};
}

// "attended: B-E W" lines of `ask --provenance`, in order.
struct Attended {
    QString range;
    double weight = 0;
};
QList<Attended> attended(const QByteArray& out)
{
    QList<Attended> list;
    static const QRegularExpression re(QStringLiteral("^attended: (\\S+) ([0-9.]+)"),
                                       QRegularExpression::MultilineOption);
    auto it = re.globalMatch(QString::fromUtf8(out));
    while (it.hasNext()) {
        const auto m = it.next();
        list.append({m.captured(1), m.captured(2).toDouble()});
    }
    return list;
}

}  // namespace

class TestCliStoreEmu : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_docFile, m_moreFile;
    std::vector<int> m_q;
    double m_pagedMb = 0;  // a GPU budget with room for the weights and a few KV chunk slots

    QString path(const QString& name) const { return m_dir.filePath(name); }

    CliRun ingest(const QString& program, const QString& store, const QString& file,
                  const QString& kvDType, const QStringList& extra = {})
    {
        return runCli(program,
                      QStringList{QStringLiteral("ingest"), QStringLiteral("--model"), kTiny,
                                  QStringLiteral("--store"), store, QStringLiteral("--tokens-file"),
                                  file} +
                          storeArgs(kvDType) + extra,
                      300000);
    }

    // The logits after the question; empty (with the reason in `why`) when the ask failed.
    std::vector<float> askLogits(const QString& program, const QString& store,
                                 const QStringList& extra, QByteArray* why)
    {
        static int n = 0;
        const QString out = path(QStringLiteral("logits-%1.bin").arg(++n));
        const CliRun r = runCli(program,
                                QStringList{QStringLiteral("ask"), QStringLiteral("--store"), store,
                                            QStringLiteral("--tokens"), joinIds(m_q),
                                            QStringLiteral("--max-tokens"), QStringLiteral("0"),
                                            QStringLiteral("--logits-out"), out} +
                                    extra,
                                300000);
        *why = r.err;
        return r.exitCode == 0 ? readFloats(out) : std::vector<float>();
    }

    // A greedy answer with its provenance.
    CliRun answer(const QString& program, const QString& store, const QStringList& extra)
    {
        return runCli(program,
                      QStringList{QStringLiteral("ask"), QStringLiteral("--store"), store,
                                  QStringLiteral("--tokens"), joinIds(m_q),
                                  QStringLiteral("--max-tokens"), QStringLiteral("6"),
                                  QStringLiteral("--temperature"), QStringLiteral("0"),
                                  QStringLiteral("--provenance")} +
                          extra,
                      300000);
    }

private slots:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_docFile = path(QStringLiteral("doc.txt"));
        m_moreFile = path(QStringLiteral("more.txt"));
        // 1500 tokens: 11 complete 128-token chunks per attention block and a partial one.
        QVERIFY(writeIds(m_docFile, randomIds(1500, 128, 11)));
        QVERIFY(writeIds(m_moreFile, randomIds(600, 128, 12)));
        m_q = randomIds(6, 128, 13);
        for (const char* dtype : {"f16", "int8"}) {
            const CliRun r = ingest(kCpu, path(QStringLiteral("cpu-") + QLatin1String(dtype)),
                                    m_docFile, QLatin1String(dtype));
            QVERIFY2(r.exitCode == 0, r.err.constData());
        }
        QVERIFY(copyDir(path(QStringLiteral("cpu-f16")), path(QStringLiteral("cpu-f16-more"))));
        const CliRun more = ingest(kCpu, path(QStringLiteral("cpu-f16-more")), m_moreFile,
                                   QStringLiteral("f16"), {QStringLiteral("--append")});
        QVERIFY2(more.exitCode == 0, more.err.constData());

        // What the weights and scratch need, from the error a 1 MiB budget gets; 0.4 MiB more
        // leaves the KV cache a few 64 KiB chunk slots and the means, less than the 0.75 MiB
        // that 768 tokens' rows take (the whole document's: 1.5 MiB). (A whole MiB above it,
        // as before, left anything from 0.3 to 1.3 MiB: enough for 768 rows when the scratch
        // grew by a fraction of a MiB.)
        QByteArray why;
        QVERIFY(askLogits(kGpu, path(QStringLiteral("cpu-f16")), gpu(1), &why).empty());
        const auto m = QRegularExpression(QStringLiteral("the ([0-9.]+) MiB the weights"))
                           .match(QString::fromUtf8(why));
        QVERIFY2(m.hasMatch(), why.constData());
        m_pagedMb = std::ceil((m.captured(1).toDouble() + 0.4) * 100.0) / 100.0;
    }

    // A document read on the GPU: the stored rows and checkpoints answer as the CPU's do.
    void ingestOnGpu_data()
    {
        QTest::addColumn<QString>("kvDType");
        QTest::addColumn<bool>("paged");
        QTest::addColumn<double>("tol");
        QTest::newRow("f16-dense") << "f16" << false << 1e-4;
        QTest::newRow("f16-paged") << "f16" << true << 1e-4;
        QTest::newRow("int8-dense") << "int8" << false << 1e-3;
    }
    void ingestOnGpu()
    {
        QFETCH(QString, kvDType);
        QFETCH(bool, paged);
        QFETCH(double, tol);
        const QString store = path(QStringLiteral("gpu-") + QLatin1String(QTest::currentDataTag()));
        const CliRun r = ingest(kGpu, store, m_docFile, kvDType, gpu(paged ? m_pagedMb : 0));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        // The note says where the rows were: the paged run must really have paged.
        QVERIFY2(r.err.contains(paged ? "[paged KV cache on the GPU" : "[KV rows on the GPU"),
                 r.err.constData());
        QVERIFY2(r.out.contains("tokens: 1500\n") && r.out.contains("status: complete\n"),
                 r.out.constData());
        const CliRun info =
            ingest(kCpu, path(QStringLiteral("cpu-") + kvDType), m_docFile, kvDType);
        QVERIFY2(info.exitCode == 0, info.err.constData());  // already ingested: the summary only
        const auto checkpoints = [](const QByteArray& out) {
            return QRegularExpression(QStringLiteral("checkpoints: (\\d+)"))
                .match(QString::fromUtf8(out))
                .captured(1);
        };
        QCOMPARE(checkpoints(r.out), checkpoints(info.out));

        for (const QStringList& asOf : {QStringList{}, {QStringLiteral("--as-of-token"),
                                                       QStringLiteral("768")}}) {
            QByteArray why;
            const auto want = askLogits(kCpu, path(QStringLiteral("cpu-") + kvDType), asOf, &why);
            QVERIFY2(!want.empty(), why.constData());
            const auto got = askLogits(kCpu, store, asOf, &why);
            QVERIFY2(!got.empty(), why.constData());
            const double d = maxDiff(got, want);
            QVERIFY2(d <= tol, qPrintable(QStringLiteral("%1 %2: max |dlogit| %3 > %4")
                                              .arg(asOf.join(QLatin1Char(' ')), kvDType)
                                              .arg(d)
                                              .arg(tol)));
        }
    }

    // Questions on the GPU about a document the CPU read: dense, and paged from the chunk files.
    void askOnGpu_data()
    {
        QTest::addColumn<QString>("store");
        QTest::addColumn<bool>("paged");
        QTest::addColumn<QStringList>("extra");
        QTest::newRow("f16-dense") << "cpu-f16" << false << QStringList{};
        QTest::newRow("f16-paged") << "cpu-f16" << true << QStringList{};
        // A 1 MiB map budget: chunk files are unmapped and mapped again as pages load.
        QTest::newRow("int8-paged-ram1")
            << "cpu-int8" << true
            << QStringList{QStringLiteral("--ram-budget-mb"), QStringLiteral("1")};
        QTest::newRow("f16-paged-as-of")
            << "cpu-f16" << true
            << QStringList{QStringLiteral("--as-of-token"), QStringLiteral("768")};
    }
    void askOnGpu()
    {
        QFETCH(QString, store);
        QFETCH(bool, paged);
        QFETCH(QStringList, extra);
        const QString dir = path(store);
        QByteArray why;
        const auto want = askLogits(kCpu, dir, extra, &why);
        QVERIFY2(!want.empty(), why.constData());
        const auto got = askLogits(kGpu, dir, gpu(paged ? m_pagedMb : 0) + extra, &why);
        QVERIFY2(!got.empty(), why.constData());
        QVERIFY2(why.contains(paged ? "[paged KV cache on the GPU" : "[KV rows on the GPU"),
                 why.constData());
        const double d = maxDiff(got, want);
        QVERIFY2(d <= 1e-4, qPrintable(QStringLiteral("max |dlogit| %1").arg(d)));

        // The greedy answer and what it read: the same tokens, ranges and (nearly) weights.
        const CliRun cpu = answer(kCpu, dir, extra);
        const CliRun gpuRun = answer(kGpu, dir, gpu(paged ? m_pagedMb : 0) + extra);
        QVERIFY2(cpu.exitCode == 0, cpu.err.constData());
        QVERIFY2(gpuRun.exitCode == 0, gpuRun.err.constData());
        QCOMPARE(gpuRun.out.split('\n').value(0), cpu.out.split('\n').value(0));
        const auto a = attended(cpu.out), b = attended(gpuRun.out);
        QVERIFY2(!a.isEmpty() && a.size() == b.size(),
                 (cpu.out + "---\n" + gpuRun.out).constData());
        for (qsizetype i = 0; i < a.size(); ++i) {
            QCOMPARE(b[i].range, a[i].range);
            QVERIFY2(std::fabs(b[i].weight - a[i].weight) <= 2e-4,
                     (cpu.out + "---\n" + gpuRun.out).constData());
        }
    }

    // A second source appended on the GPU (its state and KV rows uploaded from the store first,
    // the new rows written back) continues the document as the CPU does.
    void appendOnGpu_data()
    {
        QTest::addColumn<bool>("paged");
        QTest::newRow("dense") << false;
        QTest::newRow("paged") << true;
    }
    void appendOnGpu()
    {
        QFETCH(bool, paged);
        const QString store =
            path(QStringLiteral("append-") + QLatin1String(QTest::currentDataTag()));
        QVERIFY(copyDir(path(QStringLiteral("cpu-f16")), store));
        const CliRun r = ingest(kGpu, store, m_moreFile, QStringLiteral("f16"),
                                QStringList{QStringLiteral("--append")} +
                                    gpu(paged ? m_pagedMb : 0));
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY2(r.out.contains("tokens: 2100\n") && r.out.contains("sources: 2\n"),
                 r.out.constData());
        QByteArray why;
        const auto want = askLogits(kCpu, path(QStringLiteral("cpu-f16-more")), {}, &why);
        QVERIFY2(!want.empty(), why.constData());
        const auto got = askLogits(kCpu, store, {}, &why);
        QVERIFY2(!got.empty(), why.constData());
        const double d = maxDiff(got, want);
        QVERIFY2(d <= 1e-3, qPrintable(QStringLiteral("max |dlogit| %1").arg(d)));
    }

    // A budget below what the weights need: one clear line, exit 1, and nothing in the store
    // changes (the append that failed to start leaves it answering exactly as before).
    void budgetBelowTheWeights()
    {
        const QString store = path(QStringLiteral("too-small"));
        QVERIFY(copyDir(path(QStringLiteral("cpu-f16")), store));
        QByteArray why;
        const auto before = askLogits(kCpu, store, {}, &why);
        QVERIFY2(!before.empty(), why.constData());

        const CliRun r = ingest(kGpu, store, m_moreFile, QStringLiteral("f16"),
                                QStringList{QStringLiteral("--append")} + gpu(1));
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.count('\n') == 1 && r.err.contains("GPU memory budget of 1.0 MiB") &&
                     r.err.contains("weights"),
                 r.err.constData());
        QVERIFY(askLogits(kGpu, store, gpu(1), &why).empty());
        QVERIFY2(why.count('\n') == 1 && why.contains("GPU memory budget"), why.constData());

        const auto after = askLogits(kCpu, store, {}, &why);
        QVERIFY2(!after.empty(), why.constData());
        QCOMPARE(maxDiff(after, before), 0.0);

        const CliRun bad = runCli(kGpu, {QStringLiteral("ask"), QStringLiteral("--store"), store,
                                         QStringLiteral("--tokens"), QStringLiteral("1"),
                                         QStringLiteral("--backend"), QStringLiteral("cuda"),
                                         QStringLiteral("--gpu-memory-mb"), QStringLiteral("-5")});
        QVERIFY2(bad.exitCode != 0 && bad.err.contains("invalid --gpu-memory-mb '-5'"),
                 bad.err.constData());
    }
};

QTEST_GUILESS_MAIN(TestCliStoreEmu)
#include "tst_cli_store_emu.moc"
