// `lectern-cli store info|verify`: show a document store's manifest, or check every file it lists.
#include <QCommandLineParser>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <cstdio>

#include "clicommon.h"
#include "commands.h"
#include "enginepath.h"
#include "lectern/document_store.h"
#include "lectern/inference.h"

namespace Cli {
namespace {

QString attentionText(const lectern::AttentionOptions& a)
{
    return QStringLiteral("%1, chunk %2, top-k %3, kv %4")
        .arg(a.mode == lectern::AttentionMode::native ? QStringLiteral("native")
                                                      : QStringLiteral("compat"))
        .arg(a.chunk_size)
        .arg(a.top_k)
        .arg(QString::fromLatin1(kvDTypeName(a.kv_dtype)));
}

QJsonObject toJson(const lectern::StoreSummary& s)
{
    QJsonObject o;
    o[QStringLiteral("format_version")] = s.format_version;
    o[QStringLiteral("model_path")] = QString::fromStdString(s.model_path);
    o[QStringLiteral("model_sha256")] = QString::fromStdString(s.model_sha256);
    o[QStringLiteral("tokenizer")] = QJsonObject{
        {QStringLiteral("kind"), QString::fromStdString(s.tokenizer.kind)},
        {QStringLiteral("sha256"), QString::fromStdString(s.tokenizer.sha256)}};
    const lectern::AttentionOptions& a = s.options.attention;
    o[QStringLiteral("attention")] = QJsonObject{
        {QStringLiteral("mode"), a.mode == lectern::AttentionMode::native ? QStringLiteral("native")
                                                                          : QStringLiteral("compat")},
        {QStringLiteral("chunk_size"), a.chunk_size},
        {QStringLiteral("top_k"), a.top_k},
        {QStringLiteral("kv_dtype"), QString::fromLatin1(kvDTypeName(a.kv_dtype))}};
    o[QStringLiteral("checkpoint_every")] = qint64(s.options.checkpoint_every);
    o[QStringLiteral("disk_budget_bytes")] = qint64(s.options.disk_budget_bytes);
    QJsonArray sources;
    for (const lectern::SourceInfo& src : s.sources)
        sources.append(QJsonObject{{QStringLiteral("name"), QString::fromStdString(src.name)},
                                   {QStringLiteral("sha256"), QString::fromStdString(src.sha256)},
                                   {QStringLiteral("bytes"), qint64(src.bytes)},
                                   {QStringLiteral("settings"), QString::fromStdString(src.settings)},
                                   {QStringLiteral("first_token"), qint64(src.first_token)},
                                   {QStringLiteral("tokens"), qint64(src.tokens)}});
    o[QStringLiteral("sources")] = sources;
    o[QStringLiteral("tokens")] = qint64(s.tokens);
    o[QStringLiteral("tokens_expected")] = qint64(s.tokens_expected);
    o[QStringLiteral("complete")] = s.complete;
    o[QStringLiteral("status")] = s.complete ? QStringLiteral("complete") : QStringLiteral("unfinished");
    QJsonArray checkpoints;
    for (const lectern::CheckpointInfo& c : s.checkpoints)
        checkpoints.append(QJsonObject{{QStringLiteral("position"), qint64(c.position)},
                                       {QStringLiteral("label"), QString::fromStdString(c.label)},
                                       {QStringLiteral("bytes"), qint64(c.bytes)}});
    o[QStringLiteral("checkpoints")] = checkpoints;
    o[QStringLiteral("disk_bytes")] = qint64(s.disk_bytes);
    o[QStringLiteral("bytes_per_token")] = s.bytes_per_token;
    return o;
}

QByteArray toText(const lectern::StoreSummary& s, const QString& dir)
{
    QString t;
    const auto line = [&t](const QString& key, const QString& value) {
        t += key + QStringLiteral(": ") + value + QLatin1Char('\n');
    };
    line(QStringLiteral("store"), dir);
    line(QStringLiteral("format"), QString::number(s.format_version));
    line(QStringLiteral("model"), QString::fromStdString(s.model_path));
    line(QStringLiteral("model_sha256"), QString::fromStdString(s.model_sha256));
    line(QStringLiteral("tokenizer"),
         s.tokenizer.sha256.empty()
             ? QString::fromStdString(s.tokenizer.kind)
             : QStringLiteral("%1 sha256 %2").arg(QString::fromStdString(s.tokenizer.kind),
                                                  QString::fromStdString(s.tokenizer.sha256)));
    line(QStringLiteral("attention"), attentionText(s.options.attention));
    line(QStringLiteral("checkpoint_every"), QString::number(s.options.checkpoint_every));
    if (s.options.disk_budget_bytes > 0)
        line(QStringLiteral("disk_budget_bytes"), QString::number(s.options.disk_budget_bytes));
    line(QStringLiteral("sources"), QString::number(s.sources.size()));
    for (std::size_t i = 0; i < s.sources.size(); ++i) {
        const lectern::SourceInfo& src = s.sources[i];
        line(QStringLiteral("source %1").arg(i),
             QStringLiteral("%1 sha256 %2 bytes %3 tokens %4-%5")
                 .arg(QString::fromStdString(src.name), QString::fromStdString(src.sha256))
                 .arg(src.bytes)
                 .arg(src.first_token)
                 .arg(src.first_token + src.tokens));
        if (!src.settings.empty())
            line(QStringLiteral("source %1 settings").arg(i), QString::fromStdString(src.settings));
    }
    line(QStringLiteral("tokens"), QString::number(s.tokens));
    line(QStringLiteral("tokens_expected"), QString::number(s.tokens_expected));
    line(QStringLiteral("status"), s.complete ? QStringLiteral("complete") : QStringLiteral("unfinished"));
    QStringList cps;
    for (const lectern::CheckpointInfo& c : s.checkpoints)
        cps << (c.label.empty() ? QString::number(c.position)
                                : QStringLiteral("%1 (%2)").arg(c.position).arg(
                                      QString::fromStdString(c.label)));
    line(QStringLiteral("checkpoints"),
         QStringLiteral("%1%2").arg(s.checkpoints.size()).arg(
             cps.isEmpty() ? QString() : QStringLiteral(": ") + cps.join(QStringLiteral(", "))));
    line(QStringLiteral("disk_bytes"), QString::number(s.disk_bytes));
    line(QStringLiteral("bytes_per_token"), QString::number(s.bytes_per_token, 'f', 1));
    return t.toUtf8();
}

int runInfo(const QStringList& args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Show a document store's manifest (no model needed): model, tokenizer, attention "
        "settings, sources, progress, checkpoints and disk use."));
    parser.addOption(QCommandLineOption(QStringLiteral("json"), QStringLiteral("Print JSON.")));
    parser.addPositionalArgument(QStringLiteral("dir"), QStringLiteral("The store folder."));
    if (const auto code = parse(parser, args))
        return *code;
    const QStringList pos = parser.positionalArguments();
    if (pos.size() != 1)
        return fail(QStringLiteral("give one store folder (see --help)"), UsageError);
    auto summary = lectern::DocumentStore::summary(enginePath(pos.first()));
    if (!summary)
        return fail(summary.error().message);
    if (parser.isSet(QStringLiteral("json")))
        writeStdout(QJsonDocument(toJson(*summary)).toJson(QJsonDocument::Indented));
    else
        writeStdout(toText(*summary, pos.first()));
    return Success;
}

