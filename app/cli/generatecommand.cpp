// `lectern-cli generate`: load a model, format a prompt (base or chat), and stream the sampled
// continuation to stdout, flushing after every piece of text.
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QFile>

#include <cstdio>
#include <random>

#include "clicommon.h"
#include "commands.h"
#include "enginepath.h"
#include "lectern/generate.h"
#include "lectern/inference.h"
#include "lectern/prompt_format.h"
#include "tokenizerloader.h"

namespace Cli {
namespace {

// Numeric option parsing with one-line errors naming the flag.
bool parseFloat(const QCommandLineParser& p, const QCommandLineOption& o, float* out,
                QString* error)
{
    if (!p.isSet(o) && p.value(o).isEmpty())  // neither given nor defaulted
        return true;
    bool ok = false;
    const float v = p.value(o).toFloat(&ok);
    if (!ok) {
        *error = QStringLiteral("--%1: not a number: '%2'").arg(o.names().first(), p.value(o));
        return false;
    }
    *out = v;
    return true;
}

bool parseInt(const QCommandLineParser& p, const QCommandLineOption& o, int* out, QString* error)
{
    if (!p.isSet(o) && p.value(o).isEmpty())  // neither given nor defaulted
        return true;
    bool ok = false;
    const int v = p.value(o).toInt(&ok);
    if (!ok) {
        *error = QStringLiteral("--%1: not an integer: '%2'").arg(o.names().first(), p.value(o));
        return false;
    }
    *out = v;
    return true;
}

QCommandLineOption valueOption(const char* name, const char* help, const char* valueName,
                               const QString& defaultValue = QString())
{
    return QCommandLineOption(QString::fromLatin1(name), QString::fromLatin1(help),
                              QString::fromLatin1(valueName), defaultValue);
}

}  // namespace

int runGenerate(const QStringList& args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Generate text from a model, streamed to stdout as it is sampled (a newline is added at "
        "the end); a summary line (tokens, finish reason, speed, seed) goes to stderr.\n"
        "Chat format: 'User: TEXT\\n\\nAssistant:', stopping at token 261 (\"\\n\\n\"), token 0 "
        "or a new turn. Sampling order: penalties, temperature, top-k, top-p, min-p.\n"
        "Note: --top-k is the sampling top-k; the sparse-attention top-k is --top-k-chunks."));
    const QCommandLineOption model = valueOption(
        "model", "Model file (.pth or .safetensors; default: the bundled demo model). A model "
        "card beside it (model.json) supplies the defaults of --tokenizer, --attention, "
        "--chunk-size, --top-k-chunks and --format.", "M");
    const QCommandLineOption prompt = valueOption("prompt", "Prompt text (the user message in "
                                                  "chat format).", "TEXT");
    const QCommandLineOption format = valueOption(
        "format", "'base' (plain continuation) or 'chat' (default: the model card's prompt "
        "style, else chat).", "base|chat");
    const QCommandLineOption system = valueOption(
        "system", "System text for chat, as a leading 'System: TEXT' turn.", "TEXT");
    const QCommandLineOption think = QCommandLineOption(
        QStringLiteral("think"), QStringLiteral("Chat: end the prompt with 'Assistant: <think' "
                                                "(RWKV-7 G1 reasoning models)."));
    const QCommandLineOption maxTokens =
        valueOption("max-tokens", "Stop after N tokens (default 200).", "N", QStringLiteral("200"));
    const QCommandLineOption temperature =
        valueOption("temperature", "Sampling temperature; 0 = greedy (default 1).", "T");
    const QCommandLineOption topP = valueOption("top-p", "Nucleus sampling, in (0,1] (default 1 "
                                                "= off).", "P");
    const QCommandLineOption topK =
        valueOption("top-k", "Sample among the K most likely tokens (default 0 = off).", "K");
    const QCommandLineOption minP = valueOption(
        "min-p", "Drop tokens less likely than P x the most likely (default 0 = off).", "P");
    const QCommandLineOption presence = valueOption(
        "presence-penalty", "Subtract X from the logit of every token generated so far.", "X");
    const QCommandLineOption frequency = valueOption(
        "frequency-penalty", "Subtract X x (times generated) from a token's logit.", "X");
    const QCommandLineOption decay = valueOption(
        "penalty-decay", "Multiply the frequency counts by D after each token (default 1; the "
        "RWKV chat demos use 0.996).", "D");
    const QCommandLineOption repetition = valueOption(
        "repetition-penalty", "Divide positive / multiply negative logits of generated tokens "
        "by X (default 1 = off).", "X");
    const QCommandLineOption seed =
        valueOption("seed", "Random seed (default: a fresh one, printed in the summary).", "S");
    const QCommandLineOption stop = valueOption(
        "stop", "Stop when this text appears; never printed. Repeatable, adds to the chat "
        "defaults.", "STR");
    const QCommandLineOption tokenizer = valueOption(
        "tokenizer", "'world' (bundled RWKV World vocabulary), a World vocabulary .txt file, or "
        "a SentencePiece .model file (default: the model card's, else world).", "world|PATH");
    const QCommandLineOption attention = valueOption(
        "attention", "Sparse attention semantics: 'native' (paper MoBA) or 'compat' (rwkv-x "
        "0.1.3) (default: the model card's, else native).", "native|compat");
    const QCommandLineOption chunkSize = valueOption(
        "chunk-size", "Attention chunk size (default: the model card's, else 2048).", "N");
    const QCommandLineOption topKChunks = valueOption(
        "top-k-chunks", "Attention chunks each query reads (default: the model card's, else 3).",
        "K");
    const QCommandLineOption bypass(
        QStringLiteral("bypass-attention"),
        QStringLiteral("Ablation: attention blocks skip their attention sublayer."));
    const QCommandLineOption threads =
        valueOption("threads", "CPU threads (default 0 = all).", "N", QStringLiteral("0"));
    for (const QCommandLineOption* o :
         {&model, &prompt, &format, &system, &think, &maxTokens, &temperature, &topP, &topK, &minP,
          &presence, &frequency, &decay, &repetition, &seed, &stop, &tokenizer, &attention,
          &chunkSize, &topKChunks, &bypass, &threads})
        parser.addOption(*o);
    addBackendOption(parser);
    if (const auto code = parse(parser, args))
        return *code;
    if (!parser.positionalArguments().isEmpty())
        return fail(QStringLiteral("unexpected argument '%1' (see --help)")
                        .arg(parser.positionalArguments().first()),
                    UsageError);
    if (!parser.isSet(prompt))
        return fail(QStringLiteral("--prompt is required (see --help)"), UsageError);
    QString error;
    const auto chosen = chooseModel(parser.value(model), &error);
    if (!chosen)
        return fail(error);
    const ModelCard* card = chosen->card ? &*chosen->card : nullptr;

