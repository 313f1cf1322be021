// `lectern-cli generate` end to end on the tiny committed model: help, one-line usage errors,
// greedy output identical to the library's generate(), seeded reproducibility, --stop.
// The prompt "~" is World token 127, inside the tiny model's 128-token vocabulary.
#include <QtTest>

#include "cli_runner.h"
#include "lectern/generate.h"
#include "lectern/inference.h"

namespace {

// `lectern-cli generate ARGS...`
CliRun run_cli(const QStringList& args) {
    return runLecternCli(QStringList{QStringLiteral("generate")} + args);
}

const QString kModel = QStringLiteral(LECTERN_TEST_DATA_DIR "/models/rwkv7-tiny-f32.pth");

QStringList tiny(const QStringList& extra) {
    return QStringList{QStringLiteral("--model"),   kModel,
                       QStringLiteral("--format"),  QStringLiteral("base"),
                       QStringLiteral("--prompt"),  QStringLiteral("~"),
                       QStringLiteral("--threads"), QStringLiteral("1")} +
           extra;
}

}  // namespace

class TestGenerateCli : public QObject {
    Q_OBJECT

  private Q_SLOTS:
    void help() {
        const CliRun r = run_cli({QStringLiteral("--help")});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains("Usage: lectern-cli generate"));
        QVERIFY(r.out.contains("--top-k-chunks"));
    }

    void usage_errors_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("code");
        QTest::addColumn<QByteArray>("fragment");
        // Without --model the bundled demo model is used (tests/cli/tst_cli_demo_model.cpp), so
        // the prompt is the one required option.
        QTest::newRow("no prompt") << QStringList{QStringLiteral("--model"), kModel} << 2
                                   << QByteArray("--prompt is required");
        QTest::newRow("bad top-p") << tiny({QStringLiteral("--top-p"), QStringLiteral("2")}) << 2
                                   << QByteArray("top_p = 2: must be in (0, 1]");
        QTest::newRow("not a number")
            << tiny({QStringLiteral("--temperature"), QStringLiteral("hot")}) << 2
            << QByteArray("--temperature: not a number");
        QTest::newRow("bad format")
            << QStringList{QStringLiteral("--model"),  kModel,
                           QStringLiteral("--prompt"), QStringLiteral("x"),
                           QStringLiteral("--format"), QStringLiteral("poem")}
            << 2 << QByteArray("--format");
        QTest::newRow("base with system")
            << tiny({QStringLiteral("--system"), QStringLiteral("s")}) << 2 << QByteArray("system");
        QTest::newRow("bad attention") << tiny({QStringLiteral("--attention"), QStringLiteral("x")})
                                       << 2 << QByteArray("--attention");
        QTest::newRow("missing model")
            << QStringList{QStringLiteral("--model"), QStringLiteral("/nonexistent.pth"),
                           QStringLiteral("--prompt"), QStringLiteral("x")}
            << 1 << QByteArray("nonexistent");
        // Chat text encodes to ids beyond the tiny model's 128.
        QTest::newRow("prompt outside vocab")
            << QStringList{QStringLiteral("--model"), kModel, QStringLiteral("--prompt"),
                           QStringLiteral("hello")}
            << 1 << QByteArray("the tokenizer does not match the model");
    }

    void usage_errors() {
        QFETCH(QStringList, args);
        QFETCH(int, code);
        QFETCH(QByteArray, fragment);
        const CliRun r = run_cli(args);
        QCOMPARE(r.exitCode, code);
        QVERIFY2(r.err.startsWith("lectern-cli: ") && r.err.count('\n') == 1, r.err.constData());
        QVERIFY2(r.err.contains(fragment), r.err.constData());
    }

    void greedy_matches_library() {
        auto model =
            lectern::Model::load(kModel.toStdString(), lectern::RuntimeOptions{.threads = 1});
        QVERIFY(model);
        auto tok = lectern::load_world_tokenizer(LECTERN_VOCAB_PATH);
        QVERIFY(tok);
        lectern::State state(*model, lectern::AttentionOptions{});
        lectern::SamplingOptions o;
        o.temperature = 0.0f;
        o.max_tokens = 16;
        o.stop_tokens = {0};  // the base-format default
        const std::vector<lectern::token_id> prompt{127};
        auto expected = lectern::generate(state, **tok, prompt, o, nullptr);
        QVERIFY(expected);

        const CliRun r = run_cli(tiny({QStringLiteral("--temperature"), QStringLiteral("0"),
                                    QStringLiteral("--max-tokens"), QStringLiteral("16")}));
        QCOMPARE(r.exitCode, 0);
        QCOMPARE(r.out, QByteArray::fromStdString(expected->text) + '\n');
        QVERIFY2(r.err.contains("generated"), r.err.constData());
    }

    void seeded_and_stop() {
        const QStringList args = tiny({QStringLiteral("--seed"), QStringLiteral("9"),
                                       QStringLiteral("--max-tokens"), QStringLiteral("24")});
        const CliRun a = run_cli(args);
        const CliRun b = run_cli(args);
        QCOMPARE(a.exitCode, 0);
        QCOMPARE(a.out, b.out);
        QVERIFY(a.out.size() > 4);
        // Stop at two printable output bytes (argv cannot carry NUL): the output must end just
        // before their first occurrence.
        const QByteArray text = a.out.chopped(1);
        const auto printable = [&](qsizetype i) { return text[i] >= 0x20 && text[i] < 0x7F; };
        qsizetype at = 1;
        while (at + 1 < text.size() && !(printable(at) && printable(at + 1))) ++at;
        QVERIFY(at + 1 < text.size());
        const QByteArray stop = text.mid(at, 2);
        const CliRun c =
            run_cli(args + QStringList{QStringLiteral("--stop"), QString::fromLatin1(stop)});
        QCOMPARE(c.exitCode, 0);
        QCOMPARE(c.out, text.left(text.indexOf(stop)) + '\n');
        QVERIFY2(c.err.contains("stop_string"), c.err.constData());
    }
};

QTEST_GUILESS_MAIN(TestGenerateCli)
#include "tst_generate_cli.moc"
