// KvCacheMark (engine/src/attention/kv_cache_mark.h): a cache put back after a failed call's
// appends is the cache it was, byte for byte in its image, and goes on exactly as a cache that
// never saw them: across chunks the appends completed (f32, f16, int8), with the open chunk's
// rows shared with a fork that appended first or not at all, and across compat compression
// (which re-packs rows, so that mark is a copy). A native mark shares everything it holds.
#include <QTest>

#include "attention/kv_cache_impl.h"
#include "attention/kv_cache_mark.h"
#include "attention_test_util.h"

using namespace lectern;
using namespace attn_test;

namespace {

const char* dtype_name(KvDType t) {
    return t == KvDType::f32 ? "f32" : t == KvDType::f16 ? "f16" : "int8";
}

}  // namespace

Q_DECLARE_METATYPE(lectern::AttentionOptions)

class TestKvCacheMark : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void restore_undoes_appends_data() {
        QTest::addColumn<AttentionOptions>("o");
        QTest::addColumn<int>("prefix");  // rows before the mark
        QTest::addColumn<int>("failed");  // rows the "failed call" appends
        QTest::addColumn<bool>("fork_first");  // a fork sharing the open chunk appends first
        for (const KvDType t : {KvDType::f32, KvDType::f16, KvDType::int8}) {
            const auto native = options(AttentionMode::native, 4, 3, t);
            // 22 rows: five chunks and an open one of 2 rows. Appends of 1 row, of 2 (completing
            // the open chunk exactly), of 9 (two more chunks) and of 30.
            for (const int failed : {1, 2, 9, 30})
                for (const bool fork_first : {false, true})
                    QTest::addRow("native %s +%d%s", dtype_name(t), failed,
                                  fork_first ? " fork first" : "")
                        << native << 22 << failed << fork_first;
            QTest::addRow("native %s on a chunk boundary +5", dtype_name(t)) << native << 20 << 5
                                                                            << false;
            QTest::addRow("native %s empty +6", dtype_name(t)) << native << 0 << 6 << false;
            // Compression runs past kv_max = 24 rows (before or during the failed append).
            QTest::addRow("compat %s +10 compressing", dtype_name(t))
                << compat_managed(t) << 20 << 10 << false;
            QTest::addRow("compat %s compressed +3", dtype_name(t))
                << compat_managed(t) << 30 << 3 << true;
        }
    }
    void restore_undoes_appends() {
        QFETCH(AttentionOptions, o);
        QFETCH(int, prefix);
        QFETCH(int, failed);
        QFETCH(bool, fork_first);
        const int C = 128, H = 2, after = 11;
        const Doc good = make_doc(1u, C, prefix + after);
        Doc bad = make_doc(2u, C, prefix + failed);  // the failed call's rows: another future
        std::copy_n(good.k.begin(), std::size_t(prefix) * C, bad.k.begin());
        std::copy_n(good.v.begin(), std::size_t(prefix) * C, bad.v.begin());
        std::copy_n(good.q.begin(), std::size_t(prefix) * C, bad.q.begin());
        std::copy_n(good.ln1.begin(), std::size_t(prefix) * C, bad.ln1.begin());

        KvCache cache(C, H, o);
        if (prefix > 0) run_engine(o, cache, good, {prefix});
        const auto before = image_of(cache);
        KvCache question = cache.fork();  // shares the chunks and the open chunk's rows
        std::vector<float> question_y;
        if (fork_first) question_y = run_engine(o, question, good, {1}, prefix);

        const std::int64_t rows = cache.rows();
        KvCacheMark mark(cache);
        run_engine(o, cache, bad, {failed}, prefix);
        QVERIFY(image_of(cache) != before);
        mark.restore(cache);
        QCOMPARE(cache.rows(), rows);
        QVERIFY(image_of(cache) == before);

        // It goes on as a cache that never saw the failed rows; so does the fork.
        KvCache solo(C, H, o);
        if (prefix > 0) run_engine(o, solo, good, {prefix});
        QVERIFY(run_engine(o, cache, good, {3, 1, after - 4}, prefix) ==
                run_engine(o, solo, good, {3, 1, after - 4}, prefix));
        QVERIFY(image_of(cache) == image_of(solo));
        if (fork_first) {
            KvCache solo_q(C, H, o);
            if (prefix > 0) run_engine(o, solo_q, good, {prefix});
            QVERIFY(run_engine(o, solo_q, good, {1}, prefix) == question_y);
            QVERIFY(image_of(question) == image_of(solo_q));
        }
    }

    // A native mark copies nothing: after a restore, complete chunks are the very objects the
    // cache held before (and still shares with its fork).
    void native_restore_shares_chunks() {
        const auto o = options(AttentionMode::native, 4, 3, KvDType::f16);
        const int C = 64;
        const Doc d = make_doc(3u, C, 40);
        KvCache cache(C, 1, o);
        run_engine(o, cache, d, {14});
        const KvCache fork = cache.fork();
        KvCacheMark mark(cache);
        run_engine(o, cache, d, {20}, 14);
        QCOMPARE(cache.chunk_count(), std::int64_t(8));
        mark.restore(cache);
        QCOMPARE(cache.chunk_count(), std::int64_t(3));
        QCOMPARE(cache.rows(), std::int64_t(14));
        for (std::int64_t c = 0; c < 3; ++c)
            QVERIFY(cache.impl().store.shared_chunk(c) == fork.impl().store.shared_chunk(c));
        QCOMPARE(cache.impl().tail.keys(0), fork.impl().tail.keys(0));
    }
};

QTEST_APPLESS_MAIN(TestKvCacheMark)
#include "tst_kv_cache_mark.moc"
