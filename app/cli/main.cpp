// lectern-cli: Lectern's command-line tool. Dispatches to one subcommand per verb.
#include <QCoreApplication>
#include <QString>

#include <csignal>
#include <cstdio>
#include <iterator>

#ifdef _WIN32
#include <fcntl.h>  // _O_BINARY
#include <io.h>     // _setmode, _fileno
#include <windows.h>
#endif

#include "clicommon.h"
#include "commands.h"
#include "lectern/version.h"
#ifdef LECTERN_HAVE_CUDA
#include "lectern/cuda_backend.h"
#endif

namespace {

struct Command {
    const char* name;
    const char* summary;
    int (*run)(const QStringList& args);
};

constexpr Command kCommands[] = {
    {"tokenize", "text or a file to token ids", Cli::runTokenize},
    {"detokenize", "token ids to text", Cli::runDetokenize},
    {"inspect", "show a model file's architecture", Cli::runInspect},
    {"bench", "measure speed (tokenizer now; the model engine later)", Cli::runBench},
    {"logits", "run a model on token ids and write its float32 logits", Cli::runLogits},
    {"generate", "stream text sampled from a model (base or chat prompt)", Cli::runGenerate},
    {"ingest", "read a document once into a store (resumable)", Cli::runIngest},
    {"ask", "ask a question about an ingested document", Cli::runAsk},
    {"store", "show (info) or check (verify) a document store", Cli::runStore},
    {"extract", "a PDF, EPUB, text or HTML document to clean text", Cli::runExtract},
};

void printUsage(std::FILE* out)
{
    std::fprintf(out,
                 "Usage: lectern-cli <command> [options]\n"
                 "       lectern-cli --version\n\n"
                 "Commands:\n");
    for (const Command& c : kCommands)
        std::fprintf(out, "  %-12s %s\n", c.name, c.summary);
    std::fprintf(out, "\nRun 'lectern-cli <command> --help' for a command's options.\n");
}

#ifdef _WIN32
// The CLI prints UTF-8 and, on a terminal, VT escapes (ingest's progress line). A Windows console
// starts in the OEM code page without VT processing: switch both on (no-ops when redirected).
// stdout and stderr are binary, so that output (token ids, JSON, generated text) is the same
// bytes as on Linux rather than having every '\n' turned into "\r\n".
void setUpWindowsConsole()
{
    _setmode(_fileno(stdout), _O_BINARY);
    _setmode(_fileno(stderr), _O_BINARY);
    ::SetConsoleOutputCP(CP_UTF8);
    for (const DWORD which : {STD_OUTPUT_HANDLE, STD_ERROR_HANDLE}) {
        const HANDLE handle = ::GetStdHandle(which);
        DWORD mode = 0;
        if (handle != INVALID_HANDLE_VALUE && ::GetConsoleMode(handle, &mode))
            ::SetConsoleMode(handle, mode | ENABLE_VIRTUAL_TERMINAL_PROCESSING);
    }
}
#endif

}  // namespace

int main(int argc, char** argv)
{
#ifdef _WIN32
    setUpWindowsConsole();
#endif
    // A file-size limit (ulimit -f) must show up as a failed write with a message, not kill us.
#ifdef SIGXFSZ
    std::signal(SIGXFSZ, SIG_IGN);
#endif
#ifdef LECTERN_HAVE_CUDA
    lectern::register_cuda_backend();  // --backend auto|cuda can then pick the GPU
#endif
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("lectern-cli"));
    QCoreApplication::setApplicationVersion(QStringLiteral(LECTERN_VERSION_STRING));

    const QStringList args = QCoreApplication::arguments();
    if (args.size() < 2) {
        printUsage(stderr);
        return Cli::UsageError;
    }
    const QString verb = args.at(1);
    if (verb == QLatin1String("--version") || verb == QLatin1String("-v")) {
        std::printf("lectern-cli %s\n", LECTERN_VERSION_STRING);
        return Cli::Success;
    }
    if (verb == QLatin1String("--help") || verb == QLatin1String("-h") ||
        verb == QLatin1String("help")) {
        printUsage(stdout);
        return Cli::Success;
    }
    for (const Command& c : kCommands) {
        if (verb == QLatin1String(c.name))
            return c.run(args.mid(1));
    }
    return Cli::fail(QStringLiteral("unknown command '%1' (see --help)").arg(verb),
                     Cli::UsageError);
}
