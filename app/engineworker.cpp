// EngineWorker: the model, tokenizers and open store it keeps between jobs, and the jobs other
// than reading (engineworkeringest.cpp): loading a model, answering a question, exporting and
// importing a session. Everything here runs on the worker thread; results leave through queued
// signals.
#include "engineworker.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>

#include <random>

#include "answerprovenance.h"
#include "bundledresources.h"
#include "enginecontroller.h"
#include "enginepath.h"
#include "lectern/generate.h"
#include "lectern/prompt_format.h"
#include "tokenizerloader.h"

namespace {

QString fromStd(const lectern::Error& e) {
    return QString::fromStdString(e.message);
}

QString describe(const lectern::ModelConfig& c) {
    return QStringLiteral("%1, %2 RWKV + %3 attention blocks, width %4, %5 heads, vocabulary %6")
        .arg(QString::fromLatin1(lectern::arch_name(c.arch).data(),
                                 qsizetype(lectern::arch_name(c.arch).size())))
        .arg(c.n_rwkv)
        .arg(c.n_attn)
        .arg(c.n_embd)
        .arg(c.n_head)
        .arg(c.vocab);
}

}  // namespace

EngineWorker::EngineWorker(QObject* parent) : QObject(parent) {}

EngineWorker::~EngineWorker() = default;

void EngineWorker::applySettings(const EngineSettings& settings) {
    const bool reload = settings.threads != m_settings.threads ||
                        settings.useCuda != m_settings.useCuda ||
                        (settings.useCuda && settings.gpuMemoryBytes != m_settings.gpuMemoryBytes);
    m_settings = settings;
    if (reload && m_model) {  // threads, backend and GPU budget are fixed when a model is loaded
        closeStore();
        m_model.reset();
    }
}

lectern::Result<std::shared_ptr<const lectern::Model>> EngineWorker::ensureModel(
    const QString& path) {
    const QString canonical = QFileInfo(path).absoluteFilePath();
    if (m_model && canonical == m_modelPath) return m_model;
    closeStore();  // a store is opened for one model
    m_model.reset();
    m_modelFingerprint.clear();
    lectern::RuntimeOptions runtime;
    runtime.threads = m_settings.threads;
    runtime.backend = m_settings.useCuda && !m_gpuLost && EngineController::capabilities().cuda
                          ? lectern::Backend::cuda
                          : lectern::Backend::cpu;
    runtime.gpu_memory_budget = std::size_t(qMax<qint64>(m_settings.gpuMemoryBytes, 0));
    auto model = lectern::Model::load(enginePath(canonical), runtime);
    if (!model)
        return lectern::make_error(
            QStringLiteral("The model %1 could not be loaded (%2). Choose another model file.")
                .arg(QFileInfo(path).fileName(), fromStd(model.error()))
                .toStdString());
    m_model = *model;
    m_modelPath = canonical;
    return m_model;
}

bool EngineWorker::dropLostGpu() {
    if (!m_model || m_gpuLost || !lectern::gpu_lost(*m_model)) return false;
    m_gpuLost = true;
    closeStore();
    m_model.reset();
    m_modelPath.clear();
    m_modelFingerprint.clear();
    Q_EMIT gpuLost();
    return true;
}

EngineWorker::Attempt EngineWorker::attemptFailed(quint64 id, const QString& message) {
    if (dropLostGpu()) return Attempt::gpuLost;
    Q_EMIT failed(id, message);
    return Attempt::done;
}

QString EngineWorker::modelFingerprint() {
    if (m_model && m_modelFingerprint.isEmpty())
        m_modelFingerprint =
            QString::fromStdString(lectern::DocumentStore::model_fingerprint(*m_model));
    return m_modelFingerprint;
}

lectern::Result<EngineWorker::LoadedTokenizer> EngineWorker::tokenizerFor(const QString& spec) {
    const QString key = spec.isEmpty() ? QStringLiteral("world") : spec;
    if (auto it = m_tokenizers.constFind(key); it != m_tokenizers.constEnd()) return *it;
    QByteArray bytes;
    if (key == QLatin1String("world")) {
        bytes = BundledResources::worldVocab();
    } else {
        QFile f(key);
        if (!f.open(QIODevice::ReadOnly))
            return lectern::make_error(QStringLiteral("The tokenizer %1 cannot be read (%2).")
                                           .arg(key, f.errorString())
                                           .toStdString());
        bytes = f.readAll();
    }
    auto tok = TokenizerLoader::load(key);
    if (!tok)
        return lectern::make_error(QStringLiteral("The tokenizer %1 cannot be used (%2).")
                                       .arg(key, fromStd(tok.error()))
                                       .toStdString());
    LoadedTokenizer loaded;
    loaded.identity.kind = std::string((*tok)->kind());
    loaded.identity.sha256 =
        QCryptographicHash::hash(bytes, QCryptographicHash::Sha256).toHex().toStdString();
    loaded.tokenizer = std::move(*tok);
    m_tokenizers.insert(key, loaded);
    return loaded;
}

