// The application's use cases on top of the Library (what is saved) and the EngineController
// (what runs): add and read documents (pause, resume, cancel; reading resumes after a restart),
// chat per document with streamed answers saved as they are shown, regenerate, edit and resend,
// export a conversation to Markdown, export and open session files. The widgets call this and
// listen to its signals; they never touch the engine or the database directly.
#pragma once

#include <QHash>
#include <QObject>
#include <QString>
#include <QTimer>

#include "enginerequests.h"
#include "library.h"

class EngineController;

class LibraryController : public QObject {
    Q_OBJECT

  public:
    // storesRoot: where each document's store folder goes (default AppLocalDataLocation/stores).
    LibraryController(Library* library, EngineController* engine, const QString& storesRoot = {},
                      QObject* parent = nullptr);

    Library* library() const { return m_library; }
    EngineController* engine() const { return m_engine; }

    // Documents. addDocument starts reading at once; returns the document id (0 on failure,
    // with errorOccurred). Pause keeps everything read so far (a checkpoint is saved) and frees
    // the engine for questions; resume continues from there; cancel discards the reading.
    // When the model has a card (ModelCard), its tokenizer replaces tokenizerSpec and its chunk
    // size and top-k replace the store template's.
    qint64 addDocument(const QString& path, const QString& modelPath,
                       const QString& tokenizerSpec = QStringLiteral("world"));
    void pauseReading(qint64 documentId);
    void resumeReading(qint64 documentId);
    void cancelReading(qint64 documentId);
    bool removeDocument(qint64 documentId);
    bool isReading(qint64 documentId) const { return m_readingRequest.contains(documentId); }
    // After a restart: documents that were being read when the app stopped continue; answers
    // that were streaming are marked stopped (their text so far is kept). Returns how many
    // documents resumed.
    int resumeInterrupted();
    // Reading settings for new stores (tests use small chunks).
    void setStoreTemplate(const IngestRequest& defaults) { m_storeTemplate = defaults; }

    // Conversations. asOf: -1 = the whole document, else a checkpoint position of the document.
    qint64 newConversation(qint64 documentId, qint64 asOf = -1, const QString& title = {});
    // Saves the question, creates the (empty, streaming) answer and asks. Returns the answer's
    // message id (0 on failure, with errorOccurred).
    qint64 sendMessage(qint64 conversationId, const QString& text);
    void stopAnswer(qint64 conversationId);  // Esc: the text shown so far stays, state stopped
    qint64 regenerate(qint64 assistantMessageId);  // replaces it (and anything after it)
    qint64 editAndResend(qint64 userMessageId, const QString& newText);
    bool isAnswering(qint64 conversationId) const;
    QString conversationMarkdown(qint64 conversationId) const;
    bool exportMarkdown(qint64 conversationId, const QString& path);

    // Sessions (.lectern files). Results: sessionExported / sessionImported or errorOccurred.
    void exportSession(qint64 documentId, const QString& archivePath);
    void importSession(const QString& archivePath, const QString& modelPath);

    SamplingSettings samplingSettings() const;
    void setSamplingSettings(const SamplingSettings& settings);
    EngineSettings engineSettings() const;
    void setEngineSettings(const EngineSettings& settings);  // saved and applied to the engine

  Q_SIGNALS:
    void documentAdded(qint64 documentId);
    void documentChanged(qint64 documentId);  // state, tokens, size, title... reread the record
    void documentRemoved(qint64 documentId);
    void readingProgress(qint64 documentId, qint64 tokensDone, qint64 tokensTotal,
                         double tokensPerSecond, double etaSeconds);
    void messageAdded(qint64 conversationId, qint64 messageId);
    void messagesRemoved(qint64 conversationId, qint64 fromMessageId);
    // The answer's text so far, already saved: what is shown is never lost by a kill.
    void answerUpdated(qint64 conversationId, qint64 messageId, const QString& text);
    void answerFinished(qint64 conversationId,
                        qint64 messageId);  // reread it: state, attended pages
    void sessionExported(qint64 documentId, const QString& archivePath);
    void sessionImported(qint64 documentId);
    void errorOccurred(const QString& message);

  private:
    struct Answer {
        qint64 conversationId = 0;
        qint64 messageId = 0;
        QString text;
        bool dirty = false;
    };

    void startReading(const DocumentRecord& record);
    qint64 ask(qint64 conversationId, qint64 beforeMessageId, const QString& question);
    void flushAnswers();
    void setState(qint64 documentId, DocumentState state, const QString& error = {});
    void onIngestFinished(quint64 id, const IngestResult& result);
    void onAnswerFinished(quint64 id, const AnswerResult& result);
    void onFailed(quint64 id, const QString& message);

    Library* m_library;
    EngineController* m_engine;
    QString m_storesRoot;
    IngestRequest m_storeTemplate;
    QHash<quint64, qint64> m_ingests;          // request -> document
    QHash<qint64, quint64> m_readingRequest;   // document -> request
    QHash<qint64, bool> m_discardWhenStopped;  // document -> cancel (true) or pause (false)
    QHash<quint64, Answer> m_answers;          // request -> streaming answer
    QHash<quint64, qint64> m_exports;          // request -> document
    QHash<quint64, QString> m_imports;         // request -> model path
    QHash<qint64, qint64> m_progressSavedAt;   // document -> when its row last got the progress
    QHash<qint64, QString> m_storesToRemove;   // document removed while reading -> its store
    QTimer m_flushTimer;
};
