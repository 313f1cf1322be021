// The one object that runs the engine: it lives on the worker thread owned by EngineController
// and handles one job at a time (load a model, read a document, answer a question, export or
// import a session). Every result or error leaves as a queued signal tagged with the request id;
// the GUI thread only ever flips the JobFlags of a running job. The reading job (ingest) is in
// engineworkeringest.cpp, everything else in engineworker.cpp.
#pragma once

#include <QHash>
#include <QObject>
#include <QString>

#include <memory>
#include <optional>

#include "enginerequests.h"
#include "lectern/document_store.h"
#include "lectern/inference.h"
#include "lectern/tokenizer.h"
#include "sessionarchive.h"

class EngineWorker : public QObject {
    Q_OBJECT

  public:
    explicit EngineWorker(QObject* parent = nullptr);
    ~EngineWorker() override;

  public Q_SLOTS:
    void applySettings(const EngineSettings& settings);
    void loadModel(quint64 id, const QString& path);
    void unloadModel(quint64 id);
    void ingest(quint64 id, const IngestRequest& request, const JobFlagsPtr& flags);
    void ask(quint64 id, const AskRequest& request, const JobFlagsPtr& flags);
    void exportSession(quint64 id, const SessionExportRequest& request);
    void importSession(quint64 id, const QString& archivePath, const QString& storeDir,
                       const QString& modelPath);

  Q_SIGNALS:
    // description: the model's architecture in one line ("rwkv-x, 4 RWKV + 1 attention blocks...").
    void modelLoaded(quint64 id, const QString& path, const QString& description);
    void modelUnloaded(quint64 id);
    // Reading a document. started: tokens already in the store (a resumed ingest) of the total.
    void ingestStarted(quint64 id, qint64 tokensDone, qint64 tokensTotal);
    // About ten a second at most.
    void ingestProgress(quint64 id, qint64 tokensDone, qint64 tokensTotal, double tokensPerSecond,
                        double etaSeconds);
    void ingestFinished(quint64 id, const IngestResult& result);
    // Answering. Pieces are complete UTF-8 text, in order; finished carries the whole answer.
    // started comes again when the answer starts over: the GPU stopped working in the middle of
    // it, and the question runs again on the CPU. The pieces before it are void.
    void answerStarted(quint64 id);
    void answerPiece(quint64 id, const QString& piece);
    void answerFinished(quint64 id, const AnswerResult& result);
    void sessionExported(quint64 id, const QString& archivePath);
    void sessionImported(quint64 id, const SessionContents& contents);
    // Any request that failed; the message is plain words with what to do next.
    void failed(quint64 id, const QString& message);
    // The GPU stopped working (a kernel fault lost its context, lectern::gpu_lost): the model is
    // loaded on the CPU from then on, until the process ends. The question or reading it broke
    // runs again on the CPU (a reading resumes from what its store kept).
    void gpuLost();

  private:
    struct LoadedTokenizer {
        std::shared_ptr<lectern::Tokenizer> tokenizer;
        lectern::TokenizerIdentity identity;
    };

    lectern::Result<std::shared_ptr<const lectern::Model>> ensureModel(const QString& path);
    lectern::Result<LoadedTokenizer> tokenizerFor(const QString& spec);
    lectern::Result<lectern::DocumentStore*> openStore(const QString& dir);
    // Close the open store and drop what was read from it (the document state).
    void closeStore();
    // The open store's state at `asOf` (-1: the end), loaded on the first question about it and
    // kept: each question runs on a fork of it.
    lectern::Result<lectern::State*> documentState(lectern::DocumentStore& store, qint64 asOf);
    QString modelFingerprint();
    // How one attempt at a job ended: done (its result or its failure was emitted), or the GPU
    // stopped working during it (nothing final was emitted; the next attempt runs on the CPU).
    enum class Attempt { done, gpuLost };
    Attempt ingestOnce(quint64 id, const IngestRequest& request, const JobFlagsPtr& flags);
    Attempt askOnce(quint64 id, const AskRequest& request, const JobFlagsPtr& flags);
    // After a failure: whether it was the model's GPU that stopped working, the first time it is
    // seen. Then the model and the store are dropped (the next attempt loads the model on the
    // CPU, and documents resume from their stores) and gpuLost is emitted.
    bool dropLostGpu();
    // An attempt's failure: gpuLost when dropLostGpu says the GPU is why (nothing is emitted;
    // the job runs again), else `failed` is emitted.
    Attempt attemptFailed(quint64 id, const QString& message);

    EngineSettings m_settings;
    std::shared_ptr<const lectern::Model> m_model;
    QString m_modelPath;
    QString m_modelFingerprint;  // computed on first need (hashes every tensor)
    QHash<QString, LoadedTokenizer> m_tokenizers;
    // The last store used, kept open between questions (its mapped KV chunks stay warm).
    std::optional<lectern::DocumentStore> m_store;
    QString m_storeDir;
    // The document state of the last question (m_store's, at m_documentAsOf), so the next one
    // forks it instead of loading it again; with the GPU backend it is kept on the device
    // (lectern::warm_up) and a fork copies it there instead of uploading every KV row. Declared
    // after m_store: destroyed before it.
    std::optional<lectern::State> m_documentState;
    qint64 m_documentAsOf = -1;
    bool m_gpuLost = false;  // for the rest of the process: a lost context does not come back
};