    // Prompt format.
    lectern::PromptOptions promptOptions;
    const QString formatName = parser.isSet(format) ? parser.value(format)
                               : card                 ? card->promptStyle
                                                      : QStringLiteral("chat");
    if (formatName == QLatin1String("base"))
        promptOptions.style = lectern::PromptStyle::base;
    else if (formatName == QLatin1String("chat"))
        promptOptions.style = lectern::PromptStyle::chat;
    else
        return fail(QStringLiteral("--format must be 'base' or 'chat'"), UsageError);
    promptOptions.system = parser.value(system).toStdString();
    promptOptions.think = parser.isSet(think);
    auto promptText = lectern::format_prompt(parser.value(prompt).toStdString(), promptOptions);
    if (!promptText)
        return fail(promptText.error().message, UsageError);

    // Sampling.
    lectern::SamplingOptions sampling;
    if (!parseFloat(parser, temperature, &sampling.temperature, &error) ||
        !parseFloat(parser, topP, &sampling.top_p, &error) ||
        !parseInt(parser, topK, &sampling.top_k, &error) ||
        !parseFloat(parser, minP, &sampling.min_p, &error) ||
        !parseFloat(parser, presence, &sampling.presence_penalty, &error) ||
        !parseFloat(parser, frequency, &sampling.frequency_penalty, &error) ||
        !parseFloat(parser, decay, &sampling.penalty_decay, &error) ||
        !parseFloat(parser, repetition, &sampling.repetition_penalty, &error) ||
        !parseInt(parser, maxTokens, &sampling.max_tokens, &error))
        return fail(error, UsageError);
    if (parser.isSet(seed)) {
        bool ok = false;
        sampling.seed = parser.value(seed).toULongLong(&ok);
        if (!ok)
            return fail(QStringLiteral("--seed: not an unsigned integer: '%1'")
                            .arg(parser.value(seed)),
                        UsageError);
    } else {
        std::random_device device;
        sampling.seed = (std::uint64_t(device()) << 32) | device();
    }
    sampling.stop_tokens = lectern::default_stop_tokens(promptOptions.style);
    sampling.stop_strings = lectern::default_stop_strings(promptOptions.style);
    for (const QString& s : parser.values(stop))
        sampling.stop_strings.push_back(s.toStdString());
    if (auto valid = lectern::validate(sampling); !valid)
        return fail(valid.error().message, UsageError);

