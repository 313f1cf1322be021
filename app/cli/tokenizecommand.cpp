// `lectern-cli tokenize` and `lectern-cli detokenize`: text <-> token ids with the World or a
// SentencePiece tokenizer.
#include <QCommandLineParser>

#include "clicommon.h"
#include "commands.h"
#include "tokenizerloader.h"

namespace Cli {
namespace {

QCommandLineOption tokenizerOption()
{
    return QCommandLineOption(
        QStringLiteral("tokenizer"),
        QStringLiteral("'world' (bundled RWKV World vocabulary, the default), a World vocabulary "
                       ".txt file, or a SentencePiece .model file."),
        QStringLiteral("world|PATH"), QStringLiteral("world"));
}

}  // namespace

int runTokenize(const QStringList& args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Print the token ids of TEXT (or of a file's exact bytes) on one line, "
                       "comma-separated."));
    const QCommandLineOption tokenizer = tokenizerOption();
    const QCommandLineOption file(QStringLiteral("file"),
                                  QStringLiteral("Tokenize this file's bytes exactly."),
                                  QStringLiteral("F"));
    parser.addOption(tokenizer);
    parser.addOption(file);
    parser.addPositionalArgument(QStringLiteral("text"), QStringLiteral("Text to tokenize."));
    if (const auto code = parse(parser, args))
        return *code;

    const QStringList positional = parser.positionalArguments();
    QByteArray text;
    if (parser.isSet(file)) {
        if (!positional.isEmpty())
            return fail(QStringLiteral("give either TEXT or --file, not both"), UsageError);
        QString error;
        const auto bytes = readFile(parser.value(file), &error);
        if (!bytes)
            return fail(error);
        text = *bytes;
    } else {
        if (positional.size() != 1)
            return fail(QStringLiteral("expected one TEXT argument or --file F (see --help)"),
                        UsageError);
        text = positional.first().toUtf8();
    }

    auto tok = TokenizerLoader::load(parser.value(tokenizer));
    if (!tok)
        return fail(tok.error().message);

    const std::vector<lectern::token_id> ids =
        (*tok)->encode(std::string_view(text.constData(), size_t(text.size())));
    std::string line;
    line.reserve(ids.size() * 6 + 1);
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i)
            line += ',';
        line += std::to_string(ids[i]);
    }
    line += '\n';
    writeStdout(line);
    return Success;
}

int runDetokenize(const QStringList& args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Print the text of token IDS (separated by commas and/or spaces). The "
                       "bytes are written exactly, without a trailing newline."));
    const QCommandLineOption tokenizer = tokenizerOption();
    parser.addOption(tokenizer);
    parser.addPositionalArgument(QStringLiteral("ids"), QStringLiteral("Token ids, e.g. 1,2,3."));
    if (const auto code = parse(parser, args))
        return *code;

    const QStringList positional = parser.positionalArguments();
    if (positional.isEmpty())
        return fail(QStringLiteral("expected token IDS (see --help)"), UsageError);
    QString error;
    const auto ids = parseIds(positional.join(QLatin1Char(' ')).toUtf8(), &error);
    if (!ids)
        return fail(error, UsageError);

    auto tok = TokenizerLoader::load(parser.value(tokenizer));
    if (!tok)
        return fail(tok.error().message);
    auto bytes = (*tok)->decode_bytes(*ids);
    if (!bytes)
        return fail(bytes.error().message);
    writeStdout(*bytes);
    return Success;
}

}  // namespace Cli
