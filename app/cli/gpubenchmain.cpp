// lectern-gpu-bench: `lectern-cli bench --shape` alone, for the GPU bundle (tools/gpu-bundle.sh).
// The same code (benchgpu.cpp) and options, without the ingestion, GUI, database and OCR libraries
// lectern-cli links: its archive with Qt Core is ~13 MB instead of ~30, which leaves room within
// the device tool's 64 MiB carry (the working tree takes ~37 MB). Built with LECTERN_CUDA only.
#include <QCoreApplication>
#include <QStringList>

#include "benchgpu.h"
#include "clicommon.h"
#include "lectern/cuda_backend.h"
#include "lectern/version.h"

int main(int argc, char** argv)
{
    lectern::register_cuda_backend();
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("lectern-gpu-bench"));
    QCoreApplication::setApplicationVersion(QStringLiteral(LECTERN_VERSION_STRING));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "lectern-cli bench --shape, alone: random-weight models of the released shapes "
        "against the GPU's rooflines. --shape is required."));
    const Cli::ModelBenchOptions shared = Cli::modelBenchOptions();
    for (const QCommandLineOption* o :
         {&shared.threads, &shared.prefill, &shared.decode, &shared.kvDtype})
        parser.addOption(*o);
    Cli::addBackendOption(parser);
    Cli::addGpuBenchOptions(parser);
    // parse() names the command by args[0] in --help (lectern-cli's subcommands pass their verb);
    // this program has none.
    QStringList args = QCoreApplication::arguments();
    args[0] = QString();
    if (const auto code = Cli::parse(parser, args))
        return *code;
    if (!parser.isSet(QStringLiteral("shape")))
        return Cli::fail(QStringLiteral("--shape is required (see --help)"), Cli::UsageError);
    return Cli::runShapeBench(parser);
}
