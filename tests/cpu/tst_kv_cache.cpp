// KvCache (engine/src/attention/): forks are independent and share complete chunks (compat
// compression copies on write), serialize -> deserialize -> continue is bit-identical, corrupted
// or mismatched images are errors, and the f16 / int8 storage errors stay within measured bounds.
#include <QTest>

#include <cstring>

#include "attention/kv_cache_impl.h"
#include "attention_test_util.h"
#include "core/byte_stream.h"

using namespace lectern;
using namespace attn_test;

namespace {

// Storage error bounds (max |y - y_f32| over every output, keys and values ~ N(0, 1), q ~ N(0, 4),
// every chunk attended so that no selection can flip). Measured with seeds 1..4, C = 128, B = 8,
// 200 tokens: f16 1.43e-3, int8 4.01e-2 (native and compat alike). f16 rounds each element to
// 2^-11 relative; int8 to absmax / 254 per chunk and head (~1.5e-2 for N(0, 1) rows), and score
// errors of that order are amplified by the peaked softmax. Bounds: about 2x the measurements.
// With sparse selection a rounded mean can also flip a near-tie between chunks: that changes
// which keys are used, and no elementwise bound holds then.
constexpr double f16_bound = 3e-3;
constexpr double int8_bound = 1e-1;

struct Case {
    AttentionOptions o;
    std::vector<int> prefix, after;
};

std::vector<Case> cases() {
    std::vector<Case> out;
    for (KvDType t : {KvDType::f32, KvDType::f16, KvDType::int8}) {
        out.push_back({options(AttentionMode::native, 4, 3, t), {13, 1, 1, 7}, {9, 1, 1, 1, 30}});
        out.push_back({options(AttentionMode::native, 8, 2, t), {16}, {1, 1, 20}});
        out.push_back({compat_managed(t), {20, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 9, 1, 1, 30, 1}});
        out.push_back({compat_managed(t), {}, {5, 1, 1}});
    }
    return out;
}

int total(const std::vector<int>& calls) {
    int n = 0;
    for (int t : calls) n += t;
    return n;
}

// Patch a field of an image and fix its CRC so that only the semantic checks can catch it.
template <typename T>
std::vector<std::byte> patched(std::vector<std::byte> img, std::size_t offset, T value) {
    std::memcpy(img.data() + offset, &value, sizeof(T));
    const std::uint32_t crc = crc32(std::span<const std::byte>(img).first(img.size() - 4));
    std::memcpy(img.data() + img.size() - 4, &crc, 4);
    return img;
}

}  // namespace

