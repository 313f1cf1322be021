// States whose complete KV chunks were written to chunk files, dropped from memory and read back
// through a disk source (what a document store does) behave exactly like all-in-memory states:
// bit-identical logits, forks, serialize images; a corrupted chunk file makes forward() fail with
// an error naming the file instead of crashing. ChunkStore::prefetch starts reading announced chunk
// files into the page cache (Linux) and leaves the others alone, and a call announces every chunk
// it will read before reading the first.
#include <QTemporaryDir>
#include <QTest>

#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#ifdef __linux__
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

#include <QElapsedTimer>
#include <QThread>

#include "attention/kv_cache_impl.h"
#include "chunk_source_test_util.h"
#include "chunk_test_util.h"
#include "infer/state_impl.h"
#include "infer_test_util.h"
#include "store/chunk_files.h"

using namespace lectern;

namespace {

AttentionOptions native(KvDType dtype) {
    AttentionOptions o;
    o.mode = AttentionMode::native;
    o.chunk_size = 8;
    o.top_k = 3;
    o.kv_dtype = dtype;
    return o;
}

// Write every complete chunk of every attention block of `s` under `root`, point the caches at
// the files and forget the in-memory copies.
QString move_chunks_to_disk(State& s, const std::string& root,
                            const std::shared_ptr<ChunkFileCache>& cache) {
    auto& kv = s.impl().kv;
    for (std::size_t j = 0; j < kv.size(); ++j) {
        ChunkStore& store = kv[j].impl().store;
        for (std::int64_t c = 0; c < store.chunk_count(); ++c) {
            auto w = write_chunk_file(chunk_file_path(root, int(j), c), store.chunk(c), int(j), c);
            if (!w) return QString::fromStdString(w.error().message);
        }
        store.set_source(make_disk_chunk_source(cache, root, int(j), store.dtype(),
                                                kv[j].impl().n_head, store.chunk_size()));
        store.drop_resident(store.chunk_count());
        for (std::int64_t c = 0; c < store.chunk_count(); ++c)
            if (store.resident(c)) return QStringLiteral("chunk still resident");
    }
    return {};
}

// Chunks handed out from memory, with the order of announcements ('P') and loads ('L').
class RecordingSource final : public ChunkSource {
public:
    std::vector<std::shared_ptr<const KvChunk>> chunks;

    Result<std::shared_ptr<const KvChunk>> load(std::int64_t c) const override {
        std::lock_guard lock(m_mutex);
        m_log.push_back({'L', c});
        return chunks.at(std::size_t(c));
    }
    void prefetch(std::int64_t c) const override {
        std::lock_guard lock(m_mutex);
        m_log.push_back({'P', c});
    }
    // Since the last call: empty when every load came after all announcements and was announced;
    // otherwise what went wrong. `loads` counts the loads.
    QString check_and_clear(int* loads) {
        std::lock_guard lock(m_mutex);
        std::set<std::int64_t> announced;
        bool loading = false;
        QString problem;
        for (const auto& [kind, c] : m_log) {
            if (kind == 'P') {
                if (loading && problem.isEmpty())
                    problem = QStringLiteral("chunk %1 announced after a load").arg(c);
                announced.insert(c);
            } else {
                loading = true;
                ++*loads;
                if (!announced.count(c) && problem.isEmpty())
                    problem = QStringLiteral("chunk %1 loaded, never announced").arg(c);
            }
        }
        m_log.clear();
        return problem;
    }

private:
    mutable std::mutex m_mutex;
    mutable std::vector<std::pair<char, std::int64_t>> m_log;
};

#ifdef __linux__
// The share of a file's pages in the page cache (mincore over a map of it); -1 on error.
double resident_share(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    const off_t size = ::lseek(fd, 0, SEEK_END);
    void* p = size > 0 ? ::mmap(nullptr, std::size_t(size), PROT_READ, MAP_SHARED, fd, 0) : nullptr;
    ::close(fd);
    if (!p || p == MAP_FAILED) return -1;
    const std::size_t page = std::size_t(::sysconf(_SC_PAGESIZE));
    const std::size_t pages = (std::size_t(size) + page - 1) / page;
    std::vector<unsigned char> in(pages);
    const bool ok = ::mincore(p, std::size_t(size), in.data()) == 0;
    ::munmap(p, std::size_t(size));
    if (!ok) return -1;
    std::size_t n = 0;
    for (const unsigned char b : in) n += b & 1u;
    return double(n) / double(pages);
}

// Drop a file's (clean, synced) pages from the page cache.
void evict(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
}
#endif

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return !a.empty() && a.size() == b.size() &&
           std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

class TestDiskBackedCache : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void init() {
        m_model = infer_test::load(infer_test::model_path("rwkvx-tiny-f32.pth"));
        QVERIFY(m_model);
    }

