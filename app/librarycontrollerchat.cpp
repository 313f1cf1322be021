// LibraryController, the chat half: questions, streamed answers saved as they are shown, stop,
// regenerate, edit and resend, Markdown export, sessions and the settings the engine uses.
#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QSaveFile>

#include "enginecontroller.h"
#include "librarycontroller.h"

qint64 LibraryController::newConversation(qint64 documentId, qint64 asOf, const QString& title) {
    const qint64 id = m_library->addConversation(
        documentId, title.isEmpty() ? QStringLiteral("Conversation") : title, asOf);
    if (!id) Q_EMIT errorOccurred(m_library->errorString());
    return id;
}

qint64 LibraryController::sendMessage(qint64 conversationId, const QString& text) {
    const QString question = text.trimmed();
    if (question.isEmpty()) return 0;
    const qint64 userId =
        m_library->addMessage(conversationId, true, question, MessageState::Complete);
    if (!userId) {
        Q_EMIT errorOccurred(m_library->errorString());
        return 0;
    }
    Q_EMIT messageAdded(conversationId, userId);
    return ask(conversationId, userId, question);
}

qint64 LibraryController::ask(qint64 conversationId, qint64 beforeMessageId,
                              const QString& question) {
    const auto conversation = m_library->conversation(conversationId);
    const auto document =
        conversation ? m_library->document(conversation->documentId) : std::nullopt;
    if (!document) {
        Q_EMIT errorOccurred(QStringLiteral("This conversation's document is gone."));
        return 0;
    }
    if (isAnswering(conversationId)) {
        Q_EMIT errorOccurred(
            QStringLiteral("An answer is still being written; stop it first (Esc)."));
        return 0;
    }
    if (document->tokens <= 0) {
        Q_EMIT errorOccurred(
            QStringLiteral("%1 has not been read yet; wait until some of it is read.")
                .arg(document->title));
        return 0;
    }
    AskRequest request;
    request.storeDir = document->storeDir;
    request.modelPath = document->modelPath;
    request.tokenizerSpec = document->tokenizer;
    request.asOf = conversation->asOf;
    request.pages = document->pages;
    request.sampling = samplingSettings();
    for (const MessageRecord& m : m_library->messages(conversationId)) {
        if (m.id >= beforeMessageId) break;
        if (!m.text.isEmpty() && m.state != MessageState::Failed)
            request.history.append(ChatTurn{m.fromUser, m.text});
    }
    request.question = question;
    const qint64 answerId =
        m_library->addMessage(conversationId, false, QString(), MessageState::Streaming);
    if (!answerId) {
        Q_EMIT errorOccurred(m_library->errorString());
        return 0;
    }
    Q_EMIT messageAdded(conversationId, answerId);
    const quint64 id = m_engine->ask(request);
    m_answers.insert(id, Answer{conversationId, answerId, QString(), false});
    m_flushTimer.start();
    return answerId;
}

void LibraryController::flushAnswers() {
    for (auto it = m_answers.begin(); it != m_answers.end(); ++it) {
        if (!it->dirty) continue;
        it->dirty = false;
        // Saved first, shown second: a kill never loses text the user has seen.
        m_library->updateMessage(it->messageId, it->text, MessageState::Streaming);
        Q_EMIT answerUpdated(it->conversationId, it->messageId, it->text);
    }
    if (m_answers.isEmpty()) m_flushTimer.stop();
}

void LibraryController::onAnswerFinished(quint64 id, const AnswerResult& result) {
    if (!m_answers.contains(id)) return;
    const Answer a = m_answers.take(id);
    const MessageState state = result.finishReason == QLatin1String("cancelled")
                                   ? MessageState::Stopped
                                   : MessageState::Complete;
    // Stopped: keep exactly what was shown (the engine drops held-back text).
    const QString text =
        state == MessageState::Stopped && a.text.size() < result.text.size() ? a.text : result.text;
    m_library->updateMessage(a.messageId, text, state, result.attended);
    Q_EMIT answerUpdated(a.conversationId, a.messageId, text);
    Q_EMIT answerFinished(a.conversationId, a.messageId);
}

bool LibraryController::isAnswering(qint64 conversationId) const {
    for (const Answer& a : m_answers)
        if (a.conversationId == conversationId) return true;
    return false;
}

void LibraryController::stopAnswer(qint64 conversationId) {
    for (auto it = m_answers.cbegin(); it != m_answers.cend(); ++it)
        if (it->conversationId == conversationId) m_engine->stopAnswer(it.key());
}

qint64 LibraryController::regenerate(qint64 assistantMessageId) {
    const auto answer = m_library->message(assistantMessageId);
    if (!answer || answer->fromUser || isAnswering(answer->conversationId)) return 0;
    // The question is the last user message before the answer.
    const QList<MessageRecord> all = m_library->messages(answer->conversationId);
    const MessageRecord* question = nullptr;
    for (const MessageRecord& m : all)
        if (m.id < assistantMessageId && m.fromUser) question = &m;
    if (!question) return 0;
    m_library->deleteMessagesFrom(answer->conversationId, assistantMessageId);
    Q_EMIT messagesRemoved(answer->conversationId, assistantMessageId);
    return ask(answer->conversationId, question->id, question->text);
}

qint64 LibraryController::editAndResend(qint64 userMessageId, const QString& newText) {
    const auto message = m_library->message(userMessageId);
    if (!message || !message->fromUser || isAnswering(message->conversationId)) return 0;
    m_library->deleteMessagesFrom(message->conversationId, userMessageId);
    Q_EMIT messagesRemoved(message->conversationId, userMessageId);
    return sendMessage(message->conversationId, newText);
}

