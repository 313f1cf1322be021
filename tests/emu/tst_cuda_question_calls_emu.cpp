// What reading a document and asking it questions asks of the driver, on the emulated backend
// (emu::driver_calls counts cudaMalloc, cudaFree, cudaHostAlloc, cudaFreeHost, blocking copies,
// waits and graph instantiations): a real GPU pays for each allocation (page-locked ones map and
// pin pages; frees wait for the device) far beyond its bytes, and no timed test could say so.
// Checked on the 2-attention-block test model, with dense KV mirrors, the paged cache (a pool too
// small for a token's chunks, so every token loads some), and a fork borrowing its document's
// mirrors, each with CUDA graphs off and on:
// - a decode token of the document, once its first two tokens ran (each work buffer's graphs
//   captured), allocates and frees nothing, device or page-locked;
// - a question (fork, an 18-token prompt, three answer tokens, its end) pins no page-locked
//   memory: the KV upload staging and row buffers are the model's. It used to, paged: each fork's
//   uploader pinned its own staging, and a paged state's staging grew row by row with its open
//   chunk (a cudaHostAlloc and a cudaFreeHost per token);
// - an answer token after the first two allocates and frees nothing either, and the question's
//   prompt frees nothing (a paged fork's page tables are made with room to grow);
// - with graphs on, a question instantiates at most two graphs per captured span (one per work
//   buffer) and none after its second token; off, none at all.
// The counts of each step are printed (qInfo) for the record.
#include <QTest>

#include <cstdint>
#include <span>
#include <vector>

#include "cuda_emu.h"
#include "cuda_forward_util.h"
#include "lectern/inference.h"

namespace {

using lectern::token_id;
using namespace cuda_forward_test;

QString model_path() {
    return data_dir() + QStringLiteral("/golden/rwkvx-c128-bf16.pth");
}

struct Counts {
    int malloc = 0, free = 0, host_alloc = 0, free_host = 0, blocking = 0, sync = 0,
        event_sync = 0, graphs = 0;
    int allocator() const { return malloc + free + host_alloc + free_host; }
};

// The calls since the last take(), printed with `what`.
Counts take(const char* what) {
    emu::DriverCalls& c = emu::driver_calls();
    Counts r;
    r.malloc = c.malloc;
    r.free = c.free;
    r.host_alloc = c.host_alloc;
    r.free_host = c.free_host;
    r.blocking = c.blocking_copy;
    r.sync = c.sync;
    r.event_sync = c.event_sync;
    r.graphs = c.graph_instantiate;
    emu::reset_driver_calls();
    qInfo("%-20s malloc %2d free %2d host_alloc %d free_host %d blocking %2d sync %d "
          "event_sync %3d graphs %d",
          what, r.malloc, r.free, r.host_alloc, r.free_host, r.blocking, r.sync, r.event_sync,
          r.graphs);
    return r;
}

bool one(lectern::State& s, token_id t, std::vector<float>& logits) {
    return bool(lectern::forward(s, std::span(&t, 1), false, logits));
}

}  // namespace

class TestCudaQuestionCallsEmu : public QObject {
    Q_OBJECT

    std::vector<token_id> m_ids;

private Q_SLOTS:
    void initTestCase() {
        LECTERN_REQUIRE_GPU_BACKEND();
        auto m = load(model_path(), lectern::Backend::cpu);
        QVERIFY(m);
        m_ids = tokens(400, m->config().vocab, 5u);
    }