lectern::Result<lectern::DocumentStore*> EngineWorker::openStore(const QString& dir) {
    const QString canonical = QFileInfo(dir).absoluteFilePath();
    if (m_store && canonical == m_storeDir) return &*m_store;
    closeStore();
    lectern::StoreRuntime runtime;
    runtime.ram_budget_bytes = std::uint64_t(std::max<qint64>(m_settings.ramBudgetBytes, 1 << 20));
    auto store =
        lectern::DocumentStore::open(enginePath(canonical), m_model, runtime);
    if (!store) return store.error();
    m_store.emplace(std::move(*store));
    m_storeDir = canonical;
    return &*m_store;
}

void EngineWorker::closeStore() {
    m_documentState.reset();
    m_store.reset();
}

lectern::Result<lectern::State*> EngineWorker::documentState(lectern::DocumentStore& store,
                                                             qint64 asOf) {
    if (m_documentState && m_documentAsOf == asOf) return &*m_documentState;
    m_documentState.reset();
    auto state = store.load_state(asOf);
    if (!state) return state.error();
    // On the GPU now, so that each question's fork is copied there. Not fatal: a state that
    // could not be put there uploads with each question, as before.
    if (auto warm = lectern::warm_up(*state); !warm)
        qWarning("lectern: keeping the document on the GPU failed (%s); each question uploads it",
                 warm.error().message.c_str());
    m_documentState.emplace(std::move(*state));
    m_documentAsOf = asOf;
    return &*m_documentState;
}

void EngineWorker::loadModel(quint64 id, const QString& path) {
    auto model = ensureModel(path);
    if (!model)
        Q_EMIT failed(id, fromStd(model.error()));
    else
        Q_EMIT modelLoaded(id, m_modelPath, describe((*model)->config()));
}

void EngineWorker::unloadModel(quint64 id) {
    closeStore();
    m_model.reset();
    m_modelPath.clear();
    m_modelFingerprint.clear();
    Q_EMIT modelUnloaded(id);
}

void EngineWorker::ask(quint64 id, const AskRequest& request, const JobFlagsPtr& flags) {
    if (askOnce(id, request, flags) != Attempt::gpuLost) return;
    // A stopped answer is not started again: what was shown of it stays.
    if (flags && flags->cancel.load())
        return Q_EMIT failed(id, QStringLiteral("The GPU stopped working, so Lectern continues on "
                                                "the CPU."));
    // The second attempt runs on the CPU (m_gpuLost), where no GPU can be lost again.
    askOnce(id, request, flags);
}

