// The values that travel between the GUI thread and the engine worker thread: requests in,
// results out. Plain copyable structs registered as Qt metatypes so queued signals carry them.
#pragma once

#include <QList>
#include <QMetaType>
#include <QString>

#include <atomic>
#include <memory>

// Flags the GUI thread flips while the worker runs a job; the engine reads them between pieces
// (IngestControl) or between tokens (generate's on_text). Shared so a job that is still queued
// can be cancelled before it starts.
struct JobFlags {
    std::atomic<bool> pause{false};
    std::atomic<bool> cancel{false};  // ingest: save a checkpoint and stop; ask: stop generating
};
using JobFlagsPtr = std::shared_ptr<JobFlags>;

// Process-wide engine settings (the UI's "Engine" preferences).
struct EngineSettings {
    int threads = 0;                      // 0 = all hardware threads
    qint64 ramBudgetBytes = 512ll << 20;  // mapped KV chunk files kept open per store
    bool useCuda = false;                 // honoured only when the build has CUDA (capabilities())
    qint64 gpuMemoryBytes = 0;            // with useCuda: GPU memory for weights and KV (0: auto)
};

// Read a document (again): extract, tokenize, create or open its store, ingest the rest.
struct IngestRequest {
    QString documentPath;  // PDF, EPUB or text
    QString storeDir;      // created when missing or empty; resumed when it holds this document
    QString modelPath;
    QString tokenizerSpec = QStringLiteral("world");  // "world", a vocabulary .txt or an SPM .model
    // Attention settings, fixed when the store is made; a model card supplies them
    // (LibraryController), else these defaults.
    QString attention = QStringLiteral("native");  // "native" or "compat"
    int chunkSize = 2048;
    int topK = 3;
    qint64 checkpointEvery = 65536;  // tokens between state checkpoints ("ask as of here" points)
    qint64 diskBudgetBytes = 0;      // 0 = no limit
};

// What ingest learned about the document besides the store: its title, format and page map
// (byte ranges of the extracted text -> page labels), kept by the Library so attended token
// ranges can be shown as pages.
struct DocumentPage {
    qint64 textBegin = 0;
    qint64 textEnd = 0;
    QString label;
};

struct IngestResult {
    bool complete = false;  // false: cancelled (a checkpoint was saved; a later ingest resumes)
    QString title;
    QString format;      // "pdf", "epub", "text", "html"
    QString fileSha256;  // of the document file's bytes
    qint64 tokens = 0;   // committed
    qint64 tokensTotal = 0;
    qint64 bytesOnDisk = 0;
    QList<DocumentPage> pages;
    QList<qint64> checkpoints;  // positions one can ask "as of"
    QString deviceNote;         // on a GPU: where the KV rows sat (lectern::device_memory_note)
};

struct ChatTurn {
    bool fromUser = true;
    QString text;
};

struct SamplingSettings {
    double temperature = 1.0;  // 0 = greedy
    double topP = 0.85;
    int topK = 0;
    double presencePenalty = 0.0;
    double frequencyPenalty = 0.0;
    quint64 seed = 0;  // 0 = a fresh random seed per answer
    int maxTokens = 512;
};

// Ask about a document: load its state (at the end, or at a checkpoint), feed the conversation's
// last question (earlier turns as context), stream the answer.
struct AskRequest {
    QString storeDir;
    QString modelPath;
    QString tokenizerSpec = QStringLiteral("world");
    qint64 asOf = -1;         // -1 = the whole document; else a checkpoint position
    QList<ChatTurn> history;  // earlier turns, oldest first
    QString question;
    SamplingSettings sampling;
    QList<DocumentPage> pages;  // the document's page map (to report attended pages)
};

// A page the model looked at while answering, strongest first.
struct AttendedPage {
    int page = 0;  // index into the document's page map
    QString label;
    double weight = 0.0;   // share of attention mass (summed over the page's ranges)
    qint64 textBegin = 0;  // byte range in the extracted text that was attended on this page
    qint64 textEnd = 0;
};

struct AnswerResult {
    QString text;
    QString finishReason;  // "stop_token", "stop_string", "max_tokens", "cancelled"
    int tokens = 0;
    QList<AttendedPage> attended;
    QString deviceNote;  // on a GPU: where the KV rows sat (lectern::device_memory_note)
};

Q_DECLARE_METATYPE(EngineSettings)
Q_DECLARE_METATYPE(IngestRequest)
Q_DECLARE_METATYPE(IngestResult)
Q_DECLARE_METATYPE(AskRequest)
Q_DECLARE_METATYPE(AnswerResult)
Q_DECLARE_METATYPE(JobFlagsPtr)
