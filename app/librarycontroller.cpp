// LibraryController: documents, chats and sessions as the user sees them (see the header).
// "Nothing already shown is lost": answer text reaches the UI only through answerUpdated, which
// is emitted after the text was committed to the library (at most every 50 ms).
#include "librarycontroller.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QSaveFile>
#include <QStandardPaths>

#include "enginecontroller.h"
#include "modelcard.h"

namespace {

constexpr int kFlushMs = 50;
constexpr qint64 kProgressSaveMs = 2000;

}  // namespace

LibraryController::LibraryController(Library* library, EngineController* engine,
                                     const QString& storesRoot, QObject* parent)
    : QObject(parent), m_library(library), m_engine(engine), m_storesRoot(storesRoot) {
    if (m_storesRoot.isEmpty())
        m_storesRoot = QDir(QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation))
                           .filePath(QStringLiteral("stores"));
    m_flushTimer.setInterval(kFlushMs);
    connect(&m_flushTimer, &QTimer::timeout, this, &LibraryController::flushAnswers);

    connect(engine, &EngineController::ingestProgress, this,
            [this](quint64 id, qint64 done, qint64 total, double tps, double eta) {
                const qint64 doc = m_ingests.value(id);
                if (!doc) return;
                const qint64 now = QDateTime::currentMSecsSinceEpoch();
                if (now - m_progressSavedAt.value(doc) >= kProgressSaveMs) {
                    m_progressSavedAt.insert(doc, now);
                    if (auto d = m_library->document(doc)) {
                        d->tokens = done;
                        d->tokensTotal = total;
                        m_library->updateDocument(*d);
                    }
                }
                Q_EMIT readingProgress(doc, done, total, tps, eta);
            });
    connect(engine, &EngineController::ingestFinished, this, &LibraryController::onIngestFinished);
    // A second start: the answer starts over (on the CPU, after the GPU stopped working in the
    // middle of it). What was shown of it goes at once, not at the next flush: it belonged to
    // an answer that will not be finished.
    connect(engine, &EngineController::answerStarted, this, [this](quint64 id) {
        auto it = m_answers.find(id);
        if (it == m_answers.end() || it->text.isEmpty()) return;
        it->text.clear();
        it->dirty = false;
        m_library->updateMessage(it->messageId, QString(), MessageState::Streaming);
        Q_EMIT answerUpdated(it->conversationId, it->messageId, QString());
    });
    connect(engine, &EngineController::answerPiece, this, [this](quint64 id, const QString& piece) {
        auto it = m_answers.find(id);
        if (it == m_answers.end()) return;
        it->text += piece;
        it->dirty = true;
    });
    connect(engine, &EngineController::answerFinished, this, &LibraryController::onAnswerFinished);
    connect(engine, &EngineController::failed, this, &LibraryController::onFailed);
    connect(engine, &EngineController::sessionExported, this,
            [this](quint64 id, const QString& path) {
                if (m_exports.contains(id)) Q_EMIT sessionExported(m_exports.take(id), path);
            });
    connect(engine, &EngineController::sessionImported, this,
            [this](quint64 id, const SessionContents& c) {
                if (!m_imports.contains(id)) return;
                const qint64 doc = m_library->importDocument(c.document, c.conversations,
                                                             c.storeDir, m_imports.take(id));
                if (!doc) return Q_EMIT errorOccurred(m_library->errorString());
                Q_EMIT documentAdded(doc);
                Q_EMIT sessionImported(doc);
            });
}

qint64 LibraryController::addDocument(const QString& path, const QString& modelPath,
                                      const QString& tokenizerSpec) {
    const QFileInfo info(path);
    if (!info.isFile()) {
        Q_EMIT errorOccurred(
            QStringLiteral("%1 cannot be opened; choose a PDF, EPUB or text file.").arg(path));
        return 0;
    }
    // A model card names the tokenizer its model was trained with; that wins over the caller's.
    const auto card = ModelCard::forModel(modelPath);
    if (!card) {
        Q_EMIT errorOccurred(tr("The model's card cannot be used: %1")
                                 .arg(QString::fromStdString(card.error().message)));
        return 0;
    }
    DocumentRecord d;
    d.path = info.absoluteFilePath();
    d.title = info.completeBaseName();
    d.modelPath = QFileInfo(modelPath).absoluteFilePath();
    d.tokenizer = *card ? (*card)->tokenizerSpec : tokenizerSpec;
    d.state = DocumentState::Reading;
    d.id = m_library->addDocument(d);
    if (!d.id) {
        Q_EMIT errorOccurred(m_library->errorString());
        return 0;
    }
    d.storeDir = QDir(m_storesRoot).filePath(QString::number(d.id));
    m_library->updateDocument(d);
    Q_EMIT documentAdded(d.id);
    startReading(d);
    return d.id;
}

