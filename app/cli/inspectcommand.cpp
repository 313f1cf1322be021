// `lectern-cli inspect MODEL [--json]`: the architecture the engine infers from a checkpoint.
#include <QCommandLineParser>
#include <QJsonDocument>

#include "clicommon.h"
#include "commands.h"
#include "modelinfo.h"

namespace Cli {

int runInspect(const QStringList& args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Show the architecture of a model checkpoint (.pth or .safetensors), one "
                       "'key: value' per line, after validating every tensor."));
    const QCommandLineOption json(QStringLiteral("json"), QStringLiteral("Print one JSON object."));
    parser.addOption(json);
    parser.addPositionalArgument(QStringLiteral("model"), QStringLiteral("Model file."));
    if (const auto code = parse(parser, args))
        return *code;
    const QStringList positional = parser.positionalArguments();
    if (positional.size() != 1)
        return fail(QStringLiteral("expected one MODEL argument (see --help)"), UsageError);

    auto info = ModelInfo::load(positional.first());
    if (!info)
        return fail(info.error().message);
    if (parser.isSet(json))
        writeStdout(QJsonDocument(info->toJson()).toJson(QJsonDocument::Indented));
    else
        writeStdout(info->toText().toUtf8());
    return Success;
}

}  // namespace Cli
