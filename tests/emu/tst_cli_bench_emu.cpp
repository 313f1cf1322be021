// lectern-cli bench on the emulated CUDA backend (lectern-cli-emu): every row of the GPU benchmark
// that tools/gpu-check.sh asks for (rooflines, decode plain and from CUDA graphs, prefill, the WKV-7
// kernels' ratio, the per-op profile, RWKV-X contexts with a question's start and the attention
// core, synthetic contexts with decode's attention core, keys split and not, the decode GEMVs
// alone in every walk) on the rwkvx-tiny shape. The figures mean nothing here; what is
// checked is that the path runs to the end and prints every row with a finite positive value, so
// a GPU machine's minutes are not spent finding a crash.
#include <QProcess>
#include <QRegularExpression>
#include <QTest>

#include <cmath>

class TestCliBenchEmu : public QObject {
    Q_OBJECT

private slots:
    void shapeBenchRunsEveryRow() {
        QProcess p;
        p.setProcessChannelMode(QProcess::MergedChannels);
        // Contexts: one below the chunk size (2048: no chunk to select), one above (two complete
        // chunks to score and attend); a synthetic context of three chunks. An f16 cache, as a
        // document store's: the prefill seals each chunk it completes.
        p.start(QStringLiteral(LECTERN_CLI_EMU),
                {QStringLiteral("bench"), QStringLiteral("--backend"), QStringLiteral("cuda"),
                 QStringLiteral("--shape"), QStringLiteral("rwkvx-tiny"),
                 QStringLiteral("--prefill"), QStringLiteral("64"), QStringLiteral("--decode"),
                 QStringLiteral("3"), QStringLiteral("--profile"), QStringLiteral("--contexts"),
                 QStringLiteral("300,4200"), QStringLiteral("--synthetic-contexts"),
                 QStringLiteral("6500"), QStringLiteral("--kv-dtype"), QStringLiteral("f16"),
                 QStringLiteral("--gemv")});
        QVERIFY(p.waitForStarted());
        QVERIFY(p.waitForFinished(840000));
        const QString out = QString::fromUtf8(p.readAll());
        QVERIFY2(p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0, qPrintable(out));
        QVERIFY2(out.contains(
                     QStringLiteral("device: Lectern CPU emulator  backend: cuda  kv: f16")),
                 qPrintable(out));
        QVERIFY2(out.contains(QRegularExpression(QStringLiteral("^roofline: copy [0-9]"),
                                                 QRegularExpression::MultilineOption)),
                 qPrintable(out));
        QStringList rows = {QStringLiteral("decode tok/s (batch 1)"),
                                  QStringLiteral("decode tok/s (CUDA graphs)"),
                                  QStringLiteral("prefill tok/s (64)"),
                                  QStringLiteral("prefill tok/s (64, next call)"),
                                  QStringLiteral("wkv7 chunked / sequential"),
                                  QStringLiteral("prefill tok/s (64, KV append in turn)"),
                                  QStringLiteral("prefill s at 300"),
                                  QStringLiteral("first token ms after 300"),
                                  QStringLiteral("decode ms/tok after 300"),
                                  QStringLiteral("attention core s at 300"),
                                  QStringLiteral("prefill s at 4200"),
                                  QStringLiteral("first token ms after 4200"),
                                  QStringLiteral("decode ms/tok after 4200"),
                                  QStringLiteral("attention core s at 4200"),
                                  QStringLiteral("fork + 1 token ms after 300"),
                                  QStringLiteral("fork + 1 token ms after 4200"),
                                  QStringLiteral("fork ms after 300"),
                                  QStringLiteral("fork ms after 4200"),
                                  QStringLiteral("fork ms after 300 (again)"),
                                  QStringLiteral("fork + 1 token ms after 4200 (again)"),
                                  QStringLiteral("first token ms synth 6500"),
                                  QStringLiteral("decode ms/tok synth 6500"),
                                  QStringLiteral("fork ms synth 6500"),
                                  QStringLiteral("fork + 1 token ms synth 6500"),
                                  QStringLiteral("decode attention us synth 6500"),
                                  QStringLiteral(
                                      "decode attention us synth 6500 (block per pair)")};
        // --gemv: each decode GEMV launch alone, every walk.
        for (const char* batch :
             {"rkv+downs", "lora ups", "output", "ffn key", "ffn value", "head"})
            for (const char* walk : {"rows", "stream", "stream8"})
                rows << QStringLiteral("gemv GB/s %1 %2").arg(QLatin1String(batch),
                                                              QLatin1String(walk));
        for (const QString& row : rows) {
            // A fork that borrowed its state's rows says so after the label.
            const QRegularExpression re(QStringLiteral("^") + QRegularExpression::escape(row) +
                                            QStringLiteral("(?: \\(borrowed\\))? +(\\S+)"),
                                        QRegularExpression::MultilineOption);
            const auto m = re.match(out);
            QVERIFY2(m.hasMatch(), qPrintable(QStringLiteral("no row '%1' in:\n%2").arg(row, out)));
            bool ok = false;
            const double v = m.captured(1).toDouble(&ok);
            QVERIFY2(ok && std::isfinite(v) && v > 0,
                     qPrintable(QStringLiteral("row '%1': %2").arg(row, m.captured(1))));
        }
        // The prefill's matmul time split by weight shape (rwkvx-tiny: C = 128, so the
        // receptance is 128 x 128).
        QVERIFY2(out.contains(QRegularExpression(
                     QStringLiteral("^    matmul 128 x 128 +[0-9.]+ ms +[0-9]+ ops$"),
                     QRegularExpression::MultilineOption)),
                 qPrintable(out));
        // The profile lists ops with their time, for the prefill and for the decode.
        for (const char* what :
             {"profile prefill 64: ", "profile decode x3: ", "profile decode synth 6500 x3: "}) {
            const int at = int(out.indexOf(QLatin1String(what)));
            QVERIFY2(at >= 0, qPrintable(out));
            const QString after = out.mid(at).section(QLatin1Char('\n'), 1, 1);
            QVERIFY2(after.contains(QRegularExpression(QStringLiteral("^  \\S+ +[0-9.]+ ms"))),
                     qPrintable(out));
            // Then the host's steps: every call waits for its logits, and a call of an
            // attention model appends its KV rows to the host caches.
            const QString section = out.mid(at).section(QStringLiteral("\nprofile "), 0, 0);
            for (const char* step : {"logits wait", "kv append"}) {
                const QRegularExpression re(
                    QStringLiteral("^  host %1 +[0-9.]+ ms +[1-9][0-9]* times$")
                        .arg(QLatin1String(step)),
                    QRegularExpression::MultilineOption);
                QVERIFY2(section.contains(re), qPrintable(section));
            }
        }
    }
};

QTEST_GUILESS_MAIN(TestCliBenchEmu)
#include "tst_cli_bench_emu.moc"
