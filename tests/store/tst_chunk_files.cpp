// KV chunk files (engine/src/store/chunk_files.h): write/map round trips in every KV dtype, header
// and size checks naming the file, per-head CRCs checked lazily, verify_chunk_file catching any
// flipped byte, and the mapping LRU (budget, pinned chunks, concurrent loads).
#include <QTemporaryDir>
#include <QTest>

#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <thread>
#include <vector>

#include "chunk_test_util.h"
#include "store/chunk_files.h"

using namespace lectern;

namespace {

using chunk_test::random_chunk;

bool same_head(const KvRows& a, const KvRows& b) {
    const std::size_t n = std::size_t(a.count) * kv_head_dim * kv_dtype_size(a.dtype);
    return a.dtype == b.dtype && a.count == b.count && a.stride == b.stride &&
           std::memcmp(a.k, b.k, n) == 0 && std::memcmp(a.v, b.v, n) == 0 &&
           std::memcmp(&a.k_scale, &b.k_scale, 4) == 0 &&
           std::memcmp(&a.v_scale, &b.v_scale, 4) == 0;
}

bool same_chunk(const KvChunk& a, const KvChunk& b) {
    if (a.heads() != b.heads() || a.rows() != b.rows() || a.dtype() != b.dtype()) return false;
    for (int h = 0; h < a.heads(); ++h) {
        auto bh = b.checked_head(h);
        if (!bh || !same_head(a.head(h), *bh)) return false;
        if (std::memcmp(a.mean(h), b.mean(h), kv_head_dim * sizeof(float)) != 0) return false;
    }
    return true;
}

std::vector<char> read_all(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
}

void write_all(const std::string& path, const std::vector<char>& bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), std::streamsize(bytes.size()));
}

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

}  // namespace