void LibraryController::startReading(const DocumentRecord& record) {
    if (m_readingRequest.contains(record.id)) return;
    IngestRequest request = m_storeTemplate;
    request.documentPath = record.path;
    request.storeDir = record.storeDir;
    request.modelPath = record.modelPath;
    request.tokenizerSpec = record.tokenizer;
    // New stores of a model with a card use the card's attention settings (an existing store
    // keeps the ones it was made with whatever the request says).
    if (const auto card = ModelCard::forModel(record.modelPath); card && *card) {
        request.attention = (*card)->attention;
        request.chunkSize = (*card)->chunkSize;
        request.topK = (*card)->topK;
    }
    const quint64 id = m_engine->ingest(request);
    m_ingests.insert(id, record.id);
    m_readingRequest.insert(record.id, id);
    setState(record.id, DocumentState::Reading);
}

void LibraryController::pauseReading(qint64 documentId) {
    if (!m_readingRequest.contains(documentId)) return;
    m_discardWhenStopped.insert(documentId, false);
    m_engine->cancelIngest(m_readingRequest.value(documentId));
}

void LibraryController::resumeReading(qint64 documentId) {
    const auto d = m_library->document(documentId);
    if (d && d->state != DocumentState::Ready) startReading(*d);
}

void LibraryController::cancelReading(qint64 documentId) {
    if (m_readingRequest.contains(documentId)) {
        m_discardWhenStopped.insert(documentId, true);
        m_engine->cancelIngest(m_readingRequest.value(documentId));
    } else if (auto d = m_library->document(documentId); d && d->state != DocumentState::Ready) {
        QDir(d->storeDir).removeRecursively();
        d->tokens = 0;
        d->bytesOnDisk = 0;
        d->state = DocumentState::NotRead;
        m_library->updateDocument(*d);
        Q_EMIT documentChanged(documentId);
    }
}

bool LibraryController::removeDocument(qint64 documentId) {
    const auto d = m_library->document(documentId);
    if (!d) return false;
    // A store being written is removed once its ingest has stopped (onIngestFinished/onFailed);
    // removing it now would race the worker.
    if (m_readingRequest.contains(documentId)) {
        m_storesToRemove.insert(documentId, d->storeDir);
        m_engine->cancelIngest(m_readingRequest.value(documentId));
    } else {
        QDir(d->storeDir).removeRecursively();
    }
    if (!m_library->removeDocument(documentId)) {
        Q_EMIT errorOccurred(m_library->errorString());
        return false;
    }
    Q_EMIT documentRemoved(documentId);
    return true;
}

int LibraryController::resumeInterrupted() {
    int resumed = 0;
    for (const DocumentRecord& d : m_library->documents()) {
        for (const ConversationRecord& c : m_library->conversations(d.id))
            for (const MessageRecord& m : m_library->messages(c.id))
                if (m.state == MessageState::Streaming)
                    m_library->updateMessage(m.id, m.text, MessageState::Stopped, m.attended);
        if (d.state == DocumentState::Reading && !m_readingRequest.contains(d.id)) {
            startReading(d);
            ++resumed;
        }
    }
    return resumed;
}

void LibraryController::setState(qint64 documentId, DocumentState state, const QString& error) {
    if (auto d = m_library->document(documentId)) {
        d->state = state;
        d->error = error;
        m_library->updateDocument(*d);
        Q_EMIT documentChanged(documentId);
    }
}

void LibraryController::onIngestFinished(quint64 id, const IngestResult& r) {
    if (!m_ingests.contains(id)) return;
    const qint64 doc = m_ingests.take(id);
    m_readingRequest.remove(doc);
    m_progressSavedAt.remove(doc);
    const bool discard = m_discardWhenStopped.take(doc);
    if (m_storesToRemove.contains(doc)) {  // removed while it was being read
        QDir(m_storesToRemove.take(doc)).removeRecursively();
        return;
    }
    auto d = m_library->document(doc);
    if (!d) return;
    if (!r.complete && discard) {
        QDir(d->storeDir).removeRecursively();
        d->state = DocumentState::NotRead;
        d->tokens = 0;
        d->bytesOnDisk = 0;
    } else {
        if (!r.title.isEmpty()) {
            d->title = r.title;
            d->format = r.format;
            d->sha256 = r.fileSha256;
            d->pages = r.pages;
            d->checkpoints = r.checkpoints;
            d->tokens = r.tokens;
            d->tokensTotal = r.tokensTotal;
            d->bytesOnDisk = r.bytesOnDisk;
        }
        d->state = r.complete ? DocumentState::Ready : DocumentState::Paused;
    }
    d->error.clear();
    m_library->updateDocument(*d);
    Q_EMIT documentChanged(doc);
}

void LibraryController::onFailed(quint64 id, const QString& message) {
    if (m_ingests.contains(id)) {
        const qint64 doc = m_ingests.take(id);
        m_readingRequest.remove(doc);
        m_discardWhenStopped.remove(doc);
        if (m_storesToRemove.contains(doc)) {
            QDir(m_storesToRemove.take(doc)).removeRecursively();
            return;
        }
        setState(doc, DocumentState::Failed, message);
    } else if (m_answers.contains(id)) {
        const Answer a = m_answers.take(id);
        m_library->updateMessage(a.messageId, a.text, MessageState::Failed);
        Q_EMIT answerFinished(a.conversationId, a.messageId);
    } else if (!m_exports.remove(id) && !m_imports.remove(id)) {
        return;  // not one of ours
    }
    Q_EMIT errorOccurred(message);
}
