// The host side of the GPU's KV loads (kernels/model/cuda_kv_upload.cpp, pack_host_rows): rows of
// a host KV cache packed as the cache stores them, in pieces, a whole chunk's heads on several
// threads; widened by the CPU twin of the device's kv_widen_rows into the float32 [n][C] layout a
// paged slot or a dense mirror takes. Checked: every row of a chunk (on several threads where the
// machine has two cores), part of one, and the tail, in the uploader's pieces and in pieces of 96
// rows (a short last piece), and part of one widened on the host (LECTERN_CUDA_KV_UPLOAD=f32), equal to the cache's
// own row reads for f32, f16 and int8; the bytes a chunk packs into; a chunk whose file fails its
// check is an error naming it. Host code only: built against the emulated backend, it runs in
// every Linux build.
#include <QTest>

#include <atomic>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "attention/kv_cache_impl.h"
#include "attention/kv_chunk_store.h"
#include "attention/kv_packed_rows.h"
#include "attention/sparse_attention.h"
#include "cuda_kv_upload.h"

namespace {

constexpr int kHeads = 16, kC = kHeads * 64, kChunk = 1024;

// A cache of one complete chunk and `tail` rows more, of random rows.
lectern::KvCache make_cache(lectern::KvDType dtype, int tail, unsigned seed) {
    lectern::AttentionOptions a;
    a.chunk_size = kChunk;
    a.kv_dtype = dtype;
    lectern::KvCache cache(kC, kHeads, a);
    const int n = kChunk + tail;
    std::vector<float> k(std::size_t(n) * kC), v(k.size());
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& x : k) x = normal(rng);
    for (float& x : v) x = normal(rng);
    cache.impl().append(k.data(), v.data(), n, kC);
    return cache;
}

// Rows [r0, r0 + n) packed in pieces of `piece_rows` and widened, against the cache's own reads:
// empty when equal.
// as_f32: packed as float32 whatever the chunk's precision (LECTERN_CUDA_KV_UPLOAD=f32).
QString staged_differs(const lectern::KvCache::Impl& host, std::int64_t r0, std::int64_t n,
                       int piece_rows = lectern::cuda::KvUploader::kPieceRows,
                       bool as_f32 = false) {
    lectern::cuda::KvPackedLayout layout;
    layout.dtype = as_f32 ? lectern::KvDType::f32 : lectern::cuda::host_rows_dtype(host, r0);
    layout.heads = kHeads;
    layout.rows = n;
    layout.piece_rows = piece_rows;
    std::vector<std::byte> packed(layout.bytes() + 1, std::byte{0x5a});
    auto ok = lectern::cuda::pack_host_rows(host, r0, layout, packed.data());
    if (!ok) return QString::fromStdString(ok.error().message);
    if (packed.back() != std::byte{0x5a}) return QStringLiteral("written past the layout");
    std::vector<float> sk(std::size_t(n) * kC, -1.0f), sv(sk.size(), -1.0f);
    for (int p = 0; p < layout.pieces(); ++p) {
        const std::size_t at = std::size_t(p) * std::size_t(piece_rows) * kC;
        lectern::kv_widen_rows(layout.dtype, kHeads, layout.rows_of(p),
                               packed.data() + layout.offset_of(p), kC, sk.data() + at,
                               sv.data() + at);
    }
    std::vector<float> want(64);
    for (std::int64_t i = 0; i < n; ++i)
        for (int h = 0; h < kHeads; ++h)
            for (const bool values : {false, true}) {
                host.load_row(h, r0 + i, values, want.data());
                const float* got = (values ? sv : sk).data() + std::size_t(i) * kC + h * 64;
                if (std::memcmp(got, want.data(), 64 * sizeof(float)) != 0)
                    return QStringLiteral("row %1, head %2, %3")
                        .arg(r0 + i)
                        .arg(h)
                        .arg(values ? "values" : "keys");
            }
    return {};
}

// Serves the cache's chunk 0 as a view whose head checksums do not match, as a damaged file.
class DamagedSource final : public lectern::ChunkSource {
public:
    std::shared_ptr<const lectern::KvChunk> chunk;
    std::vector<std::uint32_t> crc = std::vector<std::uint32_t>(kHeads, 0u);
    std::vector<float> means = std::vector<float>(kHeads * 64, 0.0f);
    lectern::Result<std::shared_ptr<const lectern::KvChunk>> load(std::int64_t) const override {
        const lectern::KvRows first = chunk->head(0);
        const std::size_t slice = std::size_t(kChunk) * 64 * lectern::kv_dtype_size(first.dtype);
        return lectern::KvChunk::view(first.dtype, kHeads, kChunk,
                                      static_cast<const std::byte*>(first.k),
                                      static_cast<const std::byte*>(first.v), slice, nullptr,
                                      nullptr, means.data(), crc.data(), chunk, "damaged.kv");
    }
};

}  // namespace