int runVerify(const QStringList& args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Read every file a document store lists and check its checksum; with --model also that "
        "the store belongs to that model and its last checkpoint loads. Prints 'ok', or the "
        "first problem (exit 1)."));
    parser.addOption(QCommandLineOption(QStringLiteral("model"),
                                        QStringLiteral("Also check against this model."),
                                        QStringLiteral("file")));
    parser.addPositionalArgument(QStringLiteral("dir"), QStringLiteral("The store folder."));
    if (const auto code = parse(parser, args))
        return *code;
    const QStringList pos = parser.positionalArguments();
    if (pos.size() != 1)
        return fail(QStringLiteral("give one store folder (see --help)"), UsageError);
    std::shared_ptr<const lectern::Model> model;
    if (parser.isSet(QStringLiteral("model"))) {
        auto loaded = lectern::Model::load(
            enginePath(parser.value(QStringLiteral("model"))));
        if (!loaded)
            return fail(loaded.error().message);
        model = *loaded;
    }
    auto ok = lectern::DocumentStore::verify(enginePath(pos.first()), model);
    if (!ok)
        return fail(ok.error().message);
    writeStdout(std::string_view("ok\n"));
    return Success;
}

}  // namespace

int runStore(const QStringList& args)
{
    const QString sub = args.value(1);
    if (sub == QLatin1String("info"))
        return runInfo(QStringList{QStringLiteral("store info")} + args.mid(2));
    if (sub == QLatin1String("verify"))
        return runVerify(QStringList{QStringLiteral("store verify")} + args.mid(2));
    if (sub == QLatin1String("--help") || sub == QLatin1String("-h") || sub.isEmpty()) {
        const char* usage =
            "Usage: lectern-cli store info DIR [--json]\n"
            "       lectern-cli store verify DIR [--model M]\n\n"
            "  info    show a document store's manifest\n"
            "  verify  check every file of a store ('ok', or the first problem and exit 1)\n";
        if (sub.isEmpty()) {
            std::fputs(usage, stderr);
            return UsageError;
        }
        writeStdout(std::string_view(usage));
        return Success;
    }
    return fail(QStringLiteral("unknown store command '%1' (expected info or verify)").arg(sub),
                UsageError);
}

}  // namespace Cli