    void question_data() {
        QTest::addColumn<QString>("mode");
        QTest::addColumn<bool>("graphs");
        for (const char* mode : {"dense", "paged", "loan"})
            for (const bool graphs : {false, true})
                QTest::addRow("%s%s", mode, graphs ? " graphs" : "")
                    << QString::fromLatin1(mode) << graphs;
    }
    void question() {
        QFETCH(QString, mode);
        QFETCH(bool, graphs);
        const QString path = model_path();
        const auto options = small_chunks(lectern::KvDType::f16);
        const std::vector<token_id> text(m_ids.begin(), m_ids.begin() + 300);
        std::vector<float> logits;
        lectern::RuntimeOptions rt;
        rt.threads = 2;
        rt.backend = lectern::Backend::cuda;
        rt.cuda_graphs = graphs;
        const std::size_t base = weights_and_scratch(path);
        if (mode == QLatin1String("paged")) {
            rt.gpu_memory_budget = small_paged_budget(
                base, load(path, lectern::Backend::cpu)->config(), 16, 3, std::size_t(48) << 10);
        } else if (mode == QLatin1String("loan")) {
            // Room for the document's mirrors once and a half: its questions borrow them.
            lectern::RuntimeOptions plain = rt;
            auto sizing = lectern::Model::load(path.toStdString(), plain);
            QVERIFY(sizing);
            lectern::State d(*sizing, options);
            QVERIFY(lectern::forward(d, text, false, logits));
            QVERIFY(lectern::warm_up(d, 160));
            const QString note = QString::fromStdString(lectern::device_memory_note(d));
            QVERIFY2(note.startsWith(QLatin1String("KV rows on the GPU: ")), qPrintable(note));
            const double mib = note.section(QLatin1Char(' '), 5, 5).toDouble();
            QVERIFY(mib > 0);
            rt.gpu_memory_budget = base + std::size_t(mib * 1.5 * (1 << 20));
        }
        auto loaded = lectern::Model::load(path.toStdString(), rt);
        QVERIFY(loaded);
        lectern::State doc(*loaded, options);

        emu::reset_driver_calls();
        QVERIFY(lectern::forward(doc, text, false, logits));
        take("read 300 tokens");
        QVERIFY(lectern::warm_up(doc, 160));
        take("warm up");
        for (int t = 0; t < 2; ++t) {  // each work buffer's first token (graphs captured)
            QVERIFY(one(doc, m_ids[std::size_t(300 + t)], logits));
            take("document token");
        }
        const QString doc_note = QString::fromStdString(lectern::device_memory_note(doc));
        QVERIFY2(doc_note.startsWith(QLatin1String(mode == QLatin1String("paged")
                                                       ? "paged KV cache"
                                                       : "KV rows on the GPU")),
                 qPrintable(doc_note));
        for (int t = 0; t < 2; ++t) {
            QVERIFY(one(doc, m_ids[std::size_t(302 + t)], logits));
            QCOMPARE(take("document token").allocator(), 0);
        }

        for (int q = 0; q < 2; ++q) {
            Counts question;
            const auto add = [&](const Counts& c) {
                question.host_alloc += c.host_alloc;
                question.free_host += c.free_host;
                question.graphs += c.graphs;
            };
            {
                lectern::State fork = doc.fork();
                add(take("fork"));
                if (mode == QLatin1String("loan"))
                    QVERIFY2(lectern::device_memory_note(fork).find("in place") !=
                                 std::string::npos,
                             lectern::device_memory_note(fork).c_str());
                const std::vector<token_id> prompt(m_ids.begin() + 310, m_ids.begin() + 328);
                QVERIFY(lectern::forward(fork, prompt, false, logits));
                const Counts prompted = take("question prompt");
                add(prompted);
                // Nothing it allocates is outgrown within the prompt (a paged fork's page tables
                // used to grow twice, an allocation and a free each).
                QCOMPARE(prompted.free, 0);
                for (int t = 0; t < 5; ++t) {
                    QVERIFY(one(fork, m_ids[std::size_t(330 + t)], logits));
                    const Counts c = take("answer token");
                    add(c);
                    if (t >= 2) {
                        QCOMPARE(c.allocator(), 0);
                        QCOMPARE(c.graphs, 0);
                    }
                }
            }
            add(take("question gone"));
            QCOMPARE(question.host_alloc, 0);
            QCOMPARE(question.free_host, 0);
            if (!graphs) QCOMPARE(question.graphs, 0);
            // Spans: the runs of RWKV blocks between attention blocks (R R A R R A: the head
            // rides with the last), one graph per span and work buffer.
            QVERIFY2(question.graphs <= 2 * 3, qPrintable(QString::number(question.graphs)));
            if (graphs) QVERIFY(question.graphs > 0);
        }
        // The document goes on as before.
        for (int t = 0; t < 3; ++t) {
            QVERIFY(one(doc, m_ids[std::size_t(340 + t)], logits));
            const Counts c = take("document token");
            QCOMPARE(c.host_alloc + c.free_host, 0);
            if (t >= 1) QCOMPARE(c.allocator(), 0);
        }
    }
};

QTEST_APPLESS_MAIN(TestCudaQuestionCallsEmu)
#include "tst_cuda_question_calls_emu.moc"
