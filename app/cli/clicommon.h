// Shared plumbing for lectern-cli subcommands: argument parsing with per-command --help,
// one-line errors on stderr, and raw byte output.
#pragma once

#include <QByteArray>
#include <QCommandLineParser>
#include <QString>
#include <QStringList>

#include <optional>
#include <vector>

#include "lectern/inference.h"
#include "lectern/tokenizer.h"

namespace Cli {

// Exit codes: 0 success, 1 the operation failed, 2 the command line was wrong.
enum ExitCode { Success = 0, Failure = 1, UsageError = 2 };

// Print "lectern-cli: <message>" on one line to stderr; returns `code`.
int fail(const QString& message, int code = Failure);
int fail(const std::string& message, int code = Failure);

// Parse `args` (args[0] is the command name). Handles --help itself. Returns an exit code when
// the command must stop now (help shown: Success; bad arguments: UsageError), else nullopt.
std::optional<int> parse(QCommandLineParser& parser, const QStringList& args);

// Write bytes to stdout exactly as given.
void writeStdout(const QByteArray& bytes);
void writeStdout(std::string_view bytes);

// Parse token ids separated by commas and/or whitespace. Error text names the bad item.
std::optional<std::vector<lectern::token_id>> parseIds(const QByteArray& text, QString* error);

// Values of the attention flags shared by logits, generate and bench; nullopt for an unknown name.
std::optional<lectern::AttentionMode> parseAttentionMode(const QString& name);  // native|compat
std::optional<lectern::KvDType> parseKvDType(const QString& name);              // f32|f16|int8
const char* kvDTypeName(lectern::KvDType type);

// Read a whole file; error text says why not.
std::optional<QByteArray> readFile(const QString& path, QString* error);

}  // namespace Cli
