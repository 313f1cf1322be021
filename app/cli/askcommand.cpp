// `lectern-cli ask`: load what a model learned while reading a document (a store made by
// `lectern-cli ingest`) and process only the question: write its logits and/or stream an answer,
// optionally with the parts of the document the attention looked at.
#include <QCommandLineParser>
#include <QFile>

#include <algorithm>
#include <cstdio>
#include <random>
#include <span>
#include <vector>

#include "clicommon.h"
#include "commands.h"
#include "enginepath.h"
#include "lectern/document_store.h"
#include "lectern/generate.h"
#include "lectern/inference.h"
#include "lectern/prompt_format.h"
#include "locationmap.h"

namespace Cli {
namespace {

// Stands in for a tokenizer when the store was made from token ids and none is given: generated
// tokens are shown as their ids.
class IdsTokenizer final : public lectern::Tokenizer {
public:
    explicit IdsTokenizer(std::size_t vocab) : m_vocab(vocab) {}
    std::string_view kind() const override { return "ids"; }
    std::size_t vocab_size() const override { return m_vocab; }
    std::vector<lectern::token_id> encode(std::string_view) const override { return {}; }
    lectern::Result<std::string> token_bytes(lectern::token_id id) const override
    {
        return std::to_string(id) + " ";
    }

private:
    std::size_t m_vocab;
};

bool parseFloatOpt(const QCommandLineParser& p, const char* name, float* out, QString* error)
{
    const QString n = QString::fromLatin1(name);
    if (!p.isSet(n))
        return true;
    bool ok = false;
    const float v = p.value(n).toFloat(&ok);
    if (!ok) {
        *error = QStringLiteral("--%1: not a number: '%2'").arg(n, p.value(n).left(40));
        return false;
    }
    *out = v;
    return true;
}

// The tokenizer a store's tokens were made with: --tokenizer (checked against the store), else
// the one recorded with its last source, else the bundled World vocabulary when it matches.
std::optional<LoadedTokenizer> storeTokenizer(const QCommandLineParser& parser,
                                              const lectern::StoreSummary& summary, QString* error)
{
    const lectern::TokenizerIdentity& want = summary.tokenizer;
    const auto matches = [&](const LoadedTokenizer& t) {
        return t.identity.kind == want.kind && t.identity.sha256 == want.sha256;
    };
    if (parser.isSet(QStringLiteral("tokenizer"))) {
        auto t = loadTokenizer(parser.value(QStringLiteral("tokenizer")), error);
        if (!t)
            return std::nullopt;
        if (want.kind != "ids" && !matches(*t)) {
            *error = QStringLiteral("--tokenizer is %1 but the store was made with %2")
                         .arg(describeTokenizer(t->identity), describeTokenizer(want));
            return std::nullopt;
        }
        return t;
    }
    if (want.kind == "ids")
        return LoadedTokenizer{};  // no tokenizer: ids only
    QStringList candidates;
    for (auto it = summary.sources.rbegin(); it != summary.sources.rend(); ++it) {
        // Settings of an extracted document continue after the spec ("; extract=...").
        const QString spec = tokenizerSpecFromSettings(it->settings.substr(0, it->settings.rfind("; extract=")));
        if (!spec.isEmpty() && !candidates.contains(spec))
            candidates << spec;
    }
    if (want.kind == "world" && !candidates.contains(QStringLiteral("world")))
        candidates << QStringLiteral("world");
    for (const QString& spec : candidates) {
        QString ignored;
        auto t = loadTokenizer(spec, &ignored);
        if (t && matches(*t))
            return t;
    }
    *error = QStringLiteral("the store was made with tokenizer %1 and it was not found; give it "
                            "with --tokenizer")
                 .arg(describeTokenizer(want));
    return std::nullopt;
}

QString checkpointList(const lectern::StoreSummary& s)
{
    QStringList items;
    for (const lectern::CheckpointInfo& c : s.checkpoints)
        items << (c.label.empty() ? QString::number(c.position)
                                  : QStringLiteral("%1 (%2)").arg(c.position).arg(
                                        QString::fromStdString(c.label)));
    return items.isEmpty() ? QStringLiteral("none") : items.join(QStringLiteral(", "));
}

// Where each source's text lies in the store's offset space, and its location map (the
// attachment `ingest` keeps for an extracted document), read when first needed.
class SourcePages {
public:
    SourcePages(const lectern::DocumentStore& store, const lectern::StoreSummary& summary)
        : m_store(store)
    {
        std::int64_t base = 0;
        for (const lectern::SourceInfo& s : summary.sources) {
            m_sources.push_back(Source{base, std::int64_t(s.bytes), s.attachment_bytes > 0, {}, false});
            base += std::int64_t(s.bytes);
        }
    }