EngineWorker::Attempt EngineWorker::askOnce(quint64 id, const AskRequest& request,
                                            const JobFlagsPtr& flags) {
    const auto fail = [&](const QString& message) { return attemptFailed(id, message); };
    auto model = ensureModel(request.modelPath);
    if (!model) return fail(fromStd(model.error()));
    auto tok = tokenizerFor(request.tokenizerSpec);
    if (!tok) return fail(fromStd(tok.error()));
    auto store = openStore(request.storeDir);
    if (!store)
        return fail(QStringLiteral("The document's memory could not be opened (%1). Read the "
                                   "document again.")
                        .arg(fromStd(store.error())));
    auto document = documentState(**store, request.asOf);
    if (!document)
        return fail(QStringLiteral("That point of the document cannot be asked about (%1). "
                                   "Choose another checkpoint.")
                        .arg(fromStd(document.error())));
    // The question runs on a fork: the document's state stays as read, for the next question.
    // On the GPU the document's rows are put back there first if an earlier question's fork or
    // another document took their memory (a no-op otherwise), so this fork borrows or copies
    // them on the device instead of uploading them.
    if (auto warm = lectern::warm_up(**document); !warm)
        qWarning("lectern: keeping the document on the GPU failed (%s)",
                 warm.error().message.c_str());
    lectern::State state = (*document)->fork();

    std::vector<lectern::ChatMessage> messages;
    for (const ChatTurn& t : request.history)
        messages.push_back({t.fromUser ? lectern::ChatRole::user : lectern::ChatRole::assistant,
                            t.text.toStdString()});
    messages.push_back({lectern::ChatRole::user, request.question.toStdString()});
    auto prompt = lectern::format_prompt(messages, lectern::PromptOptions{});
    if (!prompt)
        return fail(
            QStringLiteral("The question cannot be asked: %1").arg(fromStd(prompt.error())));
    // After a document, a chat turn starts on a new paragraph (as lectern-cli ask).
    const std::vector<lectern::token_id> question = tok->tokenizer->encode("\n\n" + *prompt);
    const std::size_t vocab = std::size_t((*model)->config().vocab);
    if (question.empty())
        return fail(QStringLiteral("The question is empty; type a question."));
    for (const lectern::token_id t : question) {
        if (t >= vocab)
            return fail(QStringLiteral("The tokenizer does not match the model."));
    }

    lectern::SamplingOptions sampling;
    const SamplingSettings& s = request.sampling;
    sampling.temperature = float(s.temperature);
    sampling.top_p = float(s.topP);
    sampling.top_k = s.topK;
    sampling.presence_penalty = float(s.presencePenalty);
    sampling.frequency_penalty = float(s.frequencyPenalty);
    sampling.max_tokens = s.maxTokens;
    if (s.seed != 0) {
        sampling.seed = s.seed;
    } else {
        std::random_device device;
        sampling.seed = (std::uint64_t(device()) << 32) | device();
    }
    if (tok->tokenizer->kind() == "world")
        sampling.stop_tokens = lectern::default_stop_tokens(lectern::PromptStyle::chat);
    sampling.stop_strings = lectern::default_stop_strings(lectern::PromptStyle::chat);
    if (auto valid = lectern::validate(sampling); !valid)
        return fail(QStringLiteral("The sampling settings are not valid (%1). Check them in "
                                   "Settings.")
                        .arg(fromStd(valid.error())));

    Q_EMIT answerStarted(id);
    lectern::ForwardTrace trace;
    auto generated = lectern::generate(
        state, *tok->tokenizer, question, sampling,
        [&](std::string_view piece) {
            if (flags && flags->cancel.load())
                return false;  // Stop: the text shown so far is the answer
            Q_EMIT answerPiece(id, QString::fromUtf8(piece.data(), qsizetype(piece.size())));
            return true;
        },
        &trace);
    if (!generated)
        return fail(QStringLiteral("Answering failed: %1").arg(fromStd(generated.error())));

    AnswerResult result;
    result.text = QString::fromStdString(generated->text);
    result.finishReason =
        QString::fromLatin1(lectern::finish_reason_name(generated->finish).data(),
                            qsizetype(lectern::finish_reason_name(generated->finish).size()));
    result.tokens = int(generated->tokens.size());
    const int first = int(question.size()) - 1;
    int rows = int(generated->tokens.size()) +
               (generated->finish == lectern::FinishReason::stop_token ? 1 : 0);
    rows = std::max(1, std::min(rows, trace.rows - first));
    if (trace.rows > first)
        result.attended = AnswerProvenance::pagesFor(**store, trace, first, rows, request.pages);
    result.deviceNote = QString::fromStdString(lectern::device_memory_note(state));
    Q_EMIT answerFinished(id, result);
    return Attempt::done;
}

void EngineWorker::exportSession(quint64 id, const SessionExportRequest& request) {
    if (QFileInfo(request.storeDir).absoluteFilePath() == m_storeDir)
        closeStore();  // nothing of ours writes to it during the copy
    if (auto ok = SessionArchive::write(request); !ok)
        Q_EMIT failed(id, fromStd(ok.error()));
    else
        Q_EMIT sessionExported(id, request.archivePath);
}

void EngineWorker::importSession(quint64 id, const QString& archivePath, const QString& storeDir,
                                 const QString& modelPath) {
    auto model = ensureModel(modelPath);
    if (!model) return Q_EMIT failed(id, fromStd(model.error()));
    auto contents = SessionArchive::unpack(archivePath, storeDir, modelFingerprint());
    if (!contents) return Q_EMIT failed(id, fromStd(contents.error()));
    if (auto ok = lectern::DocumentStore::verify(enginePath(storeDir), *model);
        !ok) {
        QDir(storeDir).removeRecursively();
        return Q_EMIT failed(id, QStringLiteral("The session's document memory is damaged (%1). "
                                                "Export it again on the machine it came from.")
                                     .arg(fromStd(ok.error())));
    }
    Q_EMIT sessionImported(id, *contents);
}
