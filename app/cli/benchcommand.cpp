// `lectern-cli bench`: speed measurements. --tokenizer: encode and decode MB/s; --op matmul: the
// CPU backend's matrix product (GFLOP/s, weight GB/s) next to a same-process memcpy baseline;
// --model: prefill and decode tokens/s of a checkpoint, and the peak resident memory; --extract:
// document extraction pages/s next to pdftotext on the same file (extractcommand.cpp).
#include <QCommandLineParser>
#include <QElapsedTimer>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#if defined(__unix__)
#include <sys/resource.h>
#endif

#include "benchgpu.h"
#include "clicommon.h"
#include "commands.h"
#include "extractoptions.h"
#include "lectern/cpu_bench.h"
#include "lectern/inference.h"
#include "tokenizerloader.h"

namespace Cli {

// extractcommand.cpp: extraction pages/s against pdftotext on the same file, as key: value lines.
int runExtractBench(const QString& path, const Ingest::ExtractOptions& options, int repeat);

namespace {

// Deterministic English-like text: words, numbers, punctuation and paragraphs, so the tokenizer
// sees the mix of long and short matches real prose gives it.
std::string synthesizeText(std::size_t bytes, std::uint32_t seed)
{
    static const char* const words[] = {
        "the", "of", "and", "to", "in", "is", "was", "that", "for", "it", "with", "as", "his",
        "on", "be", "at", "by", "had", "not", "are", "but", "from", "or", "have", "an", "they",
        "which", "one", "you", "were", "her", "all", "she", "there", "would", "their", "we",
        "him", "been", "has", "when", "who", "will", "more", "no", "if", "out", "so", "said",
        "what", "up", "its", "about", "into", "than", "them", "can", "only", "other", "new",
        "some", "could", "time", "these", "two", "may", "then", "do", "first", "any", "my",
        "now", "such", "like", "our", "over", "man", "me", "even", "most", "made", "after",
        "also", "did", "many", "before", "must", "through", "back", "years", "where", "much",
        "your", "way", "well", "down", "should", "because", "each", "just", "those", "people",
        "document", "chapter", "library", "memory", "question", "answer", "reading", "river",
        "mountain", "government", "understanding", "nevertheless", "extraordinary", "Lectern",
        "London", "September", "philosophy", "mathematics", "recurrent", "attention", "page",
        "государство", "中文", "café", "naïve", "résumé", "Straße", "東京", "emoji", "🙂"};
    constexpr std::size_t n_words = sizeof(words) / sizeof(words[0]);
    std::mt19937 rng(seed);
    std::string text;
    text.reserve(bytes + 64);
    int in_sentence = 0;
    while (text.size() < bytes) {
        const std::uint32_t r = rng();
        if (in_sentence == 0 && !text.empty())
            text += (r % 7 == 0) ? "\n\n" : " ";
        if (r % 23 == 0)
            text += std::to_string(r % 100000);
        else
            text += words[(r >> 8) % n_words];
        ++in_sentence;
        if ((r >> 20) % 11 == 0 && in_sentence > 4) {
            text += ((r >> 4) % 5 == 0) ? "?" : ".";
            in_sentence = 0;
        } else {
            text += ((r >> 12) % 13 == 0) ? ", " : " ";
        }
    }
    text.resize(bytes);
    return text;
}

// Baseline: one cheap pass over every byte (FNV-1a), to express tokenizer speed as a ratio that
// holds on a shared, noisy machine.
std::uint64_t scanBytes(const std::string& text)
{
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : text)
        h = (h ^ c) * 1099511628211ull;
    return h;
}

double megabytesPerSecond(std::size_t bytes, qint64 nanoseconds)
{
    return nanoseconds > 0 ? double(bytes) / 1e6 / (double(nanoseconds) / 1e9) : 0.0;
}


// Parse a positive integer option; on failure prints the usage error and returns nullopt.
std::optional<int> positiveInt(const QCommandLineParser& parser, const QCommandLineOption& option)
{
    bool ok = false;
    const int v = parser.value(option).toInt(&ok);
    if (!ok || v <= 0) {
        fail(QStringLiteral("--%1 must be a positive integer").arg(option.names().constFirst()),
             UsageError);
        return std::nullopt;
    }
    return v;
}

int runMatmulBench(const QCommandLineParser& parser, const QCommandLineOption& rows,
                   const QCommandLineOption& cols, const QCommandLineOption& tokens,
                   const QCommandLineOption& dtype, const QCommandLineOption& threads,
                   const QCommandLineOption& seconds, const QCommandLineOption& isa)
{
    lectern::MatmulBenchOptions o;
    const auto r = positiveInt(parser, rows), c = positiveInt(parser, cols),
               t = positiveInt(parser, tokens), n = positiveInt(parser, threads);
    if (!r || !c || !t || !n)
        return UsageError;
    o.rows = *r;
    o.cols = *c;
    o.tokens = *t;
    o.threads = *n;
    const QString type = parser.value(dtype);
    if (type == QStringLiteral("f32"))
        o.dtype = lectern::DType::f32;
    else if (type == QStringLiteral("f16"))
        o.dtype = lectern::DType::f16;
    else if (type == QStringLiteral("bf16"))
        o.dtype = lectern::DType::bf16;
    else
        return fail(QStringLiteral("--dtype must be f32, f16 or bf16"), UsageError);
    bool ok = false;
    o.seconds = parser.value(seconds).toDouble(&ok);
    if (!ok || o.seconds <= 0 || o.seconds > 3600)
        return fail(QStringLiteral("--seconds must be a number in (0, 3600]"), UsageError);

    o.isa = parser.value(isa).toStdString();
    const auto result = lectern::bench_matmul(o);
    if (!result)
        return fail(result.error().message);
    std::printf("op: matmul\n");
    std::printf("isa: %s\n", result->isa.c_str());
    std::printf("shape: rows=%d cols=%d tokens=%d dtype=%s threads=%d\n", o.rows, o.cols,
                o.tokens, std::string(lectern::dtype_name(o.dtype)).c_str(), o.threads);
    std::printf("iterations: %d\n", result->iterations);
    std::printf("matmul_ms: %.4f\n", result->seconds_per_call * 1e3);
    std::printf("matmul_gflops: %.2f\n", result->gflops);
    std::printf("matmul_weight_gb_s: %.2f\n", result->weight_gb_s);
    std::printf("memcpy_gb_s: %.2f\n", result->memcpy_gb_s);
    std::printf("weight_bw_vs_memcpy: %.3f\n",
                result->memcpy_gb_s > 0 ? result->weight_gb_s / result->memcpy_gb_s : 0.0);
    return Success;
}

// Peak resident set size of this process in MB (0 where the platform does not say).
double peakRssMb()
{
#if defined(__unix__)
    rusage usage{};
    if (getrusage(RUSAGE_SELF, &usage) == 0)
        return double(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
#endif
    return 0.0;
}

// Deterministic token ids spread over the vocabulary.
std::vector<lectern::token_id> benchTokens(int n, int vocab, std::uint32_t seed)
{
    std::mt19937 rng(seed);
    std::vector<lectern::token_id> ids(static_cast<std::size_t>(n));
    for (auto& id : ids)
        id = lectern::token_id(rng() % std::uint32_t(vocab));
    return ids;
}

// Tokens/s of `n` single-token forward calls on `state`.
lectern::Result<double> decodeTokS(lectern::State& state, int n, int vocab)
{
    std::vector<float> logits;
    const auto ids = benchTokens(n, vocab, 99);
    QElapsedTimer timer;
    timer.start();
    for (int i = 0; i < n; ++i) {
        auto ok = lectern::forward(state, std::span(&ids[std::size_t(i)], 1), false, logits);
        if (!ok)
            return ok.error();
    }
    const double s = double(timer.nsecsElapsed()) / 1e9;
    return s > 0 ? n / s : 0.0;
}

int runModelBench(const QString& path, int prefill, int decode, int context, int threads,
                  const lectern::AttentionOptions& attention, lectern::RuntimeOptions runtime)
{
    runtime.threads = threads;
    auto model = lectern::Model::load(path.toStdString(), runtime);
    if (!model)
        return fail(model.error().message);
    const int vocab = (*model)->config().vocab;
    std::vector<float> logits;

    // Warm-up, untimed: a short prefill and one decode step on a throwaway state, so the timed
    // calls do not pay for faulting in the memory-mapped weights (~0.1 s at 0.1B, 15% of a
    // 512-token prefill) or for first-use scratch allocations; llama-bench warms up likewise.
    {
        lectern::State warm(*model, attention);
        const auto ids = benchTokens(8, vocab, 4);
        if (auto ok = lectern::forward(warm, ids, false, logits); !ok)
            return fail(ok.error().message);
        if (auto ok = lectern::forward(warm, std::span(ids.data(), 1), false, logits); !ok)
            return fail(ok.error().message);
    }

    // Prefill: one call of `prefill` tokens on a fresh state (the engine splits it as it likes).
    lectern::State state(*model, attention);
    const auto prompt = benchTokens(prefill, vocab, 1);
    QElapsedTimer timer;
    timer.start();
    if (auto ok = lectern::forward(state, prompt, false, logits); !ok)
        return fail(ok.error().message);
    const double prefill_s = double(timer.nsecsElapsed()) / 1e9;

    // Decode right after a short prompt, then after `context` tokens of prefill.
    lectern::State fresh(*model, attention);
    if (auto ok = lectern::forward(fresh, benchTokens(16, vocab, 2), false, logits); !ok)
        return fail(ok.error().message);
    const auto decode_short = decodeTokS(fresh, decode, vocab);
    if (!decode_short)
        return fail(decode_short.error().message);
    lectern::State deep(*model, attention);
    if (auto ok = lectern::forward(deep, benchTokens(context, vocab, 3), false, logits); !ok)
        return fail(ok.error().message);
    const auto decode_deep = decodeTokS(deep, decode, vocab);
    if (!decode_deep)
        return fail(decode_deep.error().message);

    std::printf("model: %s\n", qPrintable(path));
    std::printf("backend: %s\n", lectern::backend_name(runtime.backend));
    std::printf("threads: %d\n", threads);
    std::printf("prefill_tokens: %d\n", prefill);
    std::printf("prefill_tok_s: %.1f\n", prefill_s > 0 ? prefill / prefill_s : 0.0);
    std::printf("decode_tokens: %d\n", decode);
    std::printf("decode_tok_s: %.2f\n", *decode_short);
    std::printf("kv_dtype: %s\n", kvDTypeName(attention.kv_dtype));
    std::printf("context: %d\n", context);
    std::printf("decode_tok_s_at_context: %.2f\n", *decode_deep);
    std::printf("peak_rss_mb: %.1f\n", peakRssMb());
    return Success;
}
}  // namespace

int runBench(const QStringList& args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Measure speed. Prints 'key: value' lines. With --tokenizer: encode and "
                       "decode throughput on synthetic prose (or --file), and the ratio to a "
                       "one-pass byte scan run in the same process. With --op matmul: GFLOP/s "
                       "and weight GB/s of the CPU matrix product, and the ratio to a memcpy of "
                       "the weight's size run in the same process."));
    const QCommandLineOption tokenizer(
        QStringLiteral("tokenizer"),
        QStringLiteral("Benchmark this tokenizer: 'world', a vocabulary .txt or a .model file."),
        QStringLiteral("world|PATH"));
    const QCommandLineOption megabytes(QStringLiteral("mb"),
                                       QStringLiteral("Size of the synthetic text (default 100)."),
                                       QStringLiteral("N"), QStringLiteral("100"));
    const QCommandLineOption file(QStringLiteral("file"),
                                  QStringLiteral("Use this file's bytes instead of synthetic text."),
                                  QStringLiteral("F"));
    const QCommandLineOption op(QStringLiteral("op"),
                                QStringLiteral("Benchmark one CPU op: 'matmul' (y = x·Wᵀ)."),
                                QStringLiteral("matmul"));
    const QCommandLineOption rows(QStringLiteral("rows"),
                                  QStringLiteral("matmul: weight rows, output features (768)."),
                                  QStringLiteral("R"), QStringLiteral("768"));
    const QCommandLineOption cols(QStringLiteral("cols"),
                                  QStringLiteral("matmul: weight columns, input features (768)."),
                                  QStringLiteral("C"), QStringLiteral("768"));
    const QCommandLineOption tokens(QStringLiteral("tokens"),
                                    QStringLiteral("matmul: tokens T; 1 is decode (1)."),
                                    QStringLiteral("T"), QStringLiteral("1"));
    const QCommandLineOption dtype(QStringLiteral("dtype"),
                                   QStringLiteral("matmul: weight type f32|f16|bf16 (f16)."),
                                   QStringLiteral("TYPE"), QStringLiteral("f16"));
    const QCommandLineOption seconds(QStringLiteral("seconds"),
                                     QStringLiteral("matmul: measuring time per loop (1)."),
                                     QStringLiteral("S"), QStringLiteral("1"));
    const QCommandLineOption isa(QStringLiteral("isa"),
                                 QStringLiteral("matmul: force scalar|avx2|avx512 (the best)."),
                                 QStringLiteral("ISA"));
    const QCommandLineOption model(QStringLiteral("model"),
                                   QStringLiteral("Benchmark this checkpoint: prefill and decode "
                                                  "(with --prefill, --decode, --context or "
                                                  "--kv-dtype alone: the bundled demo model; a "
                                                  "model card sets chunk size and top-k)."),
                                   QStringLiteral("M"));
    const QCommandLineOption context(QStringLiteral("context"),
                                     QStringLiteral("model: context before the second decode "
                                                    "measurement (4096)."),
                                     QStringLiteral("N"), QStringLiteral("4096"));
    const ModelBenchOptions shared = modelBenchOptions();
    const QCommandLineOption &threads = shared.threads, &prefill = shared.prefill,
                             &decode = shared.decode, &kvDtype = shared.kvDtype;
    const QCommandLineOption extract(
        QStringLiteral("extract"),
        QStringLiteral("Document extraction speed: pages/s of FILE (PDF, EPUB, text) with the "
                       "cleanup on, next to pdftotext's on the same file in the same run, and "
                       "their ratio (best of --repeat, interleaved)."),
        QStringLiteral("FILE"));
    const QCommandLineOption repeat(QStringLiteral("repeat"),
                                    QStringLiteral("extract: runs of each (5)."),
                                    QStringLiteral("N"), QStringLiteral("5"));
    const QCommandLineOption password(QStringLiteral("password"),
                                      QStringLiteral("extract: password of an encrypted PDF."),
                                      QStringLiteral("P"));
    parser.addOption(extract);
    parser.addOption(repeat);
    parser.addOption(password);
    parser.addOption(tokenizer);
    parser.addOption(megabytes);
    parser.addOption(file);
    for (const auto* o : {&op, &rows, &cols, &tokens, &dtype, &threads, &seconds, &isa, &model, &prefill, &decode, &context, &kvDtype})
        parser.addOption(*o);
    addBackendOption(parser);
    addGpuBenchOptions(parser);
    if (const auto code = parse(parser, args))
        return *code;
    if (parser.isSet(extract)) {
        const auto n = positiveInt(parser, repeat);
        if (!n)
            return UsageError;
        Ingest::ExtractOptions options;
        options.password = parser.value(password).toUtf8();
        if (parser.isSet(threads))  // extraction threads only when asked (default: all cores)
            if (const auto t = positiveInt(parser, threads))
                options.threads = *t;
        return runExtractBench(parser.value(extract), options, *n);
    }
    if (parser.isSet(QStringLiteral("shape")))
        return runShapeBench(parser);
    if (parser.isSet(op)) {
        if (parser.value(op) != QStringLiteral("matmul"))
            return fail(QStringLiteral("unknown --op '%1' (known: matmul)").arg(parser.value(op)),
                        UsageError);
        return runMatmulBench(parser, rows, cols, tokens, dtype, threads, seconds, isa);
    }
    if (parser.isSet(model) || parser.isSet(prefill) || parser.isSet(decode) ||
        parser.isSet(context) || parser.isSet(kvDtype)) {
        QString error;
        const auto chosen = chooseModel(parser.value(model), &error);
        if (!chosen)
            return fail(error);
        const auto p = positiveInt(parser, prefill), d = positiveInt(parser, decode),
                   c = positiveInt(parser, context), n = positiveInt(parser, threads);
        if (!p || !d || !c || !n)
            return UsageError;
        lectern::AttentionOptions attention;
        if (chosen->card) {
            attention.mode = *parseAttentionMode(chosen->card->attention);
            attention.chunk_size = chosen->card->chunkSize;
            attention.top_k = chosen->card->topK;
        }
        const auto kv = parseKvDType(parser.value(kvDtype));
        if (!kv)
            return fail(QStringLiteral("--kv-dtype must be f32, f16 or int8"), UsageError);
        attention.kv_dtype = *kv;
        lectern::RuntimeOptions runtime;
        if (!applyBackend(parser, runtime, &error))
            return fail(error);
        return runModelBench(chosen->path, *p, *d, *c, *n, attention, runtime);
    }
    if (!parser.isSet(tokenizer))
        return fail(QStringLiteral("nothing to benchmark: give --tokenizer, --op, --extract, "
                                   "--model or --prefill (see --help)"),
                    UsageError);

    auto tok = TokenizerLoader::load(parser.value(tokenizer));
    if (!tok)
        return fail(tok.error().message);

    std::string text;
    if (parser.isSet(file)) {
        QString error;
        const auto bytes = readFile(parser.value(file), &error);
        if (!bytes)
            return fail(error);
        text.assign(bytes->constData(), size_t(bytes->size()));
    } else {
        bool ok = false;
        const double mb = parser.value(megabytes).toDouble(&ok);
        if (!ok || mb <= 0 || mb > 4096)
            return fail(QStringLiteral("--mb must be a number in (0, 4096]"), UsageError);
        text = synthesizeText(std::size_t(mb * 1e6), 20260101u);
    }

    QElapsedTimer timer;
    timer.start();
    const std::uint64_t hash = scanBytes(text);
    const qint64 scan_ns = timer.nsecsElapsed();

    timer.restart();
    const std::vector<lectern::token_id> ids = (*tok)->encode(text);
    const qint64 encode_ns = timer.nsecsElapsed();

    timer.restart();
    auto decoded = (*tok)->decode_bytes(ids);
    const qint64 decode_ns = timer.nsecsElapsed();
    if (!decoded)
        return fail(decoded.error().message);
    if (*decoded != text && (*tok)->kind() == "world")
        return fail(QStringLiteral("World tokenizer round trip changed the text"));

    const double scan = megabytesPerSecond(text.size(), scan_ns);
    const double encode = megabytesPerSecond(text.size(), encode_ns);
    std::printf("tokenizer: %s\n", std::string((*tok)->kind()).c_str());
    std::printf("text_mb: %.1f\n", double(text.size()) / 1e6);
    std::printf("tokens: %zu\n", ids.size());
    std::printf("bytes_per_token: %.2f\n", double(text.size()) / double(std::max<size_t>(1, ids.size())));
    std::printf("tokenize_mb_s: %.1f\n", encode);
    std::printf("tokenize_tok_s: %.0f\n", encode_ns > 0 ? double(ids.size()) / (double(encode_ns) / 1e9) : 0.0);
    std::printf("detokenize_mb_s: %.1f\n", megabytesPerSecond(text.size(), decode_ns));
    std::printf("baseline_scan_mb_s: %.1f\n", scan);
    std::printf("tokenize_vs_scan: %.3f\n", scan > 0 ? encode / scan : 0.0);
    std::printf("checksum: %016llx\n", static_cast<unsigned long long>(hash));
    return Success;
}

}  // namespace Cli
