// lectern::cuda::kv_seal_chunk (kernels/kv_seal.cu) against the CPU twin lectern::kv_seal_chunk
// (engine/src/attention/kv_seal.cpp, the chunk store's own rounding) on fresh random rows with
// sentinel bytes around both arrays. Tolerance: none. The sealed rows must equal the host's bit for
// bit, or a chunk the GPU sealed would be read differently from the one the host stored (which
// tst_cuda_kv_dtype checks through the whole model). Besides random values in [-3, 3]: a head of
// zeros (int8: scale 0), a head with a value of 1e30 (f16: infinity; int8: everything else rounds
// to 0), values around the smallest f16 normals (subnormal halves), exact f16 ties, -0, and a row
// stride wider than the rows (the columns between must not change).
// The sealed chunk's mean key too (kv_sealed_key_mean), bit for bit: GPU against the CPU twin, and
// the CPU twin against the chunk store's own means of the same rows (KvChunk::build), so a mean
// the device computes for the chunks it seals is the one the host cache holds.
#include <QTest>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "attention/kv_chunk_store.h"
#include "attention/kv_seal.h"
#include "elementwise_test_util.h"
#ifdef LECTERN_HAVE_CUDA
#include "lectern/cuda/kv_seal.h"
#endif

Q_DECLARE_METATYPE(lectern::KvDType)

class TestKvSealCuda : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { LECTERN_REQUIRE_GPU(); }
    void matchesCpu_data();
    void matchesCpu();
};

void TestKvSealCuda::matchesCpu_data()
{
    QTest::addColumn<lectern::KvDType>("dtype");
    QTest::addColumn<int>("rows");
    QTest::addColumn<int>("C");
    QTest::addColumn<int>("stride");
    QTest::addColumn<bool>("special");
    for (const auto& [name, dtype] : {std::pair{"f16", lectern::KvDType::f16},
                                      std::pair{"int8", lectern::KvDType::int8},
                                      std::pair{"f32", lectern::KvDType::f32}}) {
        const QByteArray n(name);
        QTest::newRow(n + " 1x64") << dtype << 1 << 64 << 64 << false;
        QTest::newRow(n + " 16x128 special") << dtype << 16 << 128 << 128 << true;
        QTest::newRow(n + " 128x192 stride 256") << dtype << 128 << 192 << 256 << true;
        QTest::newRow(n + " 2048x128") << dtype << 2048 << 128 << 128 << false;
    }
}

