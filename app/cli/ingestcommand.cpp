// `lectern-cli ingest`: read a document once through a model into a document store (a folder),
// so that later questions (`lectern-cli ask`) process only the question. Documents (PDF, EPUB,
// HTML, text) go through lectern_ingest first: the extracted text is tokenized and its location
// map is kept as the source's attachment (LocationMap, JSON). Resumes an interrupted ingest of
// the same file; appends another file only when asked to.
#include <QCommandLineParser>
#include <QDir>
#include <QDirIterator>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <span>
#include <vector>

#ifdef _WIN32
#include <io.h>  // _isatty, _fileno
#else
#include <unistd.h>
#endif

#include "clicommon.h"
#include "commands.h"
#include "enginepath.h"
#include "extractor.h"
#include "locationmap.h"
#include "lectern/document_store.h"
#include "lectern/inference.h"

namespace Cli {
namespace {

std::atomic<bool> g_cancel{false};

extern "C" void onInterrupt(int)
{
    g_cancel.store(true);
}

QString formatDuration(double seconds)
{
    if (!(seconds >= 0) || seconds > 1e7)
        return QStringLiteral("?");
    const qint64 s = qint64(seconds + 0.5);
    if (s >= 3600)
        return QStringLiteral("%1h%2m").arg(s / 3600).arg((s % 3600) / 60, 2, 10, QLatin1Char('0'));
    if (s >= 60)
        return QStringLiteral("%1m%2s").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1s").arg(s);
}

// Byte offset of each token's first byte, when the tokens' bytes spell the text (World), or the
// text after one dummy-prefix space (SentencePiece). Empty when they do not line up.
std::vector<std::int64_t> tokenOffsets(const lectern::Tokenizer& tok,
                                       const std::vector<lectern::token_id>& ids,
                                       const QByteArray& text, std::int64_t base)
{
    std::vector<std::int64_t> starts;
    starts.reserve(ids.size());
    std::string joined;
    joined.reserve(std::size_t(text.size()) + 1);
    for (const lectern::token_id id : ids) {
        starts.push_back(std::int64_t(joined.size()));
        auto bytes = tok.token_bytes(id);
        if (!bytes)
            return {};
        joined += *bytes;
    }
    const std::string_view t(text.constData(), std::size_t(text.size()));
    std::int64_t shift = 0;
    if (joined == t)
        shift = 0;
    else if (joined.size() == t.size() + 1 && joined[0] == ' ' && std::string_view(joined).substr(1) == t)
        shift = 1;
    else
        return {};
    for (std::int64_t& s : starts)
        s = base + std::max<std::int64_t>(0, s - shift);
    return starts;
}

void printSummary(const lectern::StoreSummary& s, const QString& dir)
{
    std::printf("tokens: %lld\n", static_cast<long long>(s.tokens));
    std::printf("tokens_expected: %lld\n", static_cast<long long>(s.tokens_expected));
    std::printf("status: %s\n", s.complete ? "complete" : "unfinished");
    std::printf("sources: %zu\n", s.sources.size());
    std::printf("checkpoints: %zu\n", s.checkpoints.size());
    std::printf("disk_bytes: %llu\n", static_cast<unsigned long long>(s.disk_bytes));
    std::printf("bytes_per_token: %.1f\n", s.bytes_per_token);
    std::printf("store: %s\n", QDir::toNativeSeparators(dir).toUtf8().constData());
    std::fflush(stdout);
}

bool dirIsEmptyOrMissing(const QString& path)
{
    const QFileInfo info(path);
    if (!info.exists())
        return true;
    if (!info.isDir())
        return false;
    return QDir(path).isEmpty(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden | QDir::System);
}

// A folder left by a `create` that was interrupted before it wrote the manifest (the commit
// point): only the store's empty skeleton (tokens/, checkpoints/, kv/b<j>/) and perhaps a
// half-written manifest. Such a folder holds nothing and may be made again.
bool isInterruptedCreate(const QString& path)
{
    const QDir dir(path);
    if (QFileInfo::exists(dir.filePath(QStringLiteral("manifest.json"))))
        return false;
    const QStringList skeleton{QStringLiteral("tokens"), QStringLiteral("checkpoints"),
                               QStringLiteral("kv")};
    const QFileInfoList top =
        dir.entryInfoList(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden | QDir::System);
    for (const QFileInfo& e : top) {
        if (e.isDir() && !e.isSymLink() && skeleton.contains(e.fileName())) {
            QDirIterator it(e.filePath(), QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden |
                                              QDir::System,
                            QDirIterator::Subdirectories);
            while (it.hasNext()) {
                const QFileInfo f(it.next());
                if (!f.isDir() || f.isSymLink())
                    return false;
            }
        } else if (!(e.isFile() && e.fileName().startsWith(QStringLiteral("manifest.json")))) {
            return false;
        }
    }
    return true;
}

// What a document file becomes before tokenizing: the extracted text (PDF, EPUB, HTML, text in
// any encoding; lectern_ingest) and its location map, kept with the source as its attachment so
// that `ask --provenance` can name pages. Offsets index `text`.
struct SourceText {
    QByteArray text;
    QByteArray attachment;  // LocationMap::serialize(); empty for raw text
    std::string settings;   // "; extract=<format>; ocr=on|off; file_bytes=<n>" or ""
};

std::optional<SourceText> extractSource(const QString& path, const QByteArray& fileBytes,
                                        const Ingest::ExtractOptions& options, QString* error)
{
    auto doc = Ingest::Extractor::extractFile(path, options);
    if (!doc) {
        *error = QString::fromStdString(doc.error().message);
        return std::nullopt;
    }
    constexpr int kShownWarnings = 20;
    for (int i = 0; i < doc->warnings.size() && i < kShownWarnings; ++i)
        std::fprintf(stderr, "lectern-cli: warning: %s\n", doc->warnings[i].toUtf8().constData());
    if (doc->warnings.size() > kShownWarnings)
        std::fprintf(stderr, "lectern-cli: warning: ... and %lld more (see 'lectern-cli extract')\n",
                     static_cast<long long>(doc->warnings.size() - kShownWarnings));
    SourceText out;
    out.text = std::move(doc->text);
    doc->text.clear();
    Ingest::LocationMap map = Ingest::LocationMap::fromDocument(*doc);
    map.textBytes = out.text.size();
    out.attachment = map.serialize();
    out.settings = "; extract=" + std::string(Ingest::ExtractedDocument::formatName(doc->format)) +
                   "; ocr=" + (options.ocr ? "on" : "off") +
                   "; file_bytes=" + std::to_string(fileBytes.size());
    return out;
}

}  // namespace

int runIngest(const QStringList& args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Read a document once through a model into a document store (a folder): recurrent-state "
        "checkpoints, the attention KV cache and the token stream, so that 'lectern-cli ask' later "
        "processes only the question. Give a document (PDF, EPUB, HTML, Markdown or text: its "
        "text is extracted as 'lectern-cli extract' does, tokenized with --tokenizer, and its "
        "page map kept so that 'ask --provenance' names pages) or --tokens-file. Run the same "
        "command again to resume an interrupted ingest (Ctrl+C saves a checkpoint first). Progress goes to stderr, a summary to stdout."));
    const auto opt = [&parser](const char* name, const char* help, const char* value = nullptr) {
        addOption(parser, name, help, value);
    };
    opt("model", "Model checkpoint (.pth or .safetensors; default: the bundled demo model). A "
        "model card beside it (model.json) supplies the defaults of --tokenizer, --chunk-size "
        "and --top-k.", "file");
    opt("store", "Store folder (created when missing or empty).", "dir");
    opt("tokens-file", "Ingest token ids from this file (commas and/or whitespace) instead of "
        "text.", "file");
    opt("tokenizer", "For text: 'world' (bundled), a World vocabulary .txt or a SentencePiece "
        ".model (default: the model card's, else world).", "world|PATH");
    opt("password", "Password of an encrypted PDF.", "password");
    opt("ocr", "OCR PDF pages without a text layer (Tesseract; slow). Off: such pages are "
        "reported and skipped.");
    opt("append", "Add the file as a new source to a store that already holds another one.");
    opt("checkpoint-every", "New store: tokens between state checkpoints (default 65536).", "n");
    opt("chunk-size", "New store: attention chunk size (default: the model card's, else 2048).",
        "n");
    opt("top-k", "New store: attention top-k (default: the model card's, else 3).", "k");
    opt("kv-dtype", "New store: KV cache precision f32, f16 (default) or int8.", "type");
    opt("disk-budget-mb", "Stop with an error when the store would grow past this (0 = no "
        "limit). Recorded in the store; given again for an existing store, it replaces the "
        "recorded budget.", "n");
    opt("ram-budget-mb", "Memory for mapped KV chunk files (default 512).", "n");
    opt("threads", "Worker threads (0 = all hardware threads).", "n");
    addBackendOption(parser);
    if (const auto code = parse(parser, args))
        return *code;
    const QStringList positional = parser.positionalArguments();
    const bool fromIds = parser.isSet(QStringLiteral("tokens-file"));
    if (positional.size() > 1 || (fromIds && !positional.isEmpty()))
        return fail(QStringLiteral("unexpected argument '%1' (see --help)").arg(positional.last()),
                    UsageError);
    if (!fromIds && positional.isEmpty())
        return fail(QStringLiteral("give a text file or --tokens-file (see --help)"), UsageError);
    if (!parser.isSet(QStringLiteral("store")))
        return fail(QStringLiteral("--store is required (see --help)"), UsageError);
    if (fromIds && parser.isSet(QStringLiteral("tokenizer")))
        return fail(QStringLiteral("--tokenizer applies to text files, not --tokens-file"),
                    UsageError);
    if (fromIds && (parser.isSet(QStringLiteral("password")) || parser.isSet(QStringLiteral("ocr"))))
        return fail(QStringLiteral("--password and --ocr apply to documents, not --tokens-file"),
                    UsageError);

    // Options.
    QString error;
    const auto chosen = chooseModel(parser.value(QStringLiteral("model")), &error);
    if (!chosen)
        return fail(error);
    lectern::StoreOptions options;
    lectern::RuntimeOptions runtime;
    if (chosen->card) {
        options.attention.mode = *parseAttentionMode(chosen->card->attention);
        options.attention.chunk_size = chosen->card->chunkSize;
        options.attention.top_k = chosen->card->topK;
    }
    if (parser.isSet(QStringLiteral("kv-dtype"))) {
        const QString t = parser.value(QStringLiteral("kv-dtype"));
        if (const auto parsed = parseKvDType(t))
            options.attention.kv_dtype = *parsed;
        else
            return fail(QStringLiteral("invalid --kv-dtype '%1' (expected f32, f16 or int8)")
                            .arg(t.left(40)),
                        UsageError);
    }
    const auto chunk = int64Option(parser, QStringLiteral("chunk-size"),
                                   options.attention.chunk_size, 1, &error);
    const auto topK = chunk ? int64Option(parser, QStringLiteral("top-k"), options.attention.top_k,
                                          1, &error)
                            : std::nullopt;
    const auto every = topK ? int64Option(parser, QStringLiteral("checkpoint-every"),
                                          options.checkpoint_every, 1, &error)
                            : std::nullopt;
    const auto budget = every ? int64Option(parser, QStringLiteral("disk-budget-mb"), 0, 0, &error)
                              : std::nullopt;
    const auto threads = budget ? int64Option(parser, QStringLiteral("threads"), 0, 0, &error)
                                : std::nullopt;
    const auto ramBudget = threads ? int64Option(parser, QStringLiteral("ram-budget-mb"), 512, 1,
                                                 &error)
                                   : std::nullopt;
    if (!ramBudget)
        return fail(error, UsageError);
    if (*ramBudget > (qint64(1) << 30))
        return fail(QStringLiteral("an option value is out of range (see --help)"), UsageError);
    lectern::StoreRuntime storeRuntime;
    storeRuntime.ram_budget_bytes = std::uint64_t(*ramBudget) << 20;
    if (*chunk > (1 << 24) || *topK > 4096 || *threads > 4096 || *budget > (qint64(1) << 40))
        return fail(QStringLiteral("an option value is out of range (see --help)"), UsageError);
    options.attention.chunk_size = int(*chunk);
    options.attention.top_k = int(*topK);
    options.checkpoint_every = *every;
    options.disk_budget_bytes = std::uint64_t(*budget) << 20;
    runtime.threads = int(*threads);

    // The source and its tokens.
    const QString sourcePath = fromIds ? parser.value(QStringLiteral("tokens-file")) : positional.first();
    const auto sourceBytes = readFile(sourcePath, &error);
    if (!sourceBytes)
        return fail(error);
    lectern::SourceInfo source;
    source.name = QFileInfo(sourcePath).fileName().toStdString();
    source.sha256 = sha256Hex(*sourceBytes);
    source.bytes = std::uint64_t(sourceBytes->size());
    const QString dir = parser.value(QStringLiteral("store"));
    const std::string dirPath = enginePath(dir);

    // Documents are extracted; the text the tokens and offsets refer to is the extracted text,
    // and SourceInfo::bytes is its size (the store's offsets count bytes of the sources' texts).
    // An unfinished ingest begun by a Lectern that tokenized text files as they are (its settings
    // name no extractor) is resumed the same way.
    QByteArray text = *sourceBytes;
    QByteArray attachment;
    std::string extractSettings;
    if (!fromIds) {
        bool raw = false;
        if (QFileInfo::exists(dir + QStringLiteral("/manifest.json"))) {
            if (auto s = lectern::DocumentStore::summary(dirPath); s && !s->sources.empty()) {
                const lectern::SourceInfo& last = s->sources.back();
                raw = last.sha256 == source.sha256 &&
                      s->tokens < last.first_token + last.tokens &&
                      last.settings.find("; extract=") == std::string::npos;
            }
        }
        if (!raw) {
            Ingest::ExtractOptions extractOptions;
            extractOptions.password = parser.value(QStringLiteral("password")).toUtf8();
            extractOptions.ocr = parser.isSet(QStringLiteral("ocr"));
            auto extracted = extractSource(sourcePath, *sourceBytes, extractOptions, &error);
            if (!extracted)
                return fail(error);
            text = std::move(extracted->text);
            attachment = std::move(extracted->attachment);
            extractSettings = extracted->settings;
            source.bytes = std::uint64_t(text.size());
        }
    }

    std::optional<LoadedTokenizer> tok;
    std::vector<lectern::token_id> ids;
    lectern::TokenizerIdentity identity{"ids", ""};
    if (fromIds) {
        const auto parsed = parseIds(*sourceBytes, &error);
        if (!parsed)
            return fail(sourcePath + QStringLiteral(": ") + error);
        ids = *parsed;
        source.settings = sourceSettings(QStringLiteral("ids"));
    } else {
        tok = loadTokenizer(parser.isSet(QStringLiteral("tokenizer"))
                                ? parser.value(QStringLiteral("tokenizer"))
                                : defaultTokenizer(*chosen),
                            &error);
        if (!tok)
            return fail(error);
        identity = tok->identity;
        ids = tok->tokenizer->encode(std::string_view(text.constData(), std::size_t(text.size())));
        source.settings = sourceSettings(tok->spec) + extractSettings;
    }
    if (ids.empty())
        return fail(sourcePath + (fromIds || extractSettings.empty()
                                      ? QStringLiteral(": no tokens to ingest (the file is empty)")
                                      : QStringLiteral(": no text to ingest (nothing was extracted; "
                                                       "a scanned PDF needs --ocr)")));
    source.tokens = std::int64_t(ids.size());

    // The model.
    if (!applyBackend(parser, runtime, &error))
        return fail(error);
    auto model = lectern::Model::load(enginePath(chosen->path), runtime);
    if (!model)
        return fail(model.error().message);
    const std::size_t vocab = std::size_t((*model)->config().vocab);
    if (tok && tok->tokenizer->vocab_size() > vocab)
        return fail(QStringLiteral("the tokenizer does not match the model: %1 has %2 token ids but "
                                   "the model's vocabulary has %3 entries (see --tokenizer)")
                        .arg(describeTokenizer(identity))
                        .arg(tok->tokenizer->vocab_size())
                        .arg(vocab));
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (ids[i] >= vocab) {
            if (fromIds)
                return fail(QStringLiteral("%1: token id %2 (item %3) is outside the model's "
                                           "vocabulary of %4 entries")
                                .arg(sourcePath)
                                .arg(ids[i])
                                .arg(i)
                                .arg(vocab));
            return fail(QStringLiteral("the tokenizer does not match the model: the text has token "
                                       "id %1 but the model's vocabulary has %2 entries")
                            .arg(ids[i])
                            .arg(vocab));
        }
    }

    // Create or open the store.
    std::optional<lectern::DocumentStore> store;
    std::int64_t offsetBase = 0;
    if (!dirIsEmptyOrMissing(dir) && isInterruptedCreate(dir)) {
        std::fprintf(stderr, "lectern-cli: %s holds an unfinished store creation; starting over\n",
                     dir.toUtf8().constData());
        const QDir d(dir);
        for (const QFileInfo& e : d.entryInfoList(QDir::AllEntries | QDir::NoDotAndDotDot |
                                                  QDir::Hidden | QDir::System)) {
            if (e.isDir() ? !QDir(e.filePath()).removeRecursively()
                          : !QFile::remove(e.filePath()))
                return fail(e.filePath() + QStringLiteral(": cannot remove a leftover of an "
                                                          "interrupted ingest"));
        }
    }
    if (dirIsEmptyOrMissing(dir)) {
        auto created =
            lectern::DocumentStore::create(dirPath, *model, identity, options, storeRuntime);
        if (!created)
            return fail(created.error().message);
        store.emplace(std::move(*created));
    } else {
        auto summary = lectern::DocumentStore::summary(dirPath);
        if (!summary)
            return fail(QStringLiteral("%1 is not empty and holds no readable store: %2")
                            .arg(dir, QString::fromStdString(summary.error().message)));
        // Store-wide settings are fixed when the store is made.
        const lectern::StoreOptions& have = summary->options;
        const auto differs = [&](const char* name, bool different) {
            if (parser.isSet(QString::fromLatin1(name)) && different) {
                error = QStringLiteral("--%1 differs from the store's setting (fixed when the store "
                                       "was made; see 'lectern-cli store info')")
                            .arg(QString::fromLatin1(name));
                return true;
            }
            return false;
        };
        if (differs("chunk-size", have.attention.chunk_size != options.attention.chunk_size) ||
            differs("top-k", have.attention.top_k != options.attention.top_k) ||
            differs("kv-dtype", have.attention.kv_dtype != options.attention.kv_dtype) ||
            differs("checkpoint-every", have.checkpoint_every != options.checkpoint_every))
            return fail(error, UsageError);
        if (summary->tokenizer.kind != identity.kind || summary->tokenizer.sha256 != identity.sha256)
            return fail(QStringLiteral("the store was made with tokenizer %1, this ingest uses %2")
                            .arg(describeTokenizer(summary->tokenizer), describeTokenizer(identity)));

        auto opened = lectern::DocumentStore::open(dirPath, *model, storeRuntime);
        if (!opened)
            return fail(opened.error().message);
        store.emplace(std::move(*opened));
        // The budget error says "raise the budget": giving --disk-budget-mb again does that.
        if (parser.isSet(QStringLiteral("disk-budget-mb")) &&
            have.disk_budget_bytes != options.disk_budget_bytes) {
            if (auto ok = store->set_disk_budget(options.disk_budget_bytes); !ok)
                return fail(ok.error().message);
        }
        const lectern::StoreSummary s = store->summary();
        for (const lectern::SourceInfo& src : s.sources)
            offsetBase += std::int64_t(src.bytes);
        if (!s.sources.empty()) {
            const lectern::SourceInfo& last = s.sources.back();
            const bool lastDone = s.tokens >= last.first_token + last.tokens;
            if (last.sha256 == source.sha256) {
                if (lastDone) {
                    std::fprintf(stderr, "lectern-cli: %s is already ingested; nothing to do\n",
                                 sourcePath.toUtf8().constData());
                    printSummary(s, dir);
                    return Success;
                }
                if (last.tokens != source.tokens)
                    return fail(QStringLiteral("%1 now gives %2 tokens but the unfinished ingest "
                                               "expected %3 (was another tokenizer used?)")
                                    .arg(sourcePath)
                                    .arg(source.tokens)
                                    .arg(last.tokens));
                offsetBase -= std::int64_t(last.bytes);
            } else if (!lastDone) {
                return fail(QStringLiteral("the store has an unfinished ingest of another file "
                                           "('%1', %2 of %3 tokens): run that ingest again to "
                                           "finish it before adding %4")
                                .arg(QString::fromStdString(last.name))
                                .arg(s.tokens - last.first_token)
                                .arg(last.tokens)
                                .arg(sourcePath));
            } else if (!parser.isSet(QStringLiteral("append"))) {
                return fail(QStringLiteral("the store already holds another document ('%1'); "
                                           "use --append to add %2 as a new source")
                                .arg(QString::fromStdString(last.name), sourcePath));
            }
        }
    }

    const std::span<const std::byte> attachmentBytes(
        reinterpret_cast<const std::byte*>(attachment.constData()), std::size_t(attachment.size()));
    if (auto begun = store->begin_source(source, attachmentBytes); !begun)
        return fail(begun.error().message);
    const lectern::StoreSummary before = store->summary();
    const lectern::SourceInfo& current = before.sources.back();
    const std::int64_t done = before.tokens - current.first_token;
    if (done < 0 || done > std::int64_t(ids.size()))
        return fail(QStringLiteral("the store's position (%1) does not fit the source").arg(before.tokens));

    std::vector<std::int64_t> offsets;
    if (tok) {
        offsets = tokenOffsets(*tok->tokenizer, ids, text, offsetBase);
        if (offsets.empty())
            std::fprintf(stderr, "lectern-cli: note: the tokens do not spell the text byte for "
                                 "byte; no byte offsets are recorded\n");
    }

    // Ingest, with progress and Ctrl+C.
    g_cancel.store(false);
    std::signal(SIGINT, onInterrupt);
    std::signal(SIGTERM, onInterrupt);
