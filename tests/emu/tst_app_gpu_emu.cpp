// The application on the GPU, emulated (lectern_cuda_engine_emu): the engine worker reads a
// document into its store and answers questions with the CUDA backend chosen in the engine
// settings, as the GUI does (the document's state kept on the device and forked per question),
// and gives the same greedy answers and attended pages as the CPU. The results say where the KV
// rows sat (all on the GPU, borrowed from the document's state by a question on a card that holds
// them once, or paged under a small GPU memory setting), and the status bar's backend field
// shows it. A GPU lost to a kernel fault (emulated) leaves the engine on the CPU, and the
// question or reading it broke runs again there.
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <cmath>
#include <optional>
#include <variant>

#include "apptestutil.h"
#include "backendlabel.h"
#include "cuda_emu.h"
#include "enginecontroller.h"
#include "lectern/cuda_backend.h"
#include "library.h"
#include "librarycontroller.h"

namespace {

const QString kQuestion = QStringLiteral("Who is the keeper of the lighthouse?");

EngineSettings onGpu(qint64 gpuMemoryBytes = 0)
{
    EngineSettings s;
    s.threads = 2;
    s.useCuda = true;
    s.gpuMemoryBytes = gpuMemoryBytes;
    return s;
}

// Runs a request on `engine` and returns the finished signal's result, or the failure message.
template <typename Result, typename Start>
std::variant<Result, QString> run(EngineController& engine, Start start,
                                  void (EngineController::*finishedSignal)(quint64, const Result&))
{
    QSignalSpy finished(&engine, finishedSignal);
    QSignalSpy failed(&engine, &EngineController::failed);
    start();
    if (!QTest::qWaitFor([&] { return !finished.isEmpty() || !failed.isEmpty(); }, 600000))
        return QStringLiteral("timed out");
    if (!failed.isEmpty()) return failed.first().at(1).toString();
    return finished.first().at(1).value<Result>();
}

// The failure message of a run, or nothing.
template <typename Result>
QString failure(const std::variant<Result, QString>& outcome)
{
    const QString* message = std::get_if<QString>(&outcome);
    return message ? *message : QString();
}

// The application's objects on the GPU: a library (in `dir`), the engine, its controller set
// for the GPU, and the status bar's backend field.
// (Members in this order: the library is open before the controller is made, and the objects go
// in the reverse order.)
struct GpuApp {
    Library library;
    bool opened = false;
    EngineController engine;
    LibraryController controller;
    std::optional<BackendLabel> label;

    GpuApp(const QTemporaryDir& dir, const QString& libraryFile)
        : opened(library.open(dir.filePath(libraryFile))),
          controller(&library, &engine, dir.filePath(QStringLiteral("stores")))
    {
        controller.setEngineSettings(onGpu());
        label.emplace(&controller);
    }
};

}  // namespace