QString LibraryController::conversationMarkdown(qint64 conversationId) const {
    const auto c = m_library->conversation(conversationId);
    const auto d = c ? m_library->document(c->documentId) : std::nullopt;
    if (!d) return {};
    QString md = QStringLiteral("# %1\n\n").arg(c->title);
    md += QStringLiteral("Document: %1").arg(d->title);
    if (c->asOf >= 0) md += QStringLiteral(" (as of token %1)").arg(c->asOf);
    md += QStringLiteral("\n\n");
    for (const MessageRecord& m : m_library->messages(conversationId)) {
        md += m.fromUser ? QStringLiteral("## Question\n\n") : QStringLiteral("## Answer\n\n");
        md += m.text + QStringLiteral("\n\n");
        if (m.state == MessageState::Stopped) md += QStringLiteral("*(stopped)*\n\n");
        if (!m.attended.isEmpty()) {
            QStringList pages;
            for (const AttendedPage& p : m.attended)
                pages << (p.label.isEmpty() ? QString::number(p.page + 1) : p.label);
            md += QStringLiteral("Pages attended: %1\n\n").arg(pages.join(QStringLiteral(", ")));
        }
    }
    return md;
}

bool LibraryController::exportMarkdown(qint64 conversationId, const QString& path) {
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly) ||
        file.write(conversationMarkdown(conversationId).toUtf8()) < 0 || !file.commit()) {
        Q_EMIT errorOccurred(QStringLiteral("Cannot write %1 (%2). Choose another folder.")
                                 .arg(path, file.errorString()));
        return false;
    }
    return true;
}

void LibraryController::exportSession(qint64 documentId, const QString& archivePath) {
    const auto d = m_library->document(documentId);
    if (!d) return;
    if (isReading(documentId)) {
        Q_EMIT errorOccurred(
            QStringLiteral("%1 is being read; pause reading, then export.").arg(d->title));
        return;
    }
    SessionExportRequest request;
    request.archivePath = archivePath;
    request.storeDir = d->storeDir;
    request.document = m_library->documentJson(documentId);
    request.conversations = m_library->conversationsJson(documentId);
    m_exports.insert(m_engine->exportSession(request), documentId);
}

void LibraryController::importSession(const QString& archivePath, const QString& modelPath) {
    // A fresh store folder, named like the others but not tied to an id yet.
    const QString dir =
        QDir(m_storesRoot)
            .filePath(QStringLiteral("import-%1").arg(QDateTime::currentMSecsSinceEpoch()));
    const QString model = QFileInfo(modelPath).absoluteFilePath();
    m_imports.insert(m_engine->importSession(archivePath, dir, model), model);
}

SamplingSettings LibraryController::samplingSettings() const {
    SamplingSettings s;
    const auto num = [this](const char* key, double fallback) {
        bool ok = false;
        const double v = m_library->setting(QString::fromLatin1(key)).toDouble(&ok);
        return ok ? v : fallback;
    };
    s.temperature = num("sampling/temperature", s.temperature);
    s.topP = num("sampling/topP", s.topP);
    s.topK = int(num("sampling/topK", s.topK));
    s.presencePenalty = num("sampling/presencePenalty", s.presencePenalty);
    s.frequencyPenalty = num("sampling/frequencyPenalty", s.frequencyPenalty);
    s.seed = quint64(num("sampling/seed", double(s.seed)));
    s.maxTokens = int(num("sampling/maxTokens", s.maxTokens));
    return s;
}

void LibraryController::setSamplingSettings(const SamplingSettings& s) {
    m_library->setSetting(QStringLiteral("sampling/temperature"), QString::number(s.temperature));
    m_library->setSetting(QStringLiteral("sampling/topP"), QString::number(s.topP));
    m_library->setSetting(QStringLiteral("sampling/topK"), QString::number(s.topK));
    m_library->setSetting(QStringLiteral("sampling/presencePenalty"),
                          QString::number(s.presencePenalty));
    m_library->setSetting(QStringLiteral("sampling/frequencyPenalty"),
                          QString::number(s.frequencyPenalty));
    m_library->setSetting(QStringLiteral("sampling/seed"), QString::number(s.seed));
    m_library->setSetting(QStringLiteral("sampling/maxTokens"), QString::number(s.maxTokens));
}

EngineSettings LibraryController::engineSettings() const {
    EngineSettings s;
    s.threads = m_library->setting(QStringLiteral("engine/threads"), QStringLiteral("0")).toInt();
    s.ramBudgetBytes =
        m_library
            ->setting(QStringLiteral("engine/ramBudgetBytes"), QString::number(s.ramBudgetBytes))
            .toLongLong();
    // Default: the GPU when one can run the model (issue 8), else the CPU.
    const bool gpu = EngineController::capabilities().cuda;
    s.useCuda = m_library->setting(QStringLiteral("engine/useCuda"),
                                   gpu ? QStringLiteral("1") : QStringLiteral("0")) ==
                    QLatin1String("1") &&
                gpu;
    s.gpuMemoryBytes = qMax<qint64>(
        0, m_library->setting(QStringLiteral("engine/gpuMemoryBytes"), QStringLiteral("0"))
               .toLongLong());
    return s;
}

void LibraryController::setEngineSettings(const EngineSettings& s) {
    m_library->setSetting(QStringLiteral("engine/threads"), QString::number(s.threads));
    m_library->setSetting(QStringLiteral("engine/ramBudgetBytes"),
                          QString::number(s.ramBudgetBytes));
    m_library->setSetting(QStringLiteral("engine/useCuda"),
                          s.useCuda ? QStringLiteral("1") : QStringLiteral("0"));
    m_library->setSetting(QStringLiteral("engine/gpuMemoryBytes"),
                          QString::number(s.gpuMemoryBytes));
    m_engine->applySettings(s);
}