class TestKvStage : public QObject {
    Q_OBJECT

private slots:
    void rows_as_the_cache_reads_them_data() {
        QTest::addColumn<int>("dtype");
        QTest::newRow("f32") << int(lectern::KvDType::f32);
        QTest::newRow("f16") << int(lectern::KvDType::f16);
        QTest::newRow("int8") << int(lectern::KvDType::int8);
    }
    void rows_as_the_cache_reads_them() {
        QFETCH(int, dtype);
        const lectern::KvCache cache = make_cache(lectern::KvDType(dtype), 37, 7u + dtype);
        const lectern::KvCache::Impl& host = cache.impl();
        QCOMPARE(host.store.chunk_count(), std::int64_t(1));
        // A whole chunk is packed on several threads where there are cores for them (f32 and
        // f16 chunks here; an int8 one is small enough for one).
        const lectern::KvDType type = lectern::KvDType(dtype);
        const std::size_t chunk_bytes = std::size_t(kChunk) * kC * 2 * lectern::kv_dtype_size(type);
        const int threads = lectern::cuda::stage_threads(chunk_bytes, kHeads);
        if (std::thread::hardware_concurrency() >= 2 && type != lectern::KvDType::int8)
            QVERIFY(threads >= 2);
        QCOMPARE(lectern::cuda::stage_threads(lectern::cuda::kParallelStageBytes - 1, kHeads), 1);
        // The bytes a chunk packs into: its stored elements (and int8 scales), nothing more.
        lectern::cuda::KvPackedLayout whole{type, kHeads, kChunk, kChunk};
        QCOMPARE(whole.bytes(), chunk_bytes + (type == lectern::KvDType::int8 ? kHeads * 8 : 0));
        // The uploader's pieces (256 float32 rows, 512 f16, 1,024 int8: one of a whole chunk
        // here), and 96 rows (a short last piece).
        QCOMPARE(lectern::cuda::KvUploader::piece_rows(type) *
                     int(lectern::kv_dtype_size(type)),
                 lectern::cuda::KvUploader::kPieceRows * 4);
        for (const int piece_rows : {lectern::cuda::KvUploader::piece_rows(type), 96}) {
            const QString in = QStringLiteral(" (pieces of %1 rows): ").arg(piece_rows);
            QString why = staged_differs(host, 0, kChunk, piece_rows);
            QVERIFY2(why.isEmpty(), qPrintable(QStringLiteral("whole chunk") + in + why));
            why = staged_differs(host, 100, 500, piece_rows);
            QVERIFY2(why.isEmpty(), qPrintable(QStringLiteral("part of the chunk") + in + why));
            why = staged_differs(host, kChunk, 37, piece_rows);
            QVERIFY2(why.isEmpty(), qPrintable(QStringLiteral("tail") + in + why));
            why = staged_differs(host, 100, 500, piece_rows, true);
            QVERIFY2(why.isEmpty(), qPrintable(QStringLiteral("widened on the host") + in + why));
        }
    }

    // A chunk failing its check, staged on several threads: the error, naming the file.
    void a_damaged_chunk_is_an_error() {
        lectern::KvCache cache = make_cache(lectern::KvDType::f16, 0, 11u);
        lectern::ChunkStore& store = cache.impl().store;
        auto source = std::make_shared<DamagedSource>();
        source->chunk = store.shared_chunk(0);
        store.set_source(source);
        store.drop_resident(1);
        lectern::cuda::KvPackedLayout layout{lectern::KvDType::f16, kHeads, kChunk, 256};
        std::vector<std::byte> packed(layout.bytes());
        auto ok = lectern::cuda::pack_host_rows(cache.impl(), 0, layout, packed.data());
        QVERIFY(!ok);
        QVERIFY2(ok.error().message.find("damaged.kv") != std::string::npos,
                 ok.error().message.c_str());
    }
};

QTEST_GUILESS_MAIN(TestKvStage)
#include "tst_kv_stage_emu.moc"
