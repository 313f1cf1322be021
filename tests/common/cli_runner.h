// Runs the built lectern-cli for end-to-end tests and captures its exit code and output.
#pragma once

#include <QByteArray>
#include <QProcess>
#include <QString>
#include <QStringList>

struct CliRun {
    int exitCode = -1;  // -1: crashed or timed out
    QByteArray out;
    QByteArray err;
};

// `program`: a lectern-cli build (tests/emu runs lectern-cli-emu, the emulated GPU backend's).
inline CliRun runCli(const QString& program, const QStringList& args, int timeoutMs = 120000)
{
    QProcess p;
    p.start(program, args);
    CliRun r;
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        return r;
    }
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}

inline CliRun runLecternCli(const QStringList& args, int timeoutMs = 120000)
{
    return runCli(QStringLiteral(LECTERN_BIN_DIR "/lectern-cli"), args, timeoutMs);
}