#ifdef _WIN32
    const bool tty = _isatty(_fileno(stderr)) != 0;
#else
    const bool tty = isatty(fileno(stderr)) != 0;
#endif
    QElapsedTimer sinceLine;
    sinceLine.start();
    bool lineOpen = false;
    lectern::IngestControl control;
    control.cancel = &g_cancel;
    std::string deviceNote;  // on the GPU: dense or paged KV, printed with the summary
    control.on_progress = [&](const lectern::IngestProgress& p) {
        deviceNote = p.device_note;
        if (sinceLine.elapsed() < (tty ? 200 : 2000))
            return;
        sinceLine.restart();
        const QString line =
            QStringLiteral("%1/%2 tokens (%3%), %4 tokens/s, ETA %5")
                .arg(p.tokens_done)
                .arg(p.tokens_total)
                .arg(p.tokens_total > 0 ? 100.0 * double(p.tokens_done) / double(p.tokens_total) : 0.0,
                     0, 'f', 1)
                .arg(p.tokens_per_s, 0, 'f', 0)
                .arg(formatDuration(p.eta_s));
        if (tty) {
            std::fprintf(stderr, "\r%s\x1b[K", line.toUtf8().constData());
            lineOpen = true;
        } else {
            std::fprintf(stderr, "%s\n", line.toUtf8().constData());
        }
        std::fflush(stderr);
    };
    const std::span<const lectern::token_id> rest(ids.data() + done, ids.size() - std::size_t(done));
    const std::span<const std::int64_t> restOffsets =
        offsets.empty() ? std::span<const std::int64_t>()
                        : std::span<const std::int64_t>(offsets.data() + done,
                                                        offsets.size() - std::size_t(done));
    QElapsedTimer timer;
    timer.start();
    auto outcome = rest.empty() ? lectern::Result<lectern::IngestOutcome>(lectern::IngestOutcome::complete)
                                : store->ingest(rest, restOffsets, control);
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    if (lineOpen)
        std::fprintf(stderr, "\n");
    if (!outcome) {
        const QString message = QString::fromStdString(outcome.error().message);
        return fail(message.contains(QLatin1String("resume"))
                        ? message
                        : message + QStringLiteral(" (the store keeps its last checkpoint; run "
                                                   "the command again to resume)"));
    }
    const lectern::StoreSummary after = store->summary();
    if (*outcome == lectern::IngestOutcome::cancelled) {
        std::fprintf(stderr,
                     "lectern-cli: interrupted; %lld of %lld tokens saved. Run the same command "
                     "again to resume.\n",
                     static_cast<long long>(after.tokens),
                     static_cast<long long>(after.tokens_expected));
        return 130;
    }
    const double seconds = double(timer.nsecsElapsed()) / 1e9;
    std::fprintf(stderr, "[%lld tokens ingested in %.2f s, %.0f tokens/s]\n",
                 static_cast<long long>(rest.size()), seconds,
                 seconds > 0 ? double(rest.size()) / seconds : 0.0);
    if (!deviceNote.empty())
        std::fprintf(stderr, "[%s]\n", deviceNote.c_str());
    printSummary(after, dir);
    return Success;
}

}  // namespace Cli
