// `lectern-cli bench`: speed measurements. For now the tokenizer (encode and decode MB/s); the
// model engine's prefill/decode figures join it with the inference engine.
#include <QCommandLineParser>
#include <QElapsedTimer>

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>

#include "clicommon.h"
#include "commands.h"
#include "tokenizerloader.h"

namespace Cli {
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

}  // namespace

int runBench(const QStringList& args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Measure speed. Prints 'key: value' lines. With --tokenizer: encode and "
                       "decode throughput on synthetic prose (or --file), and the ratio to a "
                       "one-pass byte scan run in the same process."));
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
    parser.addOption(tokenizer);
    parser.addOption(megabytes);
    parser.addOption(file);
    if (const auto code = parse(parser, args))
        return *code;
    if (!parser.isSet(tokenizer))
        return fail(QStringLiteral("nothing to benchmark: give --tokenizer (see --help)"),
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