class TestKvCache : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // Feeding one fork never changes what the other computes: each fork's outputs equal those
    // of a cache that saw only its own history. Runs across compat compression (copy-on-write).
    void forks_are_independent() {
        const int C = 128, H = 2;
        for (const Case& c : cases()) {
            const int p = total(c.prefix), a = total(c.after);
            const Doc d1 = make_doc(1u, C, p + a);
            Doc d2 = make_doc(2u, C, p + a);
            const std::pair<std::vector<float>*, const std::vector<float>*> same_prefix[] = {
                {&d2.q, &d1.q}, {&d2.k, &d1.k}, {&d2.v, &d1.v}, {&d2.ln1, &d1.ln1}};
            for (auto [dst, src] : same_prefix)  // same history, different futures
                std::copy_n(src->begin(), std::size_t(p) * C, dst->begin());
            KvCache base(C, H, c.o);
            run_engine(c.o, base, d1, c.prefix);
            KvCache fork = base.fork();
            if (base.chunk_count() > 0)
                QVERIFY(base.impl().store.shared_chunk(0) == fork.impl().store.shared_chunk(0));
            // Interleave the two futures call by call.
            std::vector<float> ya, yb;
            int t = p;
            for (int T : c.after) {
                auto y1 = run_engine(c.o, base, d1, {T}, t);
                auto y2 = run_engine(c.o, fork, d2, {T}, t);
                ya.insert(ya.end(), y1.begin(), y1.end());
                yb.insert(yb.end(), y2.begin(), y2.end());
                t += T;
            }
            KvCache solo1(C, H, c.o), solo2(C, H, c.o);
            run_engine(c.o, solo1, d1, c.prefix);
            run_engine(c.o, solo2, d2, c.prefix);
            QVERIFY(run_engine(c.o, solo1, d1, c.after, p) == ya);
            QVERIFY(run_engine(c.o, solo2, d2, c.after, p) == yb);
            QVERIFY(image_of(solo1) == image_of(base));
            QVERIFY(image_of(solo2) == image_of(fork));
        }
    }

    void serialize_roundtrip_continues_bit_identically() {
        const int C = 128, H = 2;
        for (const Case& c : cases()) {
            const int p = total(c.prefix);
            const Doc d = make_doc(3u, C, p + total(c.after));
            KvCache cache(C, H, c.o);
            run_engine(c.o, cache, d, c.prefix);
            const auto img = image_of(cache);
            auto back = KvCache::deserialize(img, C, H, c.o);
            QVERIFY2(back, back ? "" : back.error().message.c_str());
            QCOMPARE(back->rows(), cache.rows());
            QVERIFY(image_of(*back) == img);
            QVERIFY(run_engine(c.o, *back, d, c.after, p) == run_engine(c.o, cache, d, c.after, p));
            QVERIFY(image_of(*back) == image_of(cache));
        }
    }

    // Several images back to back can be split with image_size().
    void concatenated_images() {
        const auto o = options(AttentionMode::native, 4, 3, KvDType::int8);
        const Doc d = make_doc(4u, 64, 30);
        KvCache a(64, 1, o), b(64, 1, o);
        run_engine(o, a, d, {11});
        run_engine(o, b, d, {30});
        std::vector<std::byte> both;
        QVERIFY(a.serialize(both));
        QVERIFY(b.serialize(both));
        const std::span<const std::byte> s(both);
        auto first = KvCache::image_size(s);
        QVERIFY(first);
        auto second = KvCache::image_size(s.subspan(*first));
        QVERIFY(second);
        QCOMPARE(*first + *second, both.size());
        QVERIFY(!KvCache::deserialize(s, 64, 1, o));  // trailing bytes
        auto rb = KvCache::deserialize(s.subspan(*first), 64, 1, o);
        QVERIFY(rb);
        QCOMPARE(rb->rows(), std::int64_t(30));
    }

    void corrupted_images_are_errors() {
        const int C = 64, H = 1;
        for (KvDType t : {KvDType::f32, KvDType::int8}) {
            const auto o = options(AttentionMode::native, 4, 3, t);
            const Doc d = make_doc(5u, C, 10);
            KvCache cache(C, H, o);
            run_engine(o, cache, d, {10});
            const auto img = image_of(cache);
            QVERIFY(KvCache::deserialize(img, C, H, o));
            for (std::size_t n = 0; n < img.size(); ++n)
                QVERIFY(!KvCache::deserialize(std::span(img).first(n), C, H, o));
            for (std::size_t i = 0; i < img.size(); ++i) {
                auto bad = img;
                bad[i] ^= std::byte{0x10};
                QVERIFY(!KvCache::deserialize(bad, C, H, o));
            }
            auto longer = img;
            longer.push_back(std::byte{0});
            QVERIFY(!KvCache::deserialize(longer, C, H, o));

            // The image must match the caller's shape and options.
            QVERIFY(!KvCache::deserialize(img, 128, 2, o));
            auto other = o;
            other.chunk_size = 8;
            QVERIFY(!KvCache::deserialize(img, C, H, other));
            other = o;
            other.kv_dtype = t == KvDType::f32 ? KvDType::f16 : KvDType::f32;
            QVERIFY(!KvCache::deserialize(img, C, H, other));

            // Inconsistent fields with a valid checksum. Header: magic 0, version 4, length 8,
            // C 16, H 20, B 24, dtype 28, compressed 29, reserved 30, tokens 32, rows 40,
            // chunks 48, first chunk 56.
            QVERIFY(!KvCache::deserialize(patched(img, 4, std::uint32_t(2)), C, H, o));
            QVERIFY(!KvCache::deserialize(patched(img, 29, std::uint8_t(2)), C, H, o));
            QVERIFY(!KvCache::deserialize(patched(img, 30, std::uint16_t(1)), C, H, o));
            QVERIFY(!KvCache::deserialize(patched(img, 32, std::int64_t(11)), C, H, o));
            QVERIFY(!KvCache::deserialize(patched(img, 40, std::int64_t(14)), C, H, o));
            QVERIFY(!KvCache::deserialize(patched(img, 48, std::int64_t(3)), C, H, o));
            QVERIFY(!KvCache::deserialize(patched(img, 48, std::int64_t(-1)), C, H, o));
            QVERIFY(!KvCache::deserialize(patched(img, 48, std::int64_t(1) << 60), C, H, o));
            QVERIFY(!KvCache::deserialize(patched(img, 56, std::uint8_t(0x7f)), C, H, o));  // mean
            if (t == KvDType::int8) {  // first chunk's k scale, after its k and v data
                const std::size_t scale_at = 56 + 2 * std::size_t(4) * 64;
                QVERIFY(!KvCache::deserialize(patched(img, scale_at, -1.0f), C, H, o));
                QVERIFY(!KvCache::deserialize(patched(img, scale_at, NAN), C, H, o));
            }
        }
    }

    void storage_error_bounds_data() {
        QTest::addColumn<int>("dtype");
        QTest::addColumn<int>("mode");
        QTest::addColumn<double>("bound");
        QTest::newRow("f16 native") << int(KvDType::f16) << int(AttentionMode::native) << f16_bound;
        QTest::newRow("f16 compat") << int(KvDType::f16) << int(AttentionMode::compat) << f16_bound;
        QTest::newRow("int8 native")
            << int(KvDType::int8) << int(AttentionMode::native) << int8_bound;
        QTest::newRow("int8 compat")
            << int(KvDType::int8) << int(AttentionMode::compat) << int8_bound;
    }

    void storage_error_bounds() {
        QFETCH(int, dtype);
        QFETCH(int, mode);
        QFETCH(double, bound);
        const int C = 128, B = 8, n = 200;
        double worst = 0;
        for (unsigned seed = 1; seed <= 4; ++seed) {
            const Doc d = make_doc(seed, C, n);
            // K large enough that every chunk is attended (native) / the short path (compat).
            auto o = options(AttentionMode(mode), B, 32, KvDType(dtype));
            const auto calls = random_splits(seed, n, 12);
            auto o32 = o;
            o32.kv_dtype = KvDType::f32;
            KvCache a(C, 2, o), b(C, 2, o32);
            const auto y = run_engine(o, a, d, calls);
            worst = std::max(worst, max_abs_diff(y, run_engine(o32, b, d, calls)));
            if (o.mode == AttentionMode::native) {  // split invariance holds for every dtype
                KvCache c(C, 2, o);
                QVERIFY(run_engine(o, c, d, ones(n)) == y);
            }
        }
        qInfo("max |y - y_f32| = %.3g (bound %.3g)", worst, bound);
        QVERIFY(worst > 0);
        QVERIFY(worst < bound);
    }
};

QTEST_GUILESS_MAIN(TestKvCache)
#include "tst_kv_cache.moc"
