// The GPU over a state whose complete KV chunks live only in a chunk source, as a reopened
// document store's do (store/chunk_files.cpp maps them from disk): the dense mirrors' first upload
// and the paged KV cache's loads read every chunk through the source, each announced first by
// ChunkStore::prefetch (so a store on disk reads them ahead, all at once), and the logits are the
// same bits as those of the same state with its chunks in memory. QSKIPs without a device
// (tests/emu runs it on the emulated backend as tst_cuda_chunk_source_emu).
#include <QTest>

#include <set>
#include <vector>

#include "attention/kv_chunk_store.h"
#include "chunk_source_test_util.h"
#include "cuda_forward_util.h"
#include "gpu_test_util.h"
#include "lectern/inference.h"

namespace {

using lectern::token_id;
using namespace cuda_forward_test;

QString model_path() { return data_dir() + QStringLiteral("/golden/rwkvx-c128-1attn-f32.pth"); }

// Chunks handed out from memory, with a record of which were announced before being loaded.
class RecordingSource final : public lectern::ChunkSource {
public:
    std::vector<std::shared_ptr<const lectern::KvChunk>> chunks;
    mutable std::set<std::int64_t> announced;
    mutable int loads = 0;
    mutable int unannounced = 0;

    lectern::Result<std::shared_ptr<const lectern::KvChunk>> load(std::int64_t c) const override {
        ++loads;
        if (!announced.count(c)) ++unannounced;
        return chunks.at(std::size_t(c));
    }
    void prefetch(std::int64_t c) const override { announced.insert(c); }
};

}  // namespace

class TestCudaChunkSource : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { LECTERN_REQUIRE_GPU_BACKEND(); }

    void chunks_come_announced_data() {
        QTest::addColumn<bool>("paged");
        QTest::newRow("dense") << false;
        QTest::newRow("paged") << true;
    }
    void chunks_come_announced() {
        QFETCH(bool, paged);
        auto cpu = load(model_path(), lectern::Backend::cpu);
        QVERIFY(cpu);
        const lectern::ModelConfig& c = cpu->config();
        lectern::AttentionOptions a;
        a.chunk_size = 16;
        a.top_k = 3;
        a.kv_dtype = lectern::KvDType::f16;
        // As tst_cuda_forward's paged_kv_cache: room for a few slots beyond one query's need, far
        // below the 430 tokens' dense rows (430 KiB).
        auto gpu = paged ? load_with_budget(model_path(),
                                            small_paged_budget(weights_and_scratch(model_path()),
                                                               c, a.chunk_size, a.top_k))
                         : load(model_path(), lectern::Backend::cuda);
        QVERIFY(gpu);

        // The document, read on the CPU; its image, loaded twice on the GPU.
        const auto ids = tokens(430, c.vocab, 818u);
        const std::vector<token_id> doc(ids.begin(), ids.begin() + 400);
        const std::vector<token_id> question(ids.begin() + 400, ids.end());
        QString error;
        lectern::State reader(cpu, a);
        QVERIFY2(!feed(reader, doc, {}, &error).empty(), qPrintable(error));
        auto image = reader.serialize();
        QVERIFY(image);
        auto in_memory = lectern::State::deserialize(gpu, *image);
        auto from_source = lectern::State::deserialize(gpu, *image);
        QVERIFY(in_memory && from_source);
        const auto sources =
            chunk_source_test::move_chunks_to_sources<RecordingSource>(*from_source);

        const auto want = feed(*in_memory, question, every_position(question.size()), &error);
        QVERIFY2(!want.empty(), qPrintable(error));
        const auto got = feed(*from_source, question, every_position(question.size()), &error);
        QVERIFY2(!got.empty(), qPrintable(error));
        QVERIFY(got == want);
        QVERIFY2(lectern::device_memory_note(*from_source).starts_with(paged ? "paged" : "KV rows"),
                 lectern::device_memory_note(*from_source).c_str());
        for (const auto& source : sources) {
            QVERIFY2(source->loads > 0, "no chunk came from the source");
            QVERIFY2(source->unannounced == 0,
                     qPrintable(QStringLiteral("%1 of %2 loads were not announced")
                                    .arg(source->unannounced)
                                    .arg(source->loads)));
        }
    }
};

QTEST_GUILESS_MAIN(TestCudaChunkSource)
#include "tst_cuda_chunk_source.moc"