class TestChunkFiles : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void round_trip_data() {
        QTest::addColumn<int>("dtype");
        QTest::newRow("f32") << int(KvDType::f32);
        QTest::newRow("f16") << int(KvDType::f16);
        QTest::newRow("int8") << int(KvDType::int8);
    }

    void round_trip() {
        QFETCH(int, dtype);
        const auto t = KvDType(dtype);
        QTemporaryDir dir;
        const std::string root = dir.path().toStdString();
        const int H = 3, B = 16;
        auto cache = std::make_shared<ChunkFileCache>(std::uint64_t(1) << 30);
        auto source = make_disk_chunk_source(cache, root, 2, t, H, B);
        for (std::int64_t c = 0; c < 3; ++c) {
            const auto chunk = random_chunk(t, H, B, unsigned(10 + c));
            const std::string path = chunk_file_path(root, 2, c);
            QVERIFY(contains(path, "/kv/b2/c" + std::to_string(c) + ".kv"));
            auto written = write_chunk_file(path, *chunk, 2, c);
            QVERIFY2(written, written ? "" : written.error().message.c_str());
            QCOMPARE(*written, std::uint64_t(read_all(path).size()));
            auto loaded = source->load(c);
            QVERIFY2(loaded, loaded ? "" : loaded.error().message.c_str());
            QVERIFY((*loaded)->is_view());
            QCOMPARE((*loaded)->origin(), path);
            QVERIFY(same_chunk(*chunk, **loaded));
            // The image of a view is the image of the chunk it was written from.
            std::vector<std::byte> a, b;
            ByteWriter wa(a), wb(b);
            QVERIFY(chunk->write(wa));
            QVERIFY((*loaded)->write(wb));
            QVERIFY(a == b);
            QVERIFY(verify_chunk_file(path, 2, c, t, H, B));
            // Every head slice starts 64-byte aligned.
            for (int h = 0; h < H; ++h)
                QCOMPARE(reinterpret_cast<std::uintptr_t>((*loaded)->head(h).k) % 64, 0u);
        }
    }

    void header_mismatches_name_the_file() {
        QTemporaryDir dir;
        const std::string root = dir.path().toStdString();
        const int H = 2, B = 8;
        const auto chunk = random_chunk(KvDType::f16, H, B, 3u);
        const std::string path = chunk_file_path(root, 1, 4);
        QVERIFY(write_chunk_file(path, *chunk, 1, 4));
        struct Case {
            int block;
            std::int64_t index;
            KvDType dtype;
            int heads, rows;
            const char* fragment;
        };
        const Case cases[] = {{0, 4, KvDType::f16, H, B, "attention block 1, expected 0"},
                              {1, 5, KvDType::f16, H, B, "chunk 4, expected 5"},
                              {1, 4, KvDType::int8, H, B, "KV dtype f16, expected int8"},
                              {1, 4, KvDType::f16, 3, B, "2 heads, expected 3"},
                              {1, 4, KvDType::f16, H, 16, "8 rows, expected 16"}};
        for (const Case& c : cases) {
            auto r = verify_chunk_file(path, c.block, c.index, c.dtype, c.heads, c.rows);
            QVERIFY(!r);
            QVERIFY2(contains(r.error().message, path), r.error().message.c_str());
            QVERIFY2(contains(r.error().message, c.fragment), r.error().message.c_str());
        }
        // Through a source: the file it maps for chunk 4 of block 1 is checked against it.
        auto cache = std::make_shared<ChunkFileCache>(1u << 20);
        auto wrong = make_disk_chunk_source(cache, root, 1, KvDType::f16, H, 16);
        auto r = wrong->load(4);
        QVERIFY(!r);
        QVERIFY2(contains(r.error().message, path) && contains(r.error().message, "rows"),
                 r.error().message.c_str());
        auto missing = make_disk_chunk_source(cache, root, 1, KvDType::f16, H, B)->load(7);
        QVERIFY(!missing);
        QVERIFY2(contains(missing.error().message, chunk_file_path(root, 1, 7)),
                 missing.error().message.c_str());

        // Truncated (and extended) files.
        const auto bytes = read_all(path);
        for (std::size_t size : {std::size_t(10), std::size_t(64), bytes.size() - 1,
                                 bytes.size() / 2}) {
            write_all(path, std::vector<char>(bytes.begin(), bytes.begin() + long(size)));
            auto t = verify_chunk_file(path, 1, 4, KvDType::f16, H, B);
            QVERIFY(!t);
            QVERIFY2(contains(t.error().message, path), t.error().message.c_str());
            QVERIFY2(contains(t.error().message, "truncated"), t.error().message.c_str());
        }
        auto longer = bytes;
        longer.push_back(0);
        write_all(path, longer);
        QVERIFY(!verify_chunk_file(path, 1, 4, KvDType::f16, H, B));
    }

    void corrupt_head_found_on_use() {
        QTemporaryDir dir;
        const std::string root = dir.path().toStdString();
        const int H = 4, B = 8;
        const auto chunk = random_chunk(KvDType::f32, H, B, 5u);
        const std::string path = chunk_file_path(root, 0, 0);
        QVERIFY(write_chunk_file(path, *chunk, 0, 0));
        auto bytes = read_all(path);
        std::uint64_t data = 0;
        std::memcpy(&data, bytes.data() + 40, 8);
        const std::size_t slice = std::size_t(B) * kv_head_dim * 4;
        bytes[data + 2 * 2 * slice + slice + 7] ^= 0x10;  // a value byte of head 2
        write_all(path, bytes);

        auto cache = std::make_shared<ChunkFileCache>(1u << 20);
        auto loaded = make_disk_chunk_source(cache, root, 0, KvDType::f32, H, B)->load(0);
        QVERIFY2(loaded, loaded ? "" : loaded.error().message.c_str());
        QVERIFY((*loaded)->checked_head(0));
        QVERIFY((*loaded)->checked_head(1));
        QVERIFY((*loaded)->checked_head(3));
        for (int i = 0; i < 2; ++i) {  // the verdict is remembered
            auto bad = (*loaded)->checked_head(2);
            QVERIFY(!bad);
            QCOMPARE(bad.error().message,
                     path + ": head 2 fails its checksum (the file is corrupt; rebuild the "
                            "document's store)");
        }
        std::vector<std::byte> image;
        ByteWriter w(image);
        QVERIFY(!(*loaded)->write(w));
        QVERIFY(!verify_chunk_file(path, 0, 0, KvDType::f32, H, B));
    }

    void verify_catches_every_flip_data() {
        QTest::addColumn<int>("dtype");
        QTest::newRow("f16") << int(KvDType::f16);
        QTest::newRow("int8") << int(KvDType::int8);
    }

    void verify_catches_every_flip() {
        QFETCH(int, dtype);
        const auto t = KvDType(dtype);
        QTemporaryDir dir;
        const std::string root = dir.path().toStdString();
        const int H = 3, B = 4;
        const auto chunk = random_chunk(t, H, B, 7u);
        const std::string path = chunk_file_path(root, 3, 9);
        QVERIFY(write_chunk_file(path, *chunk, 3, 9));
        const auto good = read_all(path);
        QVERIFY(verify_chunk_file(path, 3, 9, t, H, B));
        // Every header byte, then a spread of positions through the padding, data and scales.
        std::vector<std::size_t> positions;
        for (std::size_t i = 0; i < 64; ++i) positions.push_back(i);
        for (std::size_t i = 64; i < good.size(); i += 13) positions.push_back(i);
        positions.push_back(good.size() - 1);
        for (std::size_t pos : positions) {
            auto bad = good;
            bad[pos] ^= 0x01;
            write_all(path, bad);
            auto r = verify_chunk_file(path, 3, 9, t, H, B);
            QVERIFY2(!r, qPrintable(QStringLiteral("flip at byte %1 not detected").arg(pos)));
            QVERIFY2(contains(r.error().message, path), r.error().message.c_str());
        }
        write_all(path, good);
        QVERIFY(verify_chunk_file(path, 3, 9, t, H, B));
    }

    void lru_keeps_budget_and_pinned_chunks() {
        QTemporaryDir dir;
        const std::string root = dir.path().toStdString();
        const int H = 2, B = 32;
        std::vector<std::shared_ptr<const KvChunk>> chunks;
        std::uint64_t file_size = 0;
        for (int c = 0; c < 10; ++c) {
            chunks.push_back(random_chunk(KvDType::f16, H, B, unsigned(100 + c)));
            auto w = write_chunk_file(chunk_file_path(root, 0, c), *chunks.back(), 0, c);
            QVERIFY(w);
            file_size = *w;
        }
        const std::uint64_t budget = 3 * file_size + file_size / 2;
        auto cache = std::make_shared<ChunkFileCache>(budget);
        QCOMPARE(cache->budget(), budget);
        auto source = make_disk_chunk_source(cache, root, 0, KvDType::f16, H, B);
        std::vector<std::shared_ptr<const KvChunk>> pinned;
        for (int c = 0; c < 10; ++c) {
            auto got = source->load(c);
            QVERIFY(got);
            if (c < 2) pinned.push_back(*got);
            QVERIFY(cache->mapped_bytes() <= budget);
        }
        QCOMPARE(cache->mapped_bytes(), 3 * file_size);
        for (std::size_t c = 0; c < 2; ++c) QVERIFY(same_chunk(*chunks[c], *pinned[c]));
        // Recently used chunks are hits: the same object comes back.
        auto again = source->load(9);
        QVERIFY(again);
        auto twice = source->load(9);
        QVERIFY(twice && *again == *twice);
        // A budget below one file still works: the caller's pointer keeps the mapping.
        auto tiny = std::make_shared<ChunkFileCache>(1);
        auto one = make_disk_chunk_source(tiny, root, 0, KvDType::f16, H, B)->load(5);
        QVERIFY(one);
        QCOMPARE(tiny->mapped_bytes(), std::uint64_t(0));
        QVERIFY(same_chunk(*chunks[5], **one));
    }

    // A head's verdict survives the LRU unmapping the file (no second CRC pass on a remap), but a
    // file replaced since (new inode, as a rewrite by rename gives) is checked again.
    void checks_survive_remaps_not_rewrites() {
        QTemporaryDir dir;
        const std::string root = dir.path().toStdString();
        const int H = 2, B = 8;
        const auto good = random_chunk(KvDType::f16, H, B, 31u);
        const std::string path = chunk_file_path(root, 0, 0);
        QVERIFY(write_chunk_file(path, *good, 0, 0));
        QVERIFY(write_chunk_file(chunk_file_path(root, 0, 1), *random_chunk(KvDType::f16, H, B, 32u), 0, 1));
        auto cache = std::make_shared<ChunkFileCache>(1);  // every load remaps
        auto source = make_disk_chunk_source(cache, root, 0, KvDType::f16, H, B);
        std::shared_ptr<std::atomic<std::uint8_t>[]> states;
        {
            auto a = source->load(0);
            QVERIFY(a && (*a)->checked_head(1));
            states = (*a)->head_checks();
        }
        QVERIFY(source->load(1));  // evicts chunk 0
        {
            auto b = source->load(0);
            QVERIFY(b);
            QCOMPARE((*b)->head_checks().get(), states.get());  // remembered
            QCOMPARE(int((*b)->head_checks()[1].load()), 1);
        }
        // Replace the file with a corrupt copy under a new inode: checked again, and refused.
        auto bytes = read_all(path);
        std::uint64_t data = 0;
        std::memcpy(&data, bytes.data() + 40, 8);
        bytes[data + 5] ^= 0x01;  // head 0's keys
        const std::string temp = path + ".new";
        write_all(temp, bytes);
        QCOMPARE(std::rename(temp.c_str(), path.c_str()), 0);
        QVERIFY(source->load(1));
        auto c = source->load(0);
        QVERIFY(c);
        QVERIFY((*c)->head_checks().get() != states.get());
        QVERIFY(!(*c)->checked_head(0));
    }

    void crc32_known_vectors() {
        const std::string s = "123456789";
        QCOMPARE(crc32(std::as_bytes(std::span(s.data(), s.size()))), 0xCBF43926u);
        QCOMPARE(crc32(std::span<const std::byte>()), 0u);
        // Every length 0..40 and split point: slicing-by-8 equals the bytewise definition.
        std::vector<std::byte> buf(40);
        for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = std::byte((i * 37 + 11) & 0xFF);
        for (std::size_t n = 0; n <= buf.size(); ++n) {
            std::uint32_t ref = 0xFFFFFFFFu;
            for (std::size_t i = 0; i < n; ++i) {
                ref ^= std::to_integer<std::uint32_t>(buf[i]);
                for (int k = 0; k < 8; ++k) ref = (ref & 1) ? 0xEDB88320u ^ (ref >> 1) : ref >> 1;
            }
            ref = ~ref;
            const std::span<const std::byte> all(buf.data(), n);
            QCOMPARE(crc32(all), ref);
            for (std::size_t cut = 0; cut <= n; ++cut)
                QCOMPARE(crc32(all.subspan(cut), crc32(all.first(cut))), ref);
        }
    }

    void concurrent_loads() {
        QTemporaryDir dir;
        const std::string root = dir.path().toStdString();
        const int H = 2, B = 16;
        std::vector<std::shared_ptr<const KvChunk>> chunks;
        std::uint64_t file_size = 0;
        for (int c = 0; c < 10; ++c) {
            chunks.push_back(random_chunk(KvDType::int8, H, B, unsigned(200 + c)));
            auto w = write_chunk_file(chunk_file_path(root, 1, c), *chunks.back(), 1, c);
            QVERIFY(w);
            file_size = *w;
        }
        auto cache = std::make_shared<ChunkFileCache>(3 * file_size);
        auto source = make_disk_chunk_source(cache, root, 1, KvDType::int8, H, B);
        std::atomic<int> failures{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&, t] {
                std::mt19937 rng(static_cast<unsigned>(t));
                for (int i = 0; i < 300; ++i) {
                    const int c = int(rng() % 10);
                    auto got = source->load(c);
                    if (!got || !same_chunk(*chunks[std::size_t(c)], **got)) ++failures;
                }
            });
        }
        for (auto& th : threads) th.join();
        QCOMPARE(failures.load(), 0);
        QVERIFY(cache->mapped_bytes() <= 3 * file_size);
    }
};

QTEST_GUILESS_MAIN(TestChunkFiles)
#include "tst_chunk_files.moc"