    void same_logits_as_memory_data() {
        QTest::addColumn<QString>("model");
        QTest::addColumn<int>("dtype");
        QTest::newRow("f16") << "rwkvx-tiny-f32.pth" << int(KvDType::f16);
        QTest::newRow("int8") << "rwkvx-tiny-f32.pth" << int(KvDType::int8);
        // Two heads, C = 128.
        QTest::newRow("2 heads f16") << "../golden/rwkvx-c128-bf16.pth" << int(KvDType::f16);
        QTest::newRow("2 heads int8") << "../golden/rwkvx-c128-bf16.pth" << int(KvDType::int8);
    }

    void same_logits_as_memory() {
        QFETCH(QString, model);
        QFETCH(int, dtype);
        m_model = infer_test::load(infer_test::model_path(model.toUtf8().constData()));
        QVERIFY(m_model);
        const int V = m_model->config().vocab;
        const auto prompt = infer_test::random_tokens(61, V, 21u);
        const auto more = infer_test::random_tokens(30, V, 22u);
        std::string err;
        State mem(m_model, native(KvDType(dtype)));
        QVERIFY2(!infer_test::feed(mem, prompt, {17, 40}, &err).empty(), err.c_str());
        State disk = mem.fork();
        QTemporaryDir dir;
        auto cache = std::make_shared<ChunkFileCache>(std::uint64_t(1) << 20);
        const QString moved = move_chunks_to_disk(disk, dir.path().toStdString(), cache);
        QVERIFY2(moved.isEmpty(), qPrintable(moved));

        // The serialized images are the same bytes.
        auto a_image = mem.serialize();
        auto d_image = disk.serialize();
        QVERIFY2(d_image, d_image ? "" : d_image.error().message.c_str());
        QVERIFY(*a_image == *d_image);

        State mem_fork = mem.fork();
        State disk_fork = disk.fork();
        const auto a = infer_test::feed(mem, more, {1, 9}, &err);
        const auto b = infer_test::feed(disk, more, {1, 9}, &err);
        QVERIFY2(same_bits(a, b), err.c_str());
        QVERIFY(cache->mapped_bytes() > 0);

        // A fork of a disk-backed state shares the source and continues alike (other splits).
        const auto c = infer_test::feed(mem_fork, more, infer_test::every_position(more.size()));
        const auto d = infer_test::feed(disk_fork, more, infer_test::every_position(more.size()));
        QVERIFY(same_bits(c, d));
        // Other splits agree within float rounding of the batched products (as in
        // tst_split_invariance), not bit for bit.
        QVERIFY(infer_test::scaled_diff(c, a) <= 1e-5);

        // A serialized disk-backed state restores into an all-in-memory one.
        auto restored = State::deserialize(m_model, *d_image);
        QVERIFY2(restored, restored ? "" : restored.error().message.c_str());
        QVERIFY(same_bits(infer_test::feed(*restored, more, {1, 9}), a));
        auto after = disk.serialize();
        auto after_mem = mem.serialize();
        QVERIFY(after && after_mem && *after == *after_mem);
    }