    // "pages 12-14" for the bytes [begin, end) of the concatenated sources' texts; "" when no
    // source there has a location map.
    QString describe(std::int64_t begin, std::int64_t end)
    {
        QStringList parts;
        for (std::size_t i = 0; i < m_sources.size(); ++i) {
            Source& s = m_sources[i];
            const std::int64_t lo = std::max(begin, s.base), hi = std::min(end, s.base + s.bytes);
            if (lo >= hi || !s.hasMap)
                continue;
            if (!s.loaded) {
                s.loaded = true;
                auto bytes = m_store.read_attachment(int(i));
                if (!bytes) {
                    std::fprintf(stderr, "lectern-cli: warning: %s\n", bytes.error().message.c_str());
                    s.hasMap = false;
                    continue;
                }
                auto map = Ingest::LocationMap::parse(QByteArray(
                    reinterpret_cast<const char*>(bytes->data()), qsizetype(bytes->size())));
                if (!map) {
                    std::fprintf(stderr, "lectern-cli: warning: source %zu: %s\n", i,
                                 map.error().message.c_str());
                    s.hasMap = false;
                    continue;
                }
                s.map = std::move(*map);
            }
            const QString d = s.map.describe(lo - s.base, hi - s.base);
            if (!d.isEmpty())
                parts << (m_sources.size() > 1 ? QStringLiteral("source %1 ").arg(i + 1) + d : d);
        }
        return parts.join(QStringLiteral(", "));
    }

private:
    struct Source {
        std::int64_t base = 0, bytes = 0;
        bool hasMap = false;
        Ingest::LocationMap map;
        bool loaded = false;
    };
    const lectern::DocumentStore& m_store;
    std::vector<Source> m_sources;
};

}  // namespace

int runAsk(const QStringList& args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Ask a question about a document ingested into a store ('lectern-cli ingest'): loads the "
        "saved state (the end of the document, or a checkpoint with --as-of-token) and processes "
        "only the question. Give the question as text (tokenized with the store's tokenizer) or "
        "as --tokens. The answer is streamed to stdout; --logits-out writes the float32 logits "
        "after the last question token (with --max-tokens 0 nothing is generated)."));
    const auto opt = [&parser](const char* name, const char* help, const char* value = nullptr) {
        addOption(parser, name, help, value);
    };
    opt("store", "Store folder made by 'lectern-cli ingest'.", "dir");
    opt("model", "Model checkpoint (default: the one the store was made with).", "file");
    opt("tokens", "The question as token ids (commas and/or spaces) instead of text.", "ids");
    opt("tokenizer", "Tokenizer of the store (default: the one recorded by ingest).", "world|PATH");
    opt("format", "Text questions: 'chat' (default; 'User: Q\\n\\nAssistant:') or 'base' (the "
        "text as it is).", "chat|base");
    opt("as-of-token", "Ask the state saved at this checkpoint position instead of the end.", "n");
    opt("max-tokens", "Stop after N generated tokens (default 200; 0 = generate nothing).", "n");
    opt("logits-out", "Write the float32 logits after the last question token to this file.",
        "file");
    opt("provenance", "After the answer, print the document token ranges the attention read "
        "('attended: begin-end weight', with byte offsets when the store has them and the pages "
        "or chapters they cover for an extracted document).");
    opt("temperature", "Sampling temperature; 0 = greedy (default 1).", "T");
    opt("top-p", "Nucleus sampling, in (0,1] (default 1 = off).", "P");
    opt("top-k", "Sample among the K most likely tokens (default 0 = off).", "K");
    opt("min-p", "Drop tokens less likely than P x the most likely (default 0 = off).", "P");
    opt("presence-penalty", "Subtract X from the logit of every token generated so far.", "X");
    opt("frequency-penalty", "Subtract X x (times generated) from a token's logit.", "X");
    opt("penalty-decay", "Multiply the frequency counts by D after each token (default 1).", "D");
    opt("repetition-penalty", "Divide positive / multiply negative logits of generated tokens "
        "by X (default 1 = off).", "X");
    opt("seed", "Random seed (default: a fresh one, printed in the summary).", "S");
    opt("stop", "Stop when this text appears (repeatable).", "STR");
    opt("threads", "Worker threads (0 = all hardware threads).", "n");
    opt("ram-budget-mb", "Memory for mapped KV chunk files (default 512).", "n");
    addBackendOption(parser);
    if (const auto code = parse(parser, args))
        return *code;
    const QStringList positional = parser.positionalArguments();
    const bool idsGiven = parser.isSet(QStringLiteral("tokens"));
    if (positional.size() > 1 || (idsGiven && !positional.isEmpty()))
        return fail(QStringLiteral("unexpected argument '%1' (give the question once; see --help)")
                        .arg(positional.last()),
                    UsageError);
    if (!idsGiven && positional.isEmpty())
        return fail(QStringLiteral("give a question or --tokens (see --help)"), UsageError);
    if (!parser.isSet(QStringLiteral("store")))
        return fail(QStringLiteral("--store is required (see --help)"), UsageError);

    QString error;
    const auto asOf = int64Option(parser, QStringLiteral("as-of-token"), -1, 0, &error);
    const auto maxTokens = asOf ? int64Option(parser, QStringLiteral("max-tokens"), 200, 0, &error)
                                : std::nullopt;
    const auto threads = maxTokens ? int64Option(parser, QStringLiteral("threads"), 0, 0, &error)
                                   : std::nullopt;
    const auto ramBudget = threads ? int64Option(parser, QStringLiteral("ram-budget-mb"), 512, 1,
                                                 &error)
                                   : std::nullopt;
    if (!ramBudget)
        return fail(error, UsageError);
    if (*maxTokens > (1 << 24) || *threads > 4096 || *ramBudget > (qint64(1) << 30))
        return fail(QStringLiteral("an option value is out of range (see --help)"), UsageError);

    lectern::PromptStyle style = lectern::PromptStyle::chat;
    if (parser.isSet(QStringLiteral("format"))) {
        const QString f = parser.value(QStringLiteral("format"));
        if (f == QLatin1String("base"))
            style = lectern::PromptStyle::base;
        else if (f != QLatin1String("chat"))
            return fail(QStringLiteral("--format must be 'base' or 'chat'"), UsageError);
    }

    lectern::SamplingOptions sampling;
    if (!parseFloatOpt(parser, "temperature", &sampling.temperature, &error) ||
        !parseFloatOpt(parser, "top-p", &sampling.top_p, &error) ||
        !parseFloatOpt(parser, "min-p", &sampling.min_p, &error) ||
        !parseFloatOpt(parser, "presence-penalty", &sampling.presence_penalty, &error) ||
        !parseFloatOpt(parser, "frequency-penalty", &sampling.frequency_penalty, &error) ||
        !parseFloatOpt(parser, "penalty-decay", &sampling.penalty_decay, &error) ||
        !parseFloatOpt(parser, "repetition-penalty", &sampling.repetition_penalty, &error))
        return fail(error, UsageError);
    if (const auto k = int64Option(parser, QStringLiteral("top-k"), 0, 0, &error); !k || *k > (1 << 30))
        return fail(k ? QStringLiteral("--top-k is out of range") : error, UsageError);
    else
        sampling.top_k = int(*k);
    sampling.max_tokens = int(*maxTokens);
    if (parser.isSet(QStringLiteral("seed"))) {
        bool ok = false;
        sampling.seed = parser.value(QStringLiteral("seed")).toULongLong(&ok);
        if (!ok)
            return fail(QStringLiteral("--seed: not an unsigned integer: '%1'")
                            .arg(parser.value(QStringLiteral("seed")).left(40)),
                        UsageError);
    } else {
        std::random_device device;
        sampling.seed = (std::uint64_t(device()) << 32) | device();
    }

    // The store's manifest: model path, tokenizer, checkpoints.
    const QString dir = parser.value(QStringLiteral("store"));
    const std::string dirPath = enginePath(dir);
    auto summary = lectern::DocumentStore::summary(dirPath);
    if (!summary)
        return fail(summary.error().message);
    if (*asOf >= 0) {
        bool found = false;
        for (const lectern::CheckpointInfo& c : summary->checkpoints)
            found = found || c.position == *asOf;
        if (!found)
            return fail(QStringLiteral("--as-of-token %1 is not a checkpoint of this store; "
                                       "checkpoints: %2")
                            .arg(*asOf)
                            .arg(checkpointList(*summary)),
                        UsageError);
    }

    auto tok = storeTokenizer(parser, *summary, &error);
    if (!tok)
        return fail(error);

    lectern::RuntimeOptions runtime;
    runtime.threads = int(*threads);
    if (!applyBackend(parser, runtime, &error))
        return fail(error);
    const QString modelPath = parser.isSet(QStringLiteral("model"))
                                  ? parser.value(QStringLiteral("model"))
                                  : QString::fromStdString(summary->model_path);
    auto model = lectern::Model::load(enginePath(modelPath), runtime);
    if (!model)
        return fail(model.error().message +
                    (parser.isSet(QStringLiteral("model"))
                         ? std::string()
                         : std::string(" (the store's model; give another path with --model)")));
    const std::size_t vocab = std::size_t((*model)->config().vocab);
    IdsTokenizer idsTokenizer(vocab);
    const lectern::Tokenizer& tokenizer =
        tok->tokenizer ? *tok->tokenizer : static_cast<const lectern::Tokenizer&>(idsTokenizer);

    // The question.
    std::vector<lectern::token_id> question;
    if (idsGiven) {
        const auto parsed = parseIds(parser.value(QStringLiteral("tokens")).toUtf8(), &error);
        if (!parsed)
            return fail(error, UsageError);
        question = *parsed;
    } else {
        if (!tok->tokenizer)
            return fail(QStringLiteral("the store was made from token ids: give the question with "
                                       "--tokens, or a tokenizer with --tokenizer"));
        lectern::PromptOptions promptOptions;
        promptOptions.style = style;
        auto text = lectern::format_prompt(positional.first().toStdString(), promptOptions);
        if (!text)
            return fail(text.error().message, UsageError);
        // After a document, a chat turn starts on a new paragraph.
        std::string prompt = *text;
        if (style == lectern::PromptStyle::chat)
            prompt = "\n\n" + prompt;
        question = tokenizer.encode(prompt);
    }
    if (question.empty())
        return fail(QStringLiteral("the question is empty"), UsageError);
    for (const lectern::token_id id : question) {
        if (id >= vocab)
            return fail(QStringLiteral("question token id %1 is outside the model's vocabulary of "
                                       "%2 entries")
                            .arg(id)
                            .arg(vocab));
    }

    // The store and its state.
    lectern::StoreRuntime storeRuntime;
    storeRuntime.ram_budget_bytes = std::uint64_t(*ramBudget) << 20;
    auto store = lectern::DocumentStore::open(dirPath, *model, storeRuntime);
    if (!store)
        return fail(store.error().message);
    if (!summary->complete)
        std::fprintf(stderr, "lectern-cli: note: the store is unfinished (%lld of %lld tokens); "
                             "asking what it has read so far\n",
                     static_cast<long long>(summary->tokens),
                     static_cast<long long>(summary->tokens_expected));
    auto state = store->load_state(*asOf);
    if (!state)
        return fail(state.error().message);

    const bool provenance = parser.isSet(QStringLiteral("provenance"));
    lectern::ForwardTrace trace;
    int traceFirst = 0;
    int traceRows = 0;

    // On the GPU: where the state's KV rows sit after the question (dense or paged), printed last.
    std::string deviceNote;
    const bool logitsOut = parser.isSet(QStringLiteral("logits-out"));
    if (logitsOut || sampling.max_tokens == 0) {
        const bool generateToo = sampling.max_tokens > 0;
        lectern::State probe = generateToo ? state->fork() : std::move(*state);
        std::vector<float> logits;
        auto ok = lectern::forward(probe, question, false, logits,
                                   provenance && !generateToo ? &trace : nullptr);
        if (!ok)
            return fail(ok.error().message);
        deviceNote = lectern::device_memory_note(probe);
        if (logitsOut) {
            QFile file(parser.value(QStringLiteral("logits-out")));
            const QByteArray bytes(reinterpret_cast<const char*>(logits.data()),
                                   qsizetype(logits.size() * sizeof(float)));
            if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate) ||
                file.write(bytes) != bytes.size() || !file.flush())
                return fail(file.fileName() + QStringLiteral(": ") + file.errorString());
        }
        if (!generateToo) {  // provenance of the logits written: the last question token
            traceFirst = int(question.size()) - 1;
            traceRows = 1;
        }
    }

    if (sampling.max_tokens > 0) {
        if (tokenizer.kind() == "world") {
            sampling.stop_tokens = lectern::default_stop_tokens(idsGiven ? lectern::PromptStyle::base
                                                                         : style);
        }
        if (!idsGiven)
            sampling.stop_strings = lectern::default_stop_strings(style);
        for (const QString& s : parser.values(QStringLiteral("stop")))
            sampling.stop_strings.push_back(s.toStdString());
        if (auto valid = lectern::validate(sampling); !valid)
            return fail(valid.error().message, UsageError);
        auto result = lectern::generate(*state, tokenizer, question, sampling,
                                        [](std::string_view piece) {
                                            writeStdout(piece);
                                            return true;
                                        },
                                        provenance ? &trace : nullptr);
        writeStdout(std::string_view("\n"));
        if (!result)
            return fail(result.error().message);
        deviceNote = lectern::device_memory_note(*state);
        std::fprintf(stderr, "[%zu question tokens, %zu generated, finish: %s, seed %llu]\n",
                     question.size(), result->tokens.size(),
                     std::string(lectern::finish_reason_name(result->finish)).c_str(),
                     static_cast<unsigned long long>(sampling.seed));
        traceFirst = int(question.size()) - 1;
        traceRows = int(result->tokens.size()) +
                    (result->finish == lectern::FinishReason::stop_token ? 1 : 0);
        traceRows = std::max(1, std::min(traceRows, trace.rows - traceFirst));
    }

    if (provenance && trace.rows > 0 && traceRows > 0) {
        const auto ranges = store->attended_ranges(trace, traceFirst, traceRows);
        const std::int64_t total = store->tokens();
        std::uint64_t totalBytes = 0;
        for (const lectern::SourceInfo& s : summary->sources)
            totalBytes += s.bytes;
        QByteArray out;
        SourcePages pages(*store, *summary);
        for (const lectern::AttendedRange& r : ranges) {
            QString line = QStringLiteral("attended: %1-%2 %3")
                               .arg(r.begin)
                               .arg(r.end)
                               .arg(r.weight, 0, 'f', 4);
            // Tokens ingested without offsets (from ids) read back as -1.
            auto first = store->read_offsets(r.begin, r.begin + 1);
            if (first && !first->empty() && first->front() >= 0) {
                std::int64_t endByte = std::int64_t(totalBytes);
                if (r.end < total) {
                    auto next = store->read_offsets(r.end, r.end + 1);
                    if (next && !next->empty() && next->front() >= 0)
                        endByte = next->front();
                }
                line += QStringLiteral(" bytes %1-%2").arg(first->front()).arg(endByte);
                const QString where = pages.describe(first->front(), endByte);
                if (!where.isEmpty())
                    line += QLatin1Char(' ') + where;
            }
            out += line.toUtf8() + '\n';
        }
        if (ranges.empty())
            out += "attended: nothing in the document\n";
        writeStdout(out);
    }
    if (!deviceNote.empty())
        std::fprintf(stderr, "[%s]\n", deviceNote.c_str());
    return Success;
}

}  // namespace Cli
