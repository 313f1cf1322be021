// Shared plumbing for lectern-cli subcommands.
#include "clicommon.h"

#include <QFile>
#include <QFileInfo>

#include <cstdio>
#include <limits>

namespace Cli {

int fail(const QString& message, int code)
{
    // One line, whatever the message contained.
    QString line = message;
    line.replace(QLatin1Char('\n'), QLatin1Char(' '));
    std::fprintf(stderr, "lectern-cli: %s\n", line.toUtf8().constData());
    return code;
}

int fail(const std::string& message, int code)
{
    return fail(QString::fromStdString(message), code);
}

std::optional<int> parse(QCommandLineParser& parser, const QStringList& args)
{
    const QCommandLineOption helpOption({QStringLiteral("h"), QStringLiteral("help")},
                                        QStringLiteral("Show this help."));
    parser.addOption(helpOption);
    parser.setSingleDashWordOptionMode(QCommandLineParser::ParseAsLongOptions);
    if (!parser.parse(args))
        return fail(parser.errorText() + QStringLiteral(" (see --help)"), UsageError);
    if (parser.isSet(helpOption)) {
        // Qt puts argv[0] (a full path) in the usage line; show the command as typed instead.
        QString help = parser.helpText();
        const QString usage = QStringLiteral("Usage: ");
        const qsizetype end = help.indexOf(QLatin1String(" [options]"));
        if (help.startsWith(usage) && end > usage.size())
            help.replace(usage.size(), end - usage.size(),
                         QStringLiteral("lectern-cli ") + args.value(0));
        writeStdout(help.toUtf8());
        return Success;
    }
    return std::nullopt;
}

void writeStdout(const QByteArray& bytes)
{
    writeStdout(std::string_view(bytes.constData(), size_t(bytes.size())));
}

void writeStdout(std::string_view bytes)
{
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    std::fflush(stdout);
}

std::optional<std::vector<lectern::token_id>> parseIds(const QByteArray& text, QString* error)
{
    std::vector<lectern::token_id> ids;
    QByteArray normalized = text;
    normalized.replace(',', ' ');
    const QList<QByteArray> items = normalized.simplified().split(' ');
    for (const QByteArray& item : items) {
        if (item.isEmpty())
            continue;
        bool ok = false;
        const qulonglong value = item.toULongLong(&ok, 10);
        if (!ok || value > std::numeric_limits<lectern::token_id>::max()) {
            *error = QStringLiteral("not a token id: '%1'").arg(QString::fromUtf8(item.left(40)));
            return std::nullopt;
        }
        ids.push_back(lectern::token_id(value));
    }
    return ids;
}

std::optional<lectern::AttentionMode> parseAttentionMode(const QString& name)
{
    if (name == QLatin1String("native"))
        return lectern::AttentionMode::native;
    if (name == QLatin1String("compat"))
        return lectern::AttentionMode::compat;
    return std::nullopt;
}

std::optional<lectern::KvDType> parseKvDType(const QString& name)
{
    if (name == QLatin1String("f32"))
        return lectern::KvDType::f32;
    if (name == QLatin1String("f16"))
        return lectern::KvDType::f16;
    if (name == QLatin1String("int8"))
        return lectern::KvDType::int8;
    return std::nullopt;
}

const char* kvDTypeName(lectern::KvDType type)
{
    switch (type) {
    case lectern::KvDType::f32: return "f32";
    case lectern::KvDType::f16: return "f16";
    case lectern::KvDType::int8: return "int8";
    }
    return "?";
}

std::optional<QByteArray> readFile(const QString& path, QString* error)
{
    const QFileInfo info(path);
    if (!info.exists()) {
        *error = path + QStringLiteral(": no such file");
        return std::nullopt;
    }
    if (info.isDir()) {
        *error = path + QStringLiteral(": is a directory");
        return std::nullopt;
    }
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *error = path + QStringLiteral(": ") + file.errorString();
        return std::nullopt;
    }
    return file.readAll();
}

}  // namespace Cli
