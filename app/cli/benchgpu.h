// `bench --shape` (benchgpu.cpp): random-weight models of the released shapes against the GPU's
// rooflines; run by lectern-cli bench and by lectern-gpu-bench (gpubenchmain.cpp).
#pragma once

#include <QCommandLineOption>
#include <QCommandLineParser>

namespace Cli {

// The options `bench` shares between its model runs and --shape, with their defaults.
struct ModelBenchOptions {
    QCommandLineOption threads, prefill, decode, kvDtype;
};
ModelBenchOptions modelBenchOptions();

// --shape and the options only it reads (--contexts, --profile, --synthetic-contexts).
void addGpuBenchOptions(QCommandLineParser& parser);
// Runs --shape with a parser holding the options above, modelBenchOptions() and --backend.
int runShapeBench(const QCommandLineParser& parser);

}  // namespace Cli
