// `lectern-cli logits`: feed token ids to a model in calls cut at chosen positions and write the
// raw float32 logits, for comparisons with reference implementations and for debugging.
#include <QCommandLineParser>
#include <QFile>

#include <limits>
#include <span>
#include <vector>

#include "clicommon.h"
#include "commands.h"
#include "enginepath.h"
#include "lectern/inference.h"

namespace Cli {
namespace {

// An integer option value at least `min`; error text names the option.
std::optional<int> intOption(const QCommandLineParser& parser, const QString& name, int fallback,
                             int min, QString* error)
{
    if (!parser.isSet(name))
        return fallback;
    bool ok = false;
    const QString text = parser.value(name);
    const qlonglong v = text.toLongLong(&ok);
    if (!ok || v < min || v > std::numeric_limits<int>::max()) {
        *error = QStringLiteral("invalid --%1 '%2' (expected an integer >= %3)")
                     .arg(name, text.left(40))
                     .arg(min);
        return std::nullopt;
    }
    return int(v);
}

// Call start positions: strictly increasing, each inside (0, count).
std::optional<std::vector<std::size_t>> parseSplits(const QString& text, std::size_t count,
                                                    QString* error)
{
    std::vector<std::size_t> splits;
    QString normalized = text;
    normalized.replace(QLatin1Char(','), QLatin1Char(' '));
    for (const QString& item : normalized.simplified().split(QLatin1Char(' '), Qt::SkipEmptyParts)) {
        bool ok = false;
        const qulonglong v = item.toULongLong(&ok);
        if (!ok) {
            *error = QStringLiteral("invalid --split item '%1'").arg(item.left(40));
            return std::nullopt;
        }
        if (v == 0 || v >= count) {
            *error = QStringLiteral("--split position %1 is out of range (1..%2 for %3 tokens)")
                         .arg(v)
                         .arg(count - 1)
                         .arg(count);
            return std::nullopt;
        }
        if (!splits.empty() && v <= splits.back()) {
            *error = QStringLiteral("--split positions must be strictly increasing (%1 after %2)")
                         .arg(v)
                         .arg(splits.back());
            return std::nullopt;
        }
        splits.push_back(std::size_t(v));
    }
    return splits;
}

}  // namespace

int runLogits(const QStringList& args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Feed token ids to a model and write its logits as raw little-endian float32: with --all "
        "one row per input position, otherwise the last row of each call. --split cuts the input "
        "into several forward calls (a one-token call takes the decode path)."));
    const auto opt = [&parser](const char* name, const char* help, const char* value = nullptr) {
        addOption(parser, name, help, value);
    };
    opt("model", "Model checkpoint (.pth or .safetensors; default: the bundled demo model). A "
        "model card beside it (model.json) supplies the attention defaults.", "file");
    opt("tokens", "Token ids separated by commas and/or spaces.", "ids");
    opt("tokens-file", "File of token ids separated by commas and/or whitespace.", "file");
    opt("split", "Positions where a new call starts, strictly increasing.", "positions");
    opt("all", "Write the logits of every position, not only the last of each call.");
    opt("attention", "Sparse attention semantics: native or compat (default: the model card's, "
        "else native).", "mode");
    opt("chunk-size", "Attention chunk size B (default: the model card's, else 2048).", "n");
    opt("top-k", "Attention top-k K (default: the model card's, else 3).", "k");
    opt("bypass-attention", "Ablation: attention blocks skip their attention sublayer.");
    opt("kv-max", "compat: compress the KV cache above this many rows (0 = off).", "n");
    opt("kv-min", "compat: rows kept by a compression.", "n");
    opt("kv-window", "compat: most recent rows always kept.", "n");
    opt("kv-dtype", "KV cache precision: f32 (default), f16 or int8.", "type");
    opt("threads", "Worker threads (0 = all hardware threads).", "n");
    addBackendOption(parser);
    opt("out", "Output file for the float32 logits.", "file");
    if (const auto code = parse(parser, args))
        return *code;
    if (!parser.positionalArguments().isEmpty())
        return fail(QStringLiteral("unexpected argument '%1' (see --help)")
                        .arg(parser.positionalArguments().first()),
                    UsageError);
    if (!parser.isSet(QStringLiteral("out")))
        return fail(QStringLiteral("--out is required"), UsageError);
    if (parser.isSet(QStringLiteral("tokens")) == parser.isSet(QStringLiteral("tokens-file")))
        return fail(QStringLiteral("give exactly one of --tokens and --tokens-file"), UsageError);

    QString error;
    const auto chosen = chooseModel(parser.value(QStringLiteral("model")), &error);
    if (!chosen)
        return fail(error);
    lectern::AttentionOptions attention;
    lectern::RuntimeOptions runtime;
    if (chosen->card) {
        attention.mode = *parseAttentionMode(chosen->card->attention);  // validated by the card
        attention.chunk_size = chosen->card->chunkSize;
        attention.top_k = chosen->card->topK;
    }
    attention.bypass = parser.isSet(QStringLiteral("bypass-attention"));
    if (parser.isSet(QStringLiteral("attention"))) {
        const QString mode = parser.value(QStringLiteral("attention"));
        if (const auto parsed = parseAttentionMode(mode))
            attention.mode = *parsed;
        else
            return fail(QStringLiteral("invalid --attention '%1' (expected native or compat)")
                            .arg(mode.left(40)),
                        UsageError);
    }
    if (parser.isSet(QStringLiteral("kv-dtype"))) {
        const QString t = parser.value(QStringLiteral("kv-dtype"));
        if (const auto parsed = parseKvDType(t))
            attention.kv_dtype = *parsed;
        else
            return fail(QStringLiteral("invalid --kv-dtype '%1' (expected f32, f16 or int8)")
                            .arg(t.left(40)),
                        UsageError);
    }
    struct IntOpt {
        const char* name;
        int* target;
        int min;
    };
    const IntOpt ints[] = {{"chunk-size", &attention.chunk_size, 1},
                           {"top-k", &attention.top_k, 1},
                           {"kv-max", &attention.kv_max, 0},
                           {"kv-min", &attention.kv_min, 0},
                           {"kv-window", &attention.kv_window, 0},
                           {"threads", &runtime.threads, 0}};
    for (const IntOpt& o : ints) {
        const auto v = intOption(parser, QString::fromLatin1(o.name), *o.target, o.min, &error);
        if (!v)
            return fail(error, UsageError);
        *o.target = *v;
    }

    QByteArray idText;
    if (parser.isSet(QStringLiteral("tokens"))) {
        idText = parser.value(QStringLiteral("tokens")).toUtf8();
    } else {
        auto bytes = readFile(parser.value(QStringLiteral("tokens-file")), &error);
        if (!bytes)
            return fail(error);
        idText = *bytes;
    }
    const auto tokens = parseIds(idText, &error);
    if (!tokens)
        return fail(error, UsageError);
    if (tokens->empty())
        return fail(QStringLiteral("no token ids given"), UsageError);
    std::vector<std::size_t> starts{0};
    if (parser.isSet(QStringLiteral("split"))) {
        const auto splits = parseSplits(parser.value(QStringLiteral("split")), tokens->size(), &error);
        if (!splits)
            return fail(error, UsageError);
        starts.insert(starts.end(), splits->begin(), splits->end());
    }
    starts.push_back(tokens->size());

    if (!applyBackend(parser, runtime, &error))
        return fail(error);
    auto model = lectern::Model::load(enginePath(chosen->path), runtime);
    if (!model)
        return fail(model.error().message);
    lectern::State state(*model, attention);
    const bool all = parser.isSet(QStringLiteral("all"));
    QByteArray out;
    std::vector<float> logits;
    for (std::size_t i = 0; i + 1 < starts.size(); ++i) {
        const std::span<const lectern::token_id> call(tokens->data() + starts[i],
                                                      starts[i + 1] - starts[i]);
        auto ok = lectern::forward(state, call, all, logits);
        if (!ok)
            return fail(ok.error().message);
        // The engine targets little-endian hosts, so the floats are written as they are.
        out.append(reinterpret_cast<const char*>(logits.data()), qsizetype(logits.size() * sizeof(float)));
    }

    QFile file(parser.value(QStringLiteral("out")));
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate) || file.write(out) != out.size())
        return fail(file.fileName() + QStringLiteral(": ") + file.errorString());
    return Success;
}

}  // namespace Cli
