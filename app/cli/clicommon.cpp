// Shared plumbing for lectern-cli subcommands (the tokenizer and model choices are in
// clichoose.cpp, which needs the application layer; this file needs only the engine and Qt Core,
// so lectern-gpu-bench builds with it alone).
#include "clicommon.h"

#include <QCoreApplication>
#include <QCryptographicHash>
#include <QFile>
#include <QFileInfo>

#include <cmath>
#include <cstdio>
#include <limits>

namespace Cli {
namespace {

// The program's name in messages: lectern-cli, or lectern-gpu-bench (gpubenchmain.cpp).
QString programName()
{
    const QString name = QCoreApplication::applicationName();
    return name.isEmpty() ? QStringLiteral("lectern-cli") : name;
}

}  // namespace

int fail(const QString& message, int code)
{
    // One line, whatever the message contained.
    QString line = message;
    line.replace(QLatin1Char('\n'), QLatin1Char(' '));
    std::fprintf(stderr, "%s: %s\n", programName().toUtf8().constData(),
                 line.toUtf8().constData());
    return code;
}

int fail(const std::string& message, int code)
{
    return fail(QString::fromStdString(message), code);
}

void addOption(QCommandLineParser& parser, const char* name, const char* help, const char* value)
{
    if (value)
        parser.addOption(QCommandLineOption(QString::fromLatin1(name), QString::fromLatin1(help),
                                            QString::fromLatin1(value)));
    else
        parser.addOption(QCommandLineOption(QString::fromLatin1(name), QString::fromLatin1(help)));
}

void addBackendOption(QCommandLineParser& parser)
{
    parser.addOption(QCommandLineOption(
        QStringLiteral("backend"),
        QStringLiteral("Where the model runs: auto (the GPU when one is usable, else the CPU), "
                       "cpu or cuda (default: $LECTERN_BACKEND, else auto)."),
        QStringLiteral("auto|cpu|cuda")));
    parser.addOption(QCommandLineOption(
        QStringLiteral("gpu-memory-mb"),
        QStringLiteral("cuda: MiB of GPU memory the model may use, weights first, then the "
                       "document's attention cache (what does not fit is read from RAM and "
                       "disk as needed; fractions allowed); 0 = 90% of the free memory "
                       "(default: $LECTERN_GPU_MEMORY_MB, else 0)."),
        QStringLiteral("MiB")));
}

bool applyBackend(const QCommandLineParser& parser, lectern::RuntimeOptions& runtime,
                  QString* error)
{
    QString request = parser.value(QStringLiteral("backend"));
    if (request.isEmpty())
        request = qEnvironmentVariable("LECTERN_BACKEND", QStringLiteral("auto"));
    auto choice = lectern::resolve_backend(request.toStdString());
    if (!choice) {
        *error = QString::fromStdString(choice.error().message);
        return false;
    }
    runtime.backend = choice->backend;
    QString budget = parser.value(QStringLiteral("gpu-memory-mb"));
    if (budget.isEmpty())
        budget = qEnvironmentVariable("LECTERN_GPU_MEMORY_MB", QStringLiteral("0"));
    bool ok = false;
    // MiB, fractions allowed ("2.5"): a small model's budget is a few MiB.
    const double mib = budget.trimmed().toDouble(&ok);
    if (!ok || !(mib >= 0) || mib > double(qint64(1) << 30)) {
        *error = QStringLiteral("invalid --gpu-memory-mb '%1' (expected MiB, 0 = automatic)")
                     .arg(budget.left(40));
        return false;
    }
    runtime.gpu_memory_budget = std::size_t(std::llround(mib * double(1 << 20)));
#ifdef LECTERN_HAVE_CUDA
    if (request == QLatin1String("auto") && choice->backend == lectern::Backend::cpu &&
        !choice->note.empty())
        std::fprintf(stderr, "lectern-cli: note: %s\n", choice->note.c_str());
#endif
    return true;
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
        const QString command = args.value(0);
        if (help.startsWith(usage) && end > usage.size())
            help.replace(usage.size(), end - usage.size(),
                         command.isEmpty() ? programName()
                                           : programName() + QLatin1Char(' ') + command);
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

std::string sha256Hex(const QByteArray& bytes)
{
    return QCryptographicHash::hash(bytes, QCryptographicHash::Sha256).toHex().toStdString();
}

std::optional<qint64> int64Option(const QCommandLineParser& parser, const QString& name,
                                  qint64 fallback, qint64 min, QString* error)
{
    if (!parser.isSet(name))
        return fallback;
    bool ok = false;
    const QString text = parser.value(name);
    const qint64 v = text.toLongLong(&ok);
    if (!ok || v < min) {
        *error = QStringLiteral("invalid --%1 '%2' (expected an integer >= %3)")
                     .arg(name, text.left(40))
                     .arg(min);
        return std::nullopt;
    }
    return v;
}

}  // namespace Cli
