// lectern::cuda::kv_widen_rows (kernels/kv_widen.cu) against the CPU twin lectern::kv_widen_rows
// (engine/src/attention/kv_packed_rows.cpp, which reads each row as the host cache's kv_load_row)
// on fresh random packed rows, with sentinel bytes around the outputs. Tolerance: none: a row the
// device widens must be the host's bit for bit, or a chunk paged in or uploaded would differ from
// the one the CPU attends over. f16 bit patterns are random (every finite half: normals,
// subnormals, -0) plus both infinities; int8 codes over -127..127 with random per-head scales;
// f32 random floats. Shapes: one row of one head, pieces of 96 to 256 rows, and a row stride
// wider than the heads (the columns between must keep their values).
#include <QTest>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "attention/kv_packed_rows.h"
#include "elementwise_test_util.h"
#ifdef LECTERN_HAVE_CUDA
#include "lectern/cuda/kv_widen.h"
#endif

Q_DECLARE_METATYPE(lectern::KvDType)

#ifdef LECTERN_HAVE_CUDA
namespace {

// A random packed piece (kv_packed_rows.h), as floats so that it fits a guarded device array.
std::vector<float> random_packed(lectern::KvDType dtype, int heads, int rows, std::uint32_t seed)
{
    const std::size_t bytes = lectern::kv_packed_bytes(dtype, heads, rows);
    std::vector<unsigned char> b(bytes);
    std::mt19937 rng(seed);
    const std::size_t elements = std::size_t(heads) * 2 * std::size_t(rows) * 64;
    if (dtype == lectern::KvDType::f32) {
        std::normal_distribution<float> normal(0.0f, 2.0f);
        for (std::size_t i = 0; i < elements; ++i) {
            const float x = normal(rng);
            std::memcpy(&b[i * 4], &x, 4);
        }
    } else if (dtype == lectern::KvDType::f16) {
        for (std::size_t i = 0; i < elements; ++i) {
            std::uint16_t h = std::uint16_t(rng());
            if ((h & 0x7c00u) == 0x7c00u) h &= 0x83ffu;  // no NaN or inf here: a subnormal
            if (i == 5) h = 0x7c00u;                     // +inf
            if (i == 6) h = 0xfc00u;                     // -inf
            if (i == 7) h = 0x8000u;                     // -0
            std::memcpy(&b[i * 2], &h, 2);
        }
    } else {
        std::uniform_int_distribution<int> code(-127, 127);
        for (std::size_t i = 0; i < elements; ++i) b[i] = static_cast<unsigned char>(code(rng));
        std::uniform_real_distribution<float> scale(1e-4f, 0.1f);
        for (int s = 0; s < heads * 2; ++s) {
            const float x = s == 1 ? 0.0f : scale(rng);  // a head's values all zero (scale 0)
            std::memcpy(&b[elements + std::size_t(s) * 4], &x, 4);
        }
    }
    std::vector<float> f((bytes + 3) / 4);
    std::memcpy(f.data(), b.data(), bytes);
    return f;
}

}  // namespace
#endif

class TestKvWidenCuda : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { LECTERN_REQUIRE_GPU(); }
    void matchesCpu_data();
    void matchesCpu();
};

void TestKvWidenCuda::matchesCpu_data()
{
    QTest::addColumn<lectern::KvDType>("dtype");
    QTest::addColumn<int>("heads");
    QTest::addColumn<int>("rows");
    QTest::addColumn<int>("stride");
    for (const auto& [name, dtype] : {std::pair{"f16", lectern::KvDType::f16},
                                      std::pair{"int8", lectern::KvDType::int8},
                                      std::pair{"f32", lectern::KvDType::f32}}) {
        const QByteArray n(name);
        QTest::newRow(n + " 1 head 1 row") << dtype << 1 << 1 << 64;
        QTest::newRow(n + " 4 heads 256 rows") << dtype << 4 << 256 << 256;
        QTest::newRow(n + " 3 heads 97 rows stride 320") << dtype << 3 << 97 << 320;
        QTest::newRow(n + " 6 heads 96 rows") << dtype << 6 << 96 << 384;
    }
}

void TestKvWidenCuda::matchesCpu()
{
#ifdef LECTERN_HAVE_CUDA
    QFETCH(lectern::KvDType, dtype);
    QFETCH(int, heads);
    QFETCH(int, rows);
    QFETCH(int, stride);
    const std::uint32_t seed = gpu_test::fresh_seed();
    const std::vector<float> packed = random_packed(dtype, heads, rows, seed);
    const std::size_t n = std::size_t(rows) * std::size_t(stride);
    // The columns a widening must not touch keep these.
    std::vector<float> keys = gpu_test::uniform(n, 100.0f, 200.0f, seed + 1);
    std::vector<float> values = gpu_test::uniform(n, -200.0f, -100.0f, seed + 2);
    const std::vector<float> before_keys = keys;

    LECTERN_GUARDED(dpacked, packed);
    LECTERN_GUARDED(dk, keys);
    LECTERN_GUARDED(dv, values);
    LECTERN_VERIFY_OK(lectern::cuda::kv_widen_rows(dtype, heads, rows, dpacked.data(),
                                                   std::size_t(stride), dk.data(), dv.data()));
    std::vector<float> got_k, got_v;
    LECTERN_READ_GUARDED(dk, got_k);
    LECTERN_READ_GUARDED(dv, got_v);
    lectern::kv_widen_rows(dtype, heads, rows, packed.data(), std::size_t(stride), keys.data(),
                           values.data());
    for (const auto& [got, want, what] : {std::tuple{&got_k, &keys, "keys"},
                                          std::tuple{&got_v, &values, "values"}}) {
        const QString why = gpu_test::first_bit_difference(*got, *want, std::size_t(stride), what);
        QVERIFY2(why.isEmpty(), qPrintable(why));
    }
    // Not vacuous: every head column was written (the packed values never fall in the keys'
    // starting range [100, 200]), and the columns past the heads were not.
    for (std::size_t i = 0; i < n; ++i) {
        const bool head_column = i % std::size_t(stride) < std::size_t(heads) * 64;
        const bool kept = std::memcmp(&keys[i], &before_keys[i], sizeof(float)) == 0;
        if (head_column == kept)
            QFAIL(qPrintable(QStringLiteral("keys column %1 %2")
                                 .arg(i % std::size_t(stride))
                                 .arg(head_column ? "not written" : "written")));
    }
#endif
}

QTEST_GUILESS_MAIN(TestKvWidenCuda)
#include "tst_kv_widen_cuda.moc"
