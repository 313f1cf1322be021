// BackendLabel: which backend the engine runs on, and where the GPU kept the KV rows.
#include "backendlabel.h"

#include "enginecontroller.h"
#include "librarycontroller.h"

BackendLabel::BackendLabel(LibraryController* controller, QWidget* parent)
    : QLabel(parent), m_controller(controller)
{
    setObjectName(QStringLiteral("backendLabel"));
    setAccessibleName(tr("Engine backend"));
    EngineController* engine = controller->engine();
    connect(engine, &EngineController::settingsApplied, this, [this] {
        m_deviceNote.clear();  // a new model load: the old note no longer holds
        refresh();
    });
    connect(engine, &EngineController::ingestFinished, this,
            [this](quint64, const IngestResult& r) { takeDeviceNote(r.deviceNote); });
    connect(engine, &EngineController::answerFinished, this,
            [this](quint64, const AnswerResult& r) { takeDeviceNote(r.deviceNote); });
    connect(engine, &EngineController::gpuLost, this, &BackendLabel::refresh);
    refresh();
}

void BackendLabel::takeDeviceNote(const QString& note)
{
    if (note.isEmpty())
        return;
    m_deviceNote = note;
    refresh();
}

void BackendLabel::refresh()
{
    const EngineController::Capabilities caps = EngineController::capabilities();
    // The engine's note as a sentence: "using the GPU NVIDIA H100 ...", "no NVIDIA GPU found ...".
    QString note = caps.cudaNote;
    if (!note.isEmpty())
        note = note.front().toUpper() + note.mid(1) + QLatin1Char('.');
    if (m_controller->engineSettings().useCuda && m_controller->engine()->gpuWasLost()) {
        setText(tr("CPU"));
        setToolTip(tr("The GPU stopped working while Lectern used it, so the engine runs on the "
                      "CPU until Lectern restarts."));
    } else if (m_controller->engineSettings().useCuda) {
        setText(tr("GPU"));
        QString tip = note;
        if (!m_deviceNote.isEmpty())
            tip += QLatin1Char('\n') + tr("Last run: %1.").arg(m_deviceNote);
        setToolTip(tip);
    } else {
        setText(tr("CPU"));
        setToolTip(caps.cuda ? tr("The engine runs on the CPU; the GPU can be chosen in Settings.")
                             : note);
    }
}