class TestAppGpuEmu : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_document;
    IngestResult m_cpuRead;
    AnswerResult m_cpuAnswer;

    IngestRequest ingestRequest(const QString& store) const
    {
        IngestRequest r = AppTest::storeTemplate();
        r.documentPath = m_document;
        r.storeDir = m_dir.filePath(store);
        return r;
    }
    AskRequest askRequest(const QString& store, const IngestResult& read) const
    {
        AskRequest a;
        a.storeDir = m_dir.filePath(store);
        a.modelPath = AppTest::modelPath();
        a.tokenizerSpec = AppTest::tokenizerPath();
        a.question = kQuestion;
        a.sampling = AppTest::greedy(16);
        a.pages = read.pages;
        return a;
    }
    std::variant<IngestResult, QString> read(EngineController& engine, const QString& store)
    {
        return run<IngestResult>(engine, [&] { engine.ingest(ingestRequest(store)); },
                                 &EngineController::ingestFinished);
    }
    std::variant<AnswerResult, QString> ask(EngineController& engine, const QString& store,
                                            const IngestResult& read)
    {
        return run<AnswerResult>(engine, [&] { engine.ask(askRequest(store, read)); },
                                 &EngineController::answerFinished);
    }
    // The MiB the weights and scratch take on the GPU, from the plain error a 1 MiB GPU memory
    // setting gets (0 when it does not say); `engine` is left with that setting.
    double weightsMib(EngineController& engine)
    {
        engine.applySettings(onGpu(1 << 20));
        const QString why = failure(ask(engine, QStringLiteral("cpu"), m_cpuRead));
        const auto m = QRegularExpression(QStringLiteral("the ([0-9.]+) MiB the weights")).match(why);
        if (!m.hasMatch()) qWarning("%s", qPrintable(why));
        return m.hasMatch() ? m.captured(1).toDouble() : 0.0;
    }
    // Asks `store` (read as `read`) on `engine`: what is wrong, empty when nothing: a failure, a
    // device note without `note`, or another answer or attended pages than the CPU's. `answer`
    // gets the result.
    QString answersAsTheCpu(EngineController& engine, const QString& store, const IngestResult& read,
                            QLatin1String note, AnswerResult* answer = nullptr)
    {
        auto a = ask(engine, store, read);
        if (!std::holds_alternative<AnswerResult>(a)) return failure(a);
        const AnswerResult got = std::get<AnswerResult>(a);
        if (answer) *answer = got;
        if (!got.deviceNote.contains(note)) return QStringLiteral("note: ") + got.deviceNote;
        return differs(got, m_cpuAnswer);
    }
    // The same answer and attended pages as the CPU's on its own store.
    static QString differs(const AnswerResult& a, const AnswerResult& cpu)
    {
        if (a.text != cpu.text) return QStringLiteral("answer \"%1\" vs \"%2\"").arg(a.text, cpu.text);
        if (a.attended.size() != cpu.attended.size()) return QStringLiteral("attended pages");
        for (qsizetype i = 0; i < a.attended.size(); ++i)
            if (a.attended[i].page != cpu.attended[i].page ||
                std::abs(a.attended[i].weight - cpu.attended[i].weight) > 1e-3)
                return QStringLiteral("attended page %1").arg(i);
        return {};
    }