    // Runtime and attention.
    lectern::RuntimeOptions runtime;
    lectern::AttentionOptions attn;
    if (card) {
        attn.chunk_size = card->chunkSize;
        attn.top_k = card->topK;
    }
    attn.bypass = parser.isSet(bypass);
    if (!parseInt(parser, threads, &runtime.threads, &error) ||
        !parseInt(parser, chunkSize, &attn.chunk_size, &error) ||
        !parseInt(parser, topKChunks, &attn.top_k, &error))
        return fail(error, UsageError);
    if (runtime.threads < 0)
        return fail(QStringLiteral("--threads must be >= 0"), UsageError);
    if (attn.chunk_size < 1 || attn.top_k < 1)
        return fail(QStringLiteral("--chunk-size and --top-k-chunks must be positive"),
                    UsageError);
    const QString modeName = parser.isSet(attention) ? parser.value(attention)
                             : card                    ? card->attention
                                                       : QStringLiteral("native");
    if (const auto mode = parseAttentionMode(modeName))
        attn.mode = *mode;
    else
        return fail(QStringLiteral("--attention must be 'native' or 'compat'"), UsageError);

    auto tok = TokenizerLoader::load(parser.isSet(tokenizer) ? parser.value(tokenizer)
                                                             : defaultTokenizer(*chosen));
    if (!tok)
        return fail(tok.error().message);
    // The default stop ids (261 "\n\n", 0) are World ids; other vocabularies rely on the strings.
    if ((*tok)->kind() != "world")
        sampling.stop_tokens.clear();
    if (!applyBackend(parser, runtime, &error))
        return fail(error);
    auto loaded = lectern::Model::load(enginePath(chosen->path),
                                       runtime);
    if (!loaded)
        return fail(loaded.error().message);
    const std::vector<lectern::token_id> ids = (*tok)->encode(*promptText);
    if (ids.empty())
        return fail(QStringLiteral("the prompt is empty"), UsageError);
    // A tokenizer made for another model produces ids the model has no embedding for.
    const int modelVocab = (*loaded)->config().vocab;
    for (const lectern::token_id id : ids) {
        if (id >= lectern::token_id(modelVocab))
            return fail(QStringLiteral("the tokenizer does not match the model: the prompt has token "
                                       "id %1 but the model's vocabulary has %2 entries")
                            .arg(id)
                            .arg(modelVocab));
    }

    lectern::State state(*loaded, attn);
    QElapsedTimer timer;
    timer.start();
    auto result = lectern::generate(state, **tok, ids, sampling, [](std::string_view piece) {
        writeStdout(piece);  // flushes
        return true;
    });
    const double seconds = double(timer.nsecsElapsed()) / 1e9;
    if (!result) {
        writeStdout(std::string_view("\n"));
        return fail(result.error().message);
    }
    writeStdout(std::string_view("\n"));
    std::fprintf(stderr, "[%zu prompt tokens, %zu generated in %.2f s, finish: %s, seed %llu]\n",
                 ids.size(), result->tokens.size(), seconds,
                 std::string(lectern::finish_reason_name(result->finish)).c_str(),
                 static_cast<unsigned long long>(sampling.seed));
    return Success;
}

}  // namespace Cli