    void corrupt_file_fails_the_call() {
        const int V = m_model->config().vocab;
        const auto prompt = infer_test::random_tokens(64, V, 31u);
        State mem(m_model, native(KvDType::f16));
        QVERIFY(!infer_test::feed(mem, prompt, {}).empty());
        State disk = mem.fork();
        QTemporaryDir dir;
        const std::string root = dir.path().toStdString();
        auto cache = std::make_shared<ChunkFileCache>(std::uint64_t(1) << 20);
        const QString moved = move_chunks_to_disk(disk, root, cache);
        QVERIFY2(moved.isEmpty(), qPrintable(moved));
        // Damage a key byte of every chunk of block 0, so whichever the attention selects fails.
        const std::int64_t n = disk.impl().kv[0].impl().store.chunk_count();
        for (std::int64_t c = 0; c < n; ++c) {
            const std::string path = chunk_file_path(root, 0, c);
            std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
            std::vector<char> bytes{std::istreambuf_iterator<char>(f), {}};
            std::uint64_t data = 0;
            std::memcpy(&data, bytes.data() + 40, 8);
            f.seekp(std::streamoff(data + 3));
            const char flipped = char(bytes[data + 3] ^ 0x40);
            f.write(&flipped, 1);
        }
        std::vector<float> logits;
        const std::vector<token_id> next{5};
        auto r = forward(disk, next, false, logits);
        QVERIFY(!r);
        QVERIFY2(r.error().message.find(root + "/kv/b0/c") != std::string::npos &&
                     r.error().message.find("checksum") != std::string::npos,
                 r.error().message.c_str());
        // The failed call took nothing: the block whose chunk was bad had appended the token's
        // row before reading, and it is gone again (kv_cache_mark.h). The same call fails the
        // same way.
        QCOMPARE(disk.position(), std::int64_t(prompt.size()));
        for (const KvCache& kv : disk.impl().kv) QCOMPARE(kv.rows(), std::int64_t(prompt.size()));
        auto again = forward(disk, next, false, logits);
        QVERIFY(!again);
        QCOMPARE(again.error().message, r.error().message);
        // With the chunks readable again (good copies, another directory) the state goes on as
        // the in-memory one does, bit for bit.
        {
            QTemporaryDir good_dir;
            const std::string good = good_dir.path().toStdString();
            auto& kv = disk.impl().kv;
            for (std::size_t j = 0; j < kv.size(); ++j) {
                const ChunkStore& from = mem.impl().kv[j].impl().store;
                for (std::int64_t c = 0; c < from.chunk_count(); ++c)
                    QVERIFY(write_chunk_file(chunk_file_path(good, int(j), c), from.chunk(c),
                                             int(j), c));
                ChunkStore& store = kv[j].impl().store;
                store.set_source(make_disk_chunk_source(
                    std::make_shared<ChunkFileCache>(std::uint64_t(1) << 20), good, int(j),
                    store.dtype(), kv[j].impl().n_head, store.chunk_size()));
            }
            const std::vector<token_id> more{5, 9, 2};
            State twin = mem.fork();
            std::string err;
            const auto got = infer_test::feed(disk, more, {1, 2}, &err);
            QVERIFY2(!got.empty(), err.c_str());
            QVERIFY(same_bits(got, infer_test::feed(twin, more, {1, 2})));
        }
        // Serializing a state over a corrupt file fails too (naming it), never a wrong image.
        State other = mem.fork();
        auto cache2 = std::make_shared<ChunkFileCache>(std::uint64_t(1) << 20);
        for (std::size_t j = 0; j < other.impl().kv.size(); ++j) {
            ChunkStore& store = other.impl().kv[j].impl().store;
            store.set_source(make_disk_chunk_source(cache2, root, int(j), store.dtype(),
                                                    other.impl().kv[j].impl().n_head,
                                                    store.chunk_size()));
            store.drop_resident(store.chunk_count());
        }
        auto image = other.serialize();
        QVERIFY(!image);
        QVERIFY2(image.error().message.find(root + "/kv/b0/c") != std::string::npos,
                 image.error().message.c_str());
        // The in-memory original is unaffected.
        QVERIFY(forward(mem, next, false, logits));
    }