private Q_SLOTS:
    void initTestCase()
    {
        lectern::register_cuda_backend();  // before capabilities(), as the app's main() does
        QVERIFY2(EngineController::capabilities().cuda,
                 qPrintable(EngineController::capabilities().cudaNote));
        QVERIFY(m_dir.isValid());
        m_document = AppTest::writeDocument(m_dir.path());
        QVERIFY(!m_document.isEmpty());
        EngineController cpu;  // useCuda is off by default
        auto r = read(cpu, QStringLiteral("cpu"));
        QVERIFY2(std::holds_alternative<IngestResult>(r), qPrintable(failure(r)));
        m_cpuRead = std::get<IngestResult>(r);
        QVERIFY(m_cpuRead.complete && m_cpuRead.deviceNote.isEmpty());
        auto a = ask(cpu, QStringLiteral("cpu"), m_cpuRead);
        QVERIFY2(std::holds_alternative<AnswerResult>(a), qPrintable(failure(a)));
        m_cpuAnswer = std::get<AnswerResult>(a);
        QVERIFY(!m_cpuAnswer.text.isEmpty() && !m_cpuAnswer.attended.isEmpty());
        QVERIFY(m_cpuAnswer.deviceNote.isEmpty());
    }

    // Read and asked on the GPU; a CPU-read store asked on the GPU; the same answers.
    void readAndAskOnTheGpu()
    {
        EngineController gpu;
        gpu.applySettings(onGpu());
        auto r = read(gpu, QStringLiteral("gpu"));
        QVERIFY2(std::holds_alternative<IngestResult>(r), qPrintable(failure(r)));
        const IngestResult gpuRead = std::get<IngestResult>(r);
        QCOMPARE(gpuRead.tokens, m_cpuRead.tokens);
        QVERIFY2(gpuRead.deviceNote.startsWith(QLatin1String("KV rows on the GPU")),
                 qPrintable(gpuRead.deviceNote));
        for (const QString& store : {QStringLiteral("gpu"), QStringLiteral("cpu")}) {
            // Twice: the second question forks the document state the first one left on the GPU.
            for (int i = 0; i < 2; ++i) {
                const QString why =
                    answersAsTheCpu(gpu, store, gpuRead, QLatin1String("KV rows on the GPU"));
                QVERIFY2(why.isEmpty(), qPrintable(store + QLatin1String(": ") + why));
            }
        }
    }

    // A GPU memory setting too small for the weights is a plain error; one with room for the
    // weights and a few chunk slots pages the KV rows and still answers as the CPU. Each
    // question's fork runs on the document's slot pool (PoolLoan), the second one on the chunks
    // the first loaded.
    void pagedUnderASmallGpuMemorySetting()
    {
        EngineController gpu;
        gpu.applySettings(onGpu(1 << 20));
        const double weights = weightsMib(gpu);
        QVERIFY(weights > 0);
        gpu.applySettings(onGpu(qint64((weights + 0.3) * (1 << 20))));
        for (int question = 0; question < 2; ++question) {
            const QString why =
                answersAsTheCpu(gpu, QStringLiteral("cpu"), m_cpuRead,
                                QLatin1String("the slots of the state it was forked from"));
            QVERIFY2(why.isEmpty(),
                     qPrintable(QString::number(question) + QLatin1String(": ") + why));
        }
    }

    // A GPU memory setting that holds the document's KV rows once but not twice (a long book on
    // a small card): each question's fork borrows the rows the document keeps on the GPU instead
    // of uploading them again, and answers as the CPU.
    void questionsBorrowTheDocumentsRows()
    {
        EngineController gpu;
        const double weights = weightsMib(gpu);
        QVERIFY(weights > 0);
        gpu.applySettings(onGpu(0));
        AnswerResult copied;
        const QString why = answersAsTheCpu(gpu, QStringLiteral("cpu"), m_cpuRead,
                                            QLatin1String("KV rows on the GPU"), &copied);
        QVERIFY2(why.isEmpty(), qPrintable(why));
        const auto rows = QRegularExpression(QStringLiteral("^KV rows on the GPU: ([0-9.]+) MiB"))
                              .match(copied.deviceNote);
        QVERIFY2(rows.hasMatch(), qPrintable(copied.deviceNote));
        gpu.applySettings(onGpu(qint64((weights + 1.5 * rows.captured(1).toDouble()) * (1 << 20))));
        for (int question = 0; question < 2; ++question) {
            const QString borrowed = answersAsTheCpu(gpu, QStringLiteral("cpu"), m_cpuRead,
                                                     QLatin1String("in place"));
            QVERIFY2(borrowed.isEmpty(), qPrintable(borrowed));
        }
    }

    // The status bar's backend field: "GPU" with the device's name, then where the last
    // answer's KV rows sat; "CPU" when the settings choose it.
    void backendLabelShowsTheDevice()
    {
        GpuApp app(m_dir, QStringLiteral("library.sqlite"));
        QVERIFY(app.opened);
        EngineController& engine = app.engine;
        LibraryController& controller = app.controller;
        BackendLabel& label = *app.label;
        QCOMPARE(label.text(), QStringLiteral("GPU"));
        QVERIFY2(label.toolTip().contains(QLatin1String("Lectern CPU emulator")),
                 qPrintable(label.toolTip()));
        auto a = ask(engine, QStringLiteral("cpu"), m_cpuRead);
        QVERIFY2(std::holds_alternative<AnswerResult>(a), qPrintable(failure(a)));
        QVERIFY2(label.toolTip().contains(QLatin1String("Last run: KV rows on the GPU")),
                 qPrintable(label.toolTip()));
        EngineSettings cpu = onGpu();
        cpu.useCuda = false;
        QSignalSpy applied(&engine, &EngineController::settingsApplied);
        controller.setEngineSettings(cpu);
        QTRY_VERIFY(!applied.isEmpty());
        QCOMPARE(label.text(), QStringLiteral("CPU"));
        QVERIFY(!label.toolTip().contains(QLatin1String("Last run")));
    }

    // A kernel fault loses the GPU's context (emulated: a sticky error, emu::arm_fault): the
    // question runs again on the CPU and answers as the CPU did, the status bar says "CPU", and
    // the next question runs on the CPU. A refused launch leaves the GPU usable: at most a plain
    // failure, and the GPU answers the next question.
    void aLostGpuFallsBackToTheCpu()
    {
        GpuApp app(m_dir, QStringLiteral("library-lost.sqlite"));
        QVERIFY(app.opened);
        EngineController& engine = app.engine;
        const BackendLabel& label = *app.label;
        QSignalSpy lost(&engine, &EngineController::gpuLost);

        emu::arm_fault(emu::Fault::refused_launch, 40);
        QString why = failure(ask(engine, QStringLiteral("cpu"), m_cpuRead));
        emu::clear_faults();
        QVERIFY(lost.isEmpty() && !engine.gpuWasLost());
        QVERIFY2(!why.contains(QLatin1String("CPU")), qPrintable(why));
        why = answersAsTheCpu(engine, QStringLiteral("cpu"), m_cpuRead,
                              QLatin1String("KV rows on the GPU"));
        QVERIFY2(why.isEmpty(), qPrintable(why));

        AnswerResult retried;
        emu::arm_fault(emu::Fault::kernel_fault, 40);
        why = answersAsTheCpu(engine, QStringLiteral("cpu"), m_cpuRead, QLatin1String(""),
                              &retried);
        emu::clear_faults();  // (a real GPU's context never comes back: the app must not need it)
        QVERIFY2(why.isEmpty(), qPrintable(why));
        QCOMPARE(lost.count(), 1);
        QVERIFY2(retried.deviceNote.isEmpty(), qPrintable(retried.deviceNote));  // on the CPU
        QVERIFY(engine.gpuWasLost());
        QCOMPARE(label.text(), QStringLiteral("CPU"));
        QVERIFY2(label.toolTip().contains(QLatin1String("stopped working")),
                 qPrintable(label.toolTip()));

        AnswerResult onCpu;
        why = answersAsTheCpu(engine, QStringLiteral("cpu"), m_cpuRead, QLatin1String(""), &onCpu);
        QVERIFY2(why.isEmpty(), qPrintable(why));
        QVERIFY2(onCpu.deviceNote.isEmpty(), qPrintable(onCpu.deviceNote));
        QCOMPARE(lost.count(), 1);
    }

    // A question stopped (Esc) before the GPU failed under it is not asked again on the CPU: it
    // fails saying that the engine continues there, and the next question answers on the CPU.
    void aStoppedQuestionIsNotAskedAgain()
    {
        GpuApp app(m_dir, QStringLiteral("library-stopped.sqlite"));
        QVERIFY(app.opened);
        EngineController& engine = app.engine;
        QSignalSpy lost(&engine, &EngineController::gpuLost);
        QSignalSpy started(&engine, &EngineController::answerStarted);
        emu::arm_fault(emu::Fault::kernel_fault, 40);
        // Stopped as soon as it is asked: long before the worker's 40th launch.
        const auto askAndStop = [&] {
            engine.stopAnswer(engine.ask(askRequest(QStringLiteral("cpu"), m_cpuRead)));
        };
        const QString why =
            failure(run<AnswerResult>(engine, askAndStop, &EngineController::answerFinished));
        emu::clear_faults();
        QVERIFY2(why.contains(QLatin1String("continues on the CPU")), qPrintable(why));
        QCOMPARE(lost.count(), 1);
        QVERIFY(started.count() <= 1);  // never started again
        AnswerResult onCpu;
        const QString again =
            answersAsTheCpu(engine, QStringLiteral("cpu"), m_cpuRead, QLatin1String(""), &onCpu);
        QVERIFY2(again.isEmpty(), qPrintable(again));
        QVERIFY2(onCpu.deviceNote.isEmpty(), qPrintable(onCpu.deviceNote));
    }

    // The GPU lost in the middle of an answer, after some of it was shown: the answer starts
    // over on the CPU, and the conversation keeps that answer alone (the CPU's), not the start
    // the GPU wrote before it.
    void aGpuLostMidAnswerStartsOverOnTheCpu()
    {
        GpuApp app(m_dir, QStringLiteral("library-mid-answer.sqlite"));
        QVERIFY(app.opened);
        LibraryController& controller = app.controller;
        controller.setStoreTemplate(AppTest::storeTemplate());
        controller.setSamplingSettings(AppTest::greedy(16));
        const qint64 doc =
            controller.addDocument(m_document, AppTest::modelPath(), AppTest::tokenizerPath());
        QVERIFY(doc > 0);
        QVERIFY(QTest::qWaitFor(
            [&] {
                const auto d = app.library.document(doc);
                return d && (d->state == DocumentState::Ready || d->state == DocumentState::Failed);
            },
            600000));
        QCOMPARE(app.library.document(doc)->state, DocumentState::Ready);

        QSignalSpy finished(&controller, &LibraryController::answerFinished);
        QStringList events;  // the engine's answer signals in order: "start" or the piece
        connect(&app.engine, &EngineController::answerStarted, this,
                [&](quint64) { events << QStringLiteral("start"); });
        connect(&app.engine, &EngineController::answerPiece, this,
                [&](quint64, const QString& piece) { events << piece; });
        // A question in a new conversation (the same prompt each time): its saved answer, and
        // the kernel launches it took.
        const auto askAgain = [&](std::uint64_t* launches) -> std::optional<MessageRecord> {
            events.clear();
            const qint64 conversation = controller.newConversation(doc);
            const std::uint64_t before = emu::launches_issued();
            const qsizetype done = finished.size();
            const qint64 answer = controller.sendMessage(conversation, kQuestion);
            if (!answer || !QTest::qWaitFor([&] { return finished.size() > done; }, 600000))
                return std::nullopt;
            *launches = emu::launches_issued() - before;
            return app.library.message(answer);
        };
        std::uint64_t launches = 0;
        for (int warm = 0; warm < 2; ++warm) {  // the second one as the faulted one will run
            const auto answer = askAgain(&launches);
            QVERIFY(answer);
            QCOMPARE(answer->text, m_cpuAnswer.text);
        }
        QVERIFY(launches > 0);

        QSignalSpy lost(&app.engine, &EngineController::gpuLost);
        QStringList shown;  // what the chat showed of the answer, in order
        connect(&controller, &LibraryController::answerUpdated, this,
                [&](qint64, qint64, const QString& text) { shown << text; });
        emu::arm_fault(emu::Fault::kernel_fault, launches / 2);
        std::uint64_t ignored = 0;
        const auto answer = askAgain(&ignored);
        emu::clear_faults();
        QVERIFY(answer);
        QCOMPARE(lost.count(), 1);
        QCOMPARE(events.count(QStringLiteral("start")), 2);
        const qsizetype restart = events.lastIndexOf(QStringLiteral("start"));
        QVERIFY2(restart > 1, qPrintable(events.join(QLatin1Char('|'))));  // pieces were shown
        QCOMPARE(answer->state, MessageState::Complete);
        QCOMPARE(answer->text, m_cpuAnswer.text);
        QCOMPARE(events.mid(restart + 1).join(QString()), m_cpuAnswer.text);
        // The lost start was taken off the screen when the answer started over, and what was
        // shown after that was only ever the beginning of the CPU's answer.
        const qsizetype cleared = shown.lastIndexOf(QString());
        QVERIFY2(cleared >= 0, qPrintable(shown.join(QLatin1Char('|'))));
        for (const QString& text : shown.mid(cleared))
            QVERIFY2(m_cpuAnswer.text.startsWith(text), qPrintable(text));
    }

    // The GPU lost while reading: the reading resumes on the CPU from the store's last
    // checkpoint, finishes, and the document answers as the one the CPU read.
    void aGpuLostWhileReadingResumesOnTheCpu()
    {
        EngineController engine;
        engine.applySettings(onGpu());
        std::uint64_t before = emu::launches_issued();
        auto r = read(engine, QStringLiteral("read-whole"));
        QVERIFY2(std::holds_alternative<IngestResult>(r), qPrintable(failure(r)));
        const std::uint64_t launches = emu::launches_issued() - before;

        QSignalSpy lost(&engine, &EngineController::gpuLost);
        QSignalSpy started(&engine, &EngineController::ingestStarted);
        emu::arm_fault(emu::Fault::kernel_fault, launches * 2 / 3);
        r = read(engine, QStringLiteral("read-lost"));
        emu::clear_faults();
        QVERIFY2(std::holds_alternative<IngestResult>(r), qPrintable(failure(r)));
        const IngestResult resumed = std::get<IngestResult>(r);
        QCOMPARE(lost.count(), 1);
        QVERIFY(resumed.complete);
        QCOMPARE(resumed.tokens, m_cpuRead.tokens);
        QVERIFY2(resumed.deviceNote.isEmpty(), qPrintable(resumed.deviceNote));  // on the CPU
        // Started twice: on the GPU from nothing, then on the CPU from a checkpoint.
        QCOMPARE(started.count(), 2);
        QCOMPARE(started.at(0).at(1).toLongLong(), 0);
        const qint64 kept = started.at(1).at(1).toLongLong();
        QVERIFY2(kept > 0 && kept < m_cpuRead.tokens, qPrintable(QString::number(kept)));

        const QString why =
            answersAsTheCpu(engine, QStringLiteral("read-lost"), resumed, QLatin1String(""));
        QVERIFY2(why.isEmpty(), qPrintable(why));
    }
};

QTEST_MAIN(TestAppGpuEmu)
#include "tst_app_gpu_emu.moc"
