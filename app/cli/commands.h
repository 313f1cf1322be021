// The subcommands of lectern-cli. Each takes its arguments (args[0] is the command name) and
// returns the process exit code.
#pragma once

#include <QStringList>

namespace Cli {

int runTokenize(const QStringList& args);
int runDetokenize(const QStringList& args);
int runInspect(const QStringList& args);
int runBench(const QStringList& args);
int runLogits(const QStringList& args);
int runGenerate(const QStringList& args);
int runIngest(const QStringList& args);
int runAsk(const QStringList& args);
int runStore(const QStringList& args);  // store info | store verify
int runExtract(const QStringList& args);

}  // namespace Cli
