// The facade the UI talks to for engine work: owns the worker thread and the one EngineWorker on
// it. Every call returns at once with a request id; results arrive as signals (on the thread the
// controller lives on, normally the GUI thread) carrying that id. The event loop never waits on
// the engine: pause, resume, cancel and stop only flip atomics the running job reads.
#pragma once

#include <QHash>
#include <QObject>
#include <QString>

#include "enginerequests.h"
#include "sessionarchive.h"

class QThread;
class EngineWorker;

class EngineController : public QObject {
    Q_OBJECT

  public:
    // What this build and machine offer, so the UI does not guess.
    struct Capabilities {
        bool cuda = false;  // the CUDA backend can run here (build, GPU, driver, cuBLAS)
        QString cudaNote;   // which GPU, or why not
        int hardwareThreads = 1;
    };
    static Capabilities capabilities();

    explicit EngineController(QObject* parent = nullptr);
    // Cancels running and queued jobs (an ingest saves a checkpoint first) and joins the thread.
    ~EngineController() override;

    // Requests, queued in order: the worker runs one job at a time.
    quint64 applySettings(const EngineSettings& settings);
    quint64 loadModel(const QString& path);
    quint64 unloadModel();
    quint64 ingest(const IngestRequest& request);
    quint64 ask(const AskRequest& request);
    quint64 exportSession(const SessionExportRequest& request);
    quint64 importSession(const QString& archivePath, const QString& storeDir,
                          const QString& modelPath);

    // Control of a running or queued ingest / answer. Unknown or finished ids are ignored.
    void pauseIngest(quint64 id);
    void resumeIngest(quint64 id);
    void cancelIngest(quint64 id);  // saves a checkpoint; ingestFinished(complete = false)
    void stopAnswer(quint64 id);    // answerFinished with finishReason "cancelled"
    bool isPaused(quint64 id) const;
    // Requests sent and not yet finished or failed.
    int pendingCount() const { return m_pending; }
    // Whether gpuLost was emitted: the engine runs on the CPU, whatever the settings say.
    bool gpuWasLost() const { return m_gpuLost; }

  Q_SIGNALS:
    void modelLoaded(quint64 id, const QString& path, const QString& description);
    void modelUnloaded(quint64 id);
    void ingestStarted(quint64 id, qint64 tokensDone, qint64 tokensTotal);
    void ingestProgress(quint64 id, qint64 tokensDone, qint64 tokensTotal, double tokensPerSecond,
                        double etaSeconds);
    void ingestPaused(quint64 id, bool paused);
    void ingestFinished(quint64 id, const IngestResult& result);
    void answerStarted(quint64 id);
    void answerPiece(quint64 id, const QString& piece);
    void answerFinished(quint64 id, const AnswerResult& result);
    void sessionExported(quint64 id, const QString& archivePath);
    void sessionImported(quint64 id, const SessionContents& contents);
    void failed(quint64 id, const QString& message);
    void settingsApplied(quint64 id);
    // The GPU stopped working during a request (its failure message says so): the engine runs
    // on the CPU from then on, whatever the settings say, until the application restarts.
    void gpuLost();

  private:
    quint64 nextId() { return ++m_lastId; }
    void done(quint64 id);

    QThread* m_thread = nullptr;
    bool m_gpuLost = false;
    EngineWorker* m_worker = nullptr;
    quint64 m_lastId = 0;
    int m_pending = 0;
    QHash<quint64, JobFlagsPtr> m_flags;
};