void TestKvSealCuda::matchesCpu()
{
#ifdef LECTERN_HAVE_CUDA
    QFETCH(lectern::KvDType, dtype);
    QFETCH(int, rows);
    QFETCH(int, C);
    QFETCH(int, stride);
    QFETCH(bool, special);
    const std::uint32_t seed = gpu_test::fresh_seed();
    const std::size_t n = std::size_t(rows) * std::size_t(stride);
    std::vector<float> keys = gpu_test::uniform(n, -3.0f, 3.0f, seed);
    std::vector<float> values = gpu_test::uniform(n, -3.0f, 3.0f, seed + 1);
    if (special) {
        const auto at = [&](int r, int c) {
            return std::size_t(r) * std::size_t(stride) + std::size_t(c);
        };
        for (int r = 0; r < rows; ++r)
            for (int d = 0; d < 64; ++d) {
                keys[at(r, d)] = 0.0f;                                // head 0 of the keys: zeros
                values[at(r, 64 + d)] = float(r * 64 + d) * 1e-6f;    // tiny: subnormal halves
            }
        keys[at(rows - 1, 64 + 5)] = 1e30f;   // head 1 of the keys: f16 inf, int8 all but one 0
        keys[at(0, 64 + 6)] = -0.0f;
        values[at(0, 3)] = 1.0f + 1.0f / 2048.0f;   // halfway between halves: to even (1.0)
        values[at(0, 4)] = 1.0f + 3.0f / 2048.0f;   // halfway: to even (1 + 2/1024)
        values[at(rows - 1, 7)] = 6.1e-5f;          // just below the smallest normal half
    }
    // The chunk store's copy of these rows, built from them before any rounding.
    const int heads = C / 64;
    std::vector<float> k_heads(std::size_t(heads) * rows * 64), v_heads(k_heads.size());
    std::vector<const float*> kp, vp;
    for (int h = 0; h < heads; ++h) {
        for (int r = 0; r < rows; ++r)
            for (int d = 0; d < 64; ++d) {
                const std::size_t from =
                    std::size_t(r) * std::size_t(stride) + std::size_t(h * 64 + d);
                const std::size_t to =
                    (std::size_t(h) * rows + std::size_t(r)) * 64 + std::size_t(d);
                k_heads[to] = keys[from];
                v_heads[to] = values[from];
            }
        kp.push_back(k_heads.data() + std::size_t(h) * rows * 64);
        vp.push_back(v_heads.data() + std::size_t(h) * rows * 64);
    }
    const auto stored = lectern::KvChunk::build(dtype, heads, rows, kp.data(), vp.data());

    LECTERN_GUARDED(dk, keys);
    LECTERN_GUARDED(dv, values);
    LECTERN_GUARDED(dmean, std::vector<float>(std::size_t(C), 0.0f));
    LECTERN_VERIFY_OK(lectern::cuda::kv_seal_chunk(dtype, rows, C, std::size_t(stride), dk.data(),
                                                   dv.data()));
    LECTERN_VERIFY_OK(
        lectern::cuda::kv_sealed_key_mean(rows, C, std::size_t(stride), dk.data(), dmean.data()));
    std::vector<float> got_k, got_v, got_mean;
    LECTERN_READ_GUARDED(dk, got_k);
    LECTERN_READ_GUARDED(dv, got_v);
    LECTERN_READ_GUARDED(dmean, got_mean);
    lectern::kv_seal_chunk(dtype, rows, C, std::size_t(stride), keys.data(), values.data());
    std::vector<float> mean(static_cast<std::size_t>(C));
    lectern::kv_sealed_key_mean(rows, C, std::size_t(stride), keys.data(), mean.data());
    for (int c = 0; c < C; ++c) {
        const float store = stored->mean(c / 64)[c % 64];
        if (std::memcmp(&mean[std::size_t(c)], &store, sizeof(float)) != 0)
            QFAIL(qPrintable(QStringLiteral("mean column %1: CPU twin %2, chunk store %3")
                                 .arg(c)
                                 .arg(double(mean[std::size_t(c)]), 0, 'g', 9)
                                 .arg(double(store), 0, 'g', 9)));
        if (std::memcmp(&mean[std::size_t(c)], &got_mean[std::size_t(c)], sizeof(float)) != 0)
            QFAIL(qPrintable(QStringLiteral("mean column %1: GPU %2, CPU %3")
                                 .arg(c)
                                 .arg(double(got_mean[std::size_t(c)]), 0, 'g', 9)
                                 .arg(double(mean[std::size_t(c)]), 0, 'g', 9)));
    }
    for (const auto& [got, want, what] : {std::tuple{&got_k, &keys, "keys"},
                                          std::tuple{&got_v, &values, "values"}}) {
        const QString why = gpu_test::first_bit_difference(*got, *want, std::size_t(stride), what);
        QVERIFY2(why.isEmpty(), qPrintable(why));
    }
    // The test is not vacuous: rounding changed something (f32 leaves the rows as they were).
    if (dtype != lectern::KvDType::f32) {
        const std::vector<float> fresh = gpu_test::uniform(n, -3.0f, 3.0f, seed + 1);
        QVERIFY(special || std::memcmp(fresh.data(), got_v.data(), n * sizeof(float)) != 0);
    }
#endif
}

QTEST_GUILESS_MAIN(TestKvSealCuda)
#include "tst_kv_seal_cuda.moc"
