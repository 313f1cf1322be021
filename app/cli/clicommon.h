// Shared plumbing for lectern-cli subcommands: argument parsing with per-command --help,
// one-line errors on stderr, and raw byte output.
#pragma once

#include <QByteArray>
#include <QCommandLineParser>
#include <QString>
#include <QStringList>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lectern/document_store.h"
#include "lectern/inference.h"
#include "lectern/tokenizer.h"
#include "modelcard.h"

namespace Cli {

// Exit codes: 0 success, 1 the operation failed, 2 the command line was wrong.
enum ExitCode { Success = 0, Failure = 1, UsageError = 2 };

// Print "lectern-cli: <message>" on one line to stderr; returns `code`.
int fail(const QString& message, int code = Failure);
int fail(const std::string& message, int code = Failure);

// Parse `args` (args[0] is the command name). Handles --help itself. Returns an exit code when
// the command must stop now (help shown: Success; bad arguments: UsageError), else nullopt.
std::optional<int> parse(QCommandLineParser& parser, const QStringList& args);

// Add --name (a flag when value is null, else an option taking a value shown as `value`).
void addOption(QCommandLineParser& parser, const char* name, const char* help,
               const char* value = nullptr);

// Write bytes to stdout exactly as given.
void writeStdout(const QByteArray& bytes);
void writeStdout(std::string_view bytes);

// Parse token ids separated by commas and/or whitespace. Error text names the bad item.
std::optional<std::vector<lectern::token_id>> parseIds(const QByteArray& text, QString* error);

// Values of the attention flags shared by logits, generate and bench; nullopt for an unknown name.
std::optional<lectern::AttentionMode> parseAttentionMode(const QString& name);  // native|compat
std::optional<lectern::KvDType> parseKvDType(const QString& name);              // f32|f16|int8
const char* kvDTypeName(lectern::KvDType type);

// --backend auto|cpu|cuda and --gpu-memory-mb, for every command that loads a model. The
// defaults are the environment variables LECTERN_BACKEND (the test suite pins cpu; else auto)
// and LECTERN_GPU_MEMORY_MB (else 0: automatic).
void addBackendOption(QCommandLineParser& parser);
// Resolve --backend into runtime.backend and --gpu-memory-mb into runtime.gpu_memory_budget. When
// auto falls back to the CPU in a build that has the CUDA backend, the reason is noted on stderr
// ("lectern-cli: note: no NVIDIA GPU found ..."); a build without CUDA stays silent (the CPU is its
// only backend). False with `error` set when the request cannot be met (cuda without a GPU, an
// unknown name, a bad --gpu-memory-mb).
bool applyBackend(const QCommandLineParser& parser, lectern::RuntimeOptions& runtime,
                  QString* error);

// Read a whole file; error text says why not.
std::optional<QByteArray> readFile(const QString& path, QString* error);

// SHA-256 as lowercase hex.
std::string sha256Hex(const QByteArray& bytes);

// A 64-bit integer option value at least `min` (the option's name without dashes); error text
// names the option.
std::optional<qint64> int64Option(const QCommandLineParser& parser, const QString& name,
                                  qint64 fallback, qint64 min, QString* error);

// A tokenizer loaded from a --tokenizer spec (see TokenizerLoader) with the identity a document
// store records: its kind and the SHA-256 of the vocabulary / model file bytes (the bundled World
// vocabulary hashes like the same file on disk). `spec` is "world" or the file's absolute path.
struct LoadedTokenizer {
    std::unique_ptr<lectern::Tokenizer> tokenizer;
    lectern::TokenizerIdentity identity;
    QString spec;
};
std::optional<LoadedTokenizer> loadTokenizer(const QString& spec, QString* error);

// "kind (sha256 abcdef012345...)" for messages.
QString describeTokenizer(const lectern::TokenizerIdentity& identity);

// Settings text recorded with a source: which tokenizer made its tokens, so `ask` can find it
// again ("tokenizer=<spec>"); tokenizerSpecFromSettings returns "" when none is recorded.
std::string sourceSettings(const QString& tokenizerSpec);
QString tokenizerSpecFromSettings(const std::string& settings);

// The model a command runs and the card beside it (if any): the card's tokenizer, attention mode,
// chunk size and top-k are then the defaults of --tokenizer, --attention, --chunk-size, --top-k.
struct ChosenModel {
    QString path;
    std::optional<ModelCard> card;
};
// `given` is the --model value; empty means the bundled demo model (a one-line note on stderr
// says so). Errors: no bundled model, or a broken card.
std::optional<ChosenModel> chooseModel(const QString& given, QString* error);
// The --tokenizer default for a model: its card's tokenizer, else "world".
QString defaultTokenizer(const ChosenModel& model);

}  // namespace Cli
