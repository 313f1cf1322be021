// EngineController: the worker thread, request ids and job flags (see enginecontroller.h).
#include "enginecontroller.h"

#include <QThread>

#include <mutex>

#include "engineworker.h"
#include "lectern/backend.h"
#ifdef LECTERN_HAVE_CUDA
#include "lectern/cuda_backend.h"
#endif

EngineController::Capabilities EngineController::capabilities() {
    // Once per process: register the CUDA backend (builds with CUDA) and ask whether it can run
    // here (a GPU, its driver and cuBLAS); the answer does not change while the app runs.
    static std::once_flag once;
    static bool cuda = false;
    static QString note;
    std::call_once(once, [] {
#ifdef LECTERN_HAVE_CUDA
        lectern::register_cuda_backend();
#endif
        const auto choice = lectern::resolve_backend("cuda");
        cuda = bool(choice);
        note = QString::fromStdString(choice ? choice->note : choice.error().message);
    });
    Capabilities c;
    c.cuda = cuda;
    c.cudaNote = note;
    c.hardwareThreads = std::max(1, QThread::idealThreadCount());
    return c;
}

EngineController::EngineController(QObject* parent) : QObject(parent) {
    qRegisterMetaType<EngineSettings>();
    qRegisterMetaType<IngestRequest>();
    qRegisterMetaType<IngestResult>();
    qRegisterMetaType<AskRequest>();
    qRegisterMetaType<AnswerResult>();
    qRegisterMetaType<JobFlagsPtr>();
    qRegisterMetaType<SessionExportRequest>();
    qRegisterMetaType<SessionContents>();

    m_thread = new QThread(this);
    m_thread->setObjectName(QStringLiteral("lectern-engine"));
    m_worker = new EngineWorker;
    m_worker->moveToThread(m_thread);
    connect(m_thread, &QThread::finished, m_worker, &QObject::deleteLater);

    // Worker -> controller signals cross threads, so they are queued onto this thread.
    connect(m_worker, &EngineWorker::modelLoaded, this,
            [this](quint64 id, const QString& p, const QString& d) {
                done(id);
                Q_EMIT modelLoaded(id, p, d);
            });
    connect(m_worker, &EngineWorker::modelUnloaded, this, [this](quint64 id) {
        done(id);
        Q_EMIT modelUnloaded(id);
    });
    connect(m_worker, &EngineWorker::ingestStarted, this, &EngineController::ingestStarted);
    connect(m_worker, &EngineWorker::ingestProgress, this, &EngineController::ingestProgress);
    connect(m_worker, &EngineWorker::ingestFinished, this,
            [this](quint64 id, const IngestResult& r) {
                done(id);
                Q_EMIT ingestFinished(id, r);
            });
    connect(m_worker, &EngineWorker::answerStarted, this, &EngineController::answerStarted);
    connect(m_worker, &EngineWorker::answerPiece, this, &EngineController::answerPiece);
    connect(m_worker, &EngineWorker::answerFinished, this,
            [this](quint64 id, const AnswerResult& r) {
                done(id);
                Q_EMIT answerFinished(id, r);
            });
    connect(m_worker, &EngineWorker::sessionExported, this, [this](quint64 id, const QString& p) {
        done(id);
        Q_EMIT sessionExported(id, p);
    });
    connect(m_worker, &EngineWorker::sessionImported, this,
            [this](quint64 id, const SessionContents& c) {
                done(id);
                Q_EMIT sessionImported(id, c);
            });
    connect(m_worker, &EngineWorker::gpuLost, this, [this] {
        m_gpuLost = true;
        Q_EMIT gpuLost();
    });
    connect(m_worker, &EngineWorker::failed, this, [this](quint64 id, const QString& message) {
        done(id);
        Q_EMIT failed(id, message);
    });
    m_thread->start();
}

EngineController::~EngineController() {
    for (const JobFlagsPtr& f : std::as_const(m_flags)) {
        f->pause.store(false);
        f->cancel.store(true);
    }
    m_thread->quit();
    m_thread->wait();
}

void EngineController::done(quint64 id) {
    if (m_pending > 0) --m_pending;
    m_flags.remove(id);
}

quint64 EngineController::applySettings(const EngineSettings& settings) {
    const quint64 id = nextId();
    QMetaObject::invokeMethod(
        m_worker, [w = m_worker, settings] { w->applySettings(settings); }, Qt::QueuedConnection);
    // Settings apply in order with the other requests; nothing to wait for.
    QMetaObject::invokeMethod(
        this, [this, id] { Q_EMIT settingsApplied(id); }, Qt::QueuedConnection);
    return id;
}

quint64 EngineController::loadModel(const QString& path) {
    const quint64 id = nextId();
    ++m_pending;
    QMetaObject::invokeMethod(
        m_worker, [w = m_worker, id, path] { w->loadModel(id, path); }, Qt::QueuedConnection);
    return id;
}

quint64 EngineController::unloadModel() {
    const quint64 id = nextId();
    ++m_pending;
    QMetaObject::invokeMethod(
        m_worker, [w = m_worker, id] { w->unloadModel(id); }, Qt::QueuedConnection);
    return id;
}

quint64 EngineController::ingest(const IngestRequest& request) {
    const quint64 id = nextId();
    ++m_pending;
    auto flags = std::make_shared<JobFlags>();
    m_flags.insert(id, flags);
    QMetaObject::invokeMethod(
        m_worker, [w = m_worker, id, request, flags] { w->ingest(id, request, flags); },
        Qt::QueuedConnection);
    return id;
}

quint64 EngineController::ask(const AskRequest& request) {
    const quint64 id = nextId();
    ++m_pending;
    auto flags = std::make_shared<JobFlags>();
    m_flags.insert(id, flags);
    QMetaObject::invokeMethod(
        m_worker, [w = m_worker, id, request, flags] { w->ask(id, request, flags); },
        Qt::QueuedConnection);
    return id;
}

quint64 EngineController::exportSession(const SessionExportRequest& request) {
    const quint64 id = nextId();
    ++m_pending;
    QMetaObject::invokeMethod(
        m_worker, [w = m_worker, id, request] { w->exportSession(id, request); },
        Qt::QueuedConnection);
    return id;
}

quint64 EngineController::importSession(const QString& archivePath, const QString& storeDir,
                                        const QString& modelPath) {
    const quint64 id = nextId();
    ++m_pending;
    QMetaObject::invokeMethod(
        m_worker,
        [w = m_worker, id, archivePath, storeDir, modelPath] {
            w->importSession(id, archivePath, storeDir, modelPath);
        },
        Qt::QueuedConnection);
    return id;
}

void EngineController::pauseIngest(quint64 id) {
    if (const JobFlagsPtr f = m_flags.value(id); f && !f->pause.exchange(true))
        Q_EMIT ingestPaused(id, true);
}

void EngineController::resumeIngest(quint64 id) {
    if (const JobFlagsPtr f = m_flags.value(id); f && f->pause.exchange(false))
        Q_EMIT ingestPaused(id, false);
}

void EngineController::cancelIngest(quint64 id) {
    if (const JobFlagsPtr f = m_flags.value(id)) {
        f->cancel.store(true);
        f->pause.store(false);  // a paused ingest must wake up to save its checkpoint
    }
}

void EngineController::stopAnswer(quint64 id) {
    if (const JobFlagsPtr f = m_flags.value(id)) f->cancel.store(true);
}

bool EngineController::isPaused(quint64 id) const {
    const JobFlagsPtr f = m_flags.value(id);
    return f && f->pause.load();
}