    // A call selects for every query and head first and announces all the chunks it will read
    // from the source, then reads them: one wait on the disk per token, not one per chunk.
    void calls_announce_before_reading() {
        const int V = m_model->config().vocab;
        const auto prompt = infer_test::random_tokens(80, V, 41u);
        const auto more = infer_test::random_tokens(6, V, 42u);
        State mem(m_model, native(KvDType::f16));
        QVERIFY(!infer_test::feed(mem, prompt, {}).empty());
        State recorded = mem.fork();
        const auto sources =
            chunk_source_test::move_chunks_to_sources<RecordingSource>(recorded);
        QVERIFY(!sources.empty());
        int loads = 0;
        for (const token_id t : more) {  // decode: one segment per call
            const std::vector<token_id> one{t};
            const auto want = infer_test::feed(mem, one, {0});
            const auto got = infer_test::feed(recorded, one, {0});
            QVERIFY(same_bits(got, want));
            for (const auto& source : sources) {
                const QString problem = source->check_and_clear(&loads);
                QVERIFY2(problem.isEmpty(), qPrintable(problem));
            }
        }
        QVERIFY2(loads > 0, "no chunk came from the source");
    }

    // Announced chunks of a disk source start reading into the page cache at once; a chunk not
    // announced is left alone.
    void prefetch_reads_announced_chunk_files() {
#ifndef __linux__
        QSKIP("prefetch uses posix_fadvise (Linux); elsewhere it is a hint that does nothing");
#else
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const std::string root = dir.path().toStdString();
        const int H = 4, rows = 2048;  // 4 MiB of f32 rows per chunk file
        ChunkStore store(H, rows, KvDType::f32);
        std::vector<std::string> paths;
        for (int c = 0; c < 3; ++c) {
            auto chunk = chunk_test::random_chunk(KvDType::f32, H, rows, unsigned(7 + c));
            paths.push_back(chunk_file_path(root, 0, c));
            QVERIFY(write_chunk_file(paths.back(), *chunk, 0, c));
            std::vector<float> means;
            for (int h = 0; h < H; ++h)
                means.insert(means.end(), chunk->mean(h), chunk->mean(h) + kv_head_dim);
            store.append_from_source(means.data());
        }
        store.set_source(make_disk_chunk_source(std::make_shared<ChunkFileCache>(1 << 20), root, 0,
                                                KvDType::f32, H, rows));
        for (const std::string& p : paths) evict(p);
        for (const std::string& p : paths)
            if (const double r = resident_share(p); r < 0 || r > 0.5)
                QSKIP(qPrintable(QStringLiteral("this file system keeps %1 of a file's pages "
                                                "cached after POSIX_FADV_DONTNEED")
                                     .arg(r)));
        const std::int64_t announced[] = {0, 2};
        store.prefetch(announced);
        QElapsedTimer t;
        t.start();
        while ((resident_share(paths[0]) < 0.99 || resident_share(paths[2]) < 0.99) &&
               t.elapsed() < 30000)  // ~0.2 s here; a loaded CI machine may take longer
            QThread::msleep(10);
        QVERIFY2(resident_share(paths[0]) >= 0.99 && resident_share(paths[2]) >= 0.99,
                 qPrintable(QStringLiteral("after %1 ms: %2, %3 of the announced files cached")
                                .arg(t.elapsed())
                                .arg(resident_share(paths[0]))
                                .arg(resident_share(paths[2]))));
        QVERIFY2(resident_share(paths[1]) <= 0.5,
                 qPrintable(QString::number(resident_share(paths[1]))));
        QVERIFY(store.acquire(0) && store.acquire(2));  // and read as usual
#endif
    }

private:
    std::shared_ptr<const Model> m_model;
};

QTEST_GUILESS_MAIN(TestDiskBackedCache)
#include "tst_disk_backed_cache.moc"
