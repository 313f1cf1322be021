// lectern::ThreadPool (engine/src/cpu/thread_pool.cpp): parallel_for covers [0, n) exactly once
// in ranges of at least `grain` (the last may be shorter), n = 0 calls nothing, nested calls run
// serially, thousands of back-to-back jobs complete, an exception thrown by fn reaches the caller
// and leaves the pool usable, and pools are destroyed cleanly, idle or just used.
#include <QTest>

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "cpu/thread_pool.h"

using lectern::ThreadPool;

class TestThreadPool : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void sizes();
    void coversExactlyOnce_data();
    void coversExactlyOnce();
    void zeroItems();
    void nestedCallsRunSerially();
    void manyRapidCalls();
    void exceptionReachesCaller();
    void usesSeveralThreads();
    void destroyRightAway();
};

void TestThreadPool::sizes()
{
    QCOMPARE(ThreadPool(1).size(), 1);
    QCOMPARE(ThreadPool(3).size(), 3);
    QVERIFY(ThreadPool(0).size() >= 1);
    QVERIFY(ThreadPool(-2).size() >= 1);
}

void TestThreadPool::coversExactlyOnce_data()
{
    QTest::addColumn<int>("threads");
    QTest::addColumn<int>("n");
    QTest::addColumn<int>("grain");
    for (int threads : {1, 2, 3, 5})
        for (int n : {1, 2, 7, 64, 1000, 100003})
            for (int grain : {0, 1, 3, 64, 5000})
                QTest::addRow("threads=%d n=%d grain=%d", threads, n, grain) << threads << n << grain;
}

void TestThreadPool::coversExactlyOnce()
{
    QFETCH(int, threads);
    QFETCH(int, n);
    QFETCH(int, grain);
    ThreadPool pool(threads);
    std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
    std::mutex mutex;
    std::vector<std::pair<std::size_t, std::size_t>> ranges;
    pool.parallel_for(std::size_t(n), std::size_t(grain), [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) hits[i].fetch_add(1);
        std::lock_guard<std::mutex> lock(mutex);
        ranges.emplace_back(b, e);
    });
    for (int i = 0; i < n; ++i) QCOMPARE(hits[std::size_t(i)].load(), 1);
    const std::size_t min_len = std::size_t(std::max(grain, 1));
    for (const auto& [b, e] : ranges) {
        QVERIFY(b < e);
        if (e != std::size_t(n)) QVERIFY2(e - b >= min_len, "a range other than the last is shorter than grain");
    }
}

void TestThreadPool::zeroItems()
{
    ThreadPool pool(3);
    int calls = 0;
    pool.parallel_for(0, 1, [&](std::size_t, std::size_t) { ++calls; });
    QCOMPARE(calls, 0);
}

void TestThreadPool::nestedCallsRunSerially()
{
    ThreadPool pool(3);
    constexpr std::size_t outer = 12, inner = 50;
    std::vector<std::atomic<int>> hits(outer * inner);
    std::atomic<int> inner_calls{0};
    pool.parallel_for(outer, 1, [&](std::size_t b, std::size_t e) {
        for (std::size_t o = b; o < e; ++o) {
            const std::thread::id me = std::this_thread::get_id();
            pool.parallel_for(inner, 1, [&](std::size_t ib, std::size_t ie) {
                // Serial: the whole range at once, on the calling thread.
                QCOMPARE(ib, std::size_t(0));
                QCOMPARE(ie, inner);
                QVERIFY(std::this_thread::get_id() == me);
                inner_calls.fetch_add(1);
                for (std::size_t i = ib; i < ie; ++i) hits[o * inner + i].fetch_add(1);
            });
        }
    });
    QCOMPARE(inner_calls.load(), int(outer));
    for (auto& h : hits) QCOMPARE(h.load(), 1);
}

void TestThreadPool::manyRapidCalls()
{
    ThreadPool pool(3);
    std::atomic<long> sum{0};
    for (int call = 0; call < 20000; ++call)
        pool.parallel_for(7, 1, [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i) sum.fetch_add(long(i));
        });
    QCOMPARE(sum.load(), 20000L * 21L);
}

void TestThreadPool::exceptionReachesCaller()
{
    ThreadPool pool(3);
    bool caught = false;
    try {
        pool.parallel_for(1000, 1, [&](std::size_t b, std::size_t e) {
            if (b <= 500 && 500 < e) throw std::runtime_error("boom");
        });
    } catch (const std::runtime_error& e) {
        caught = std::string(e.what()) == "boom";
    }
    QVERIFY(caught);
    // The pool still works afterwards.
    std::atomic<int> count{0};
    pool.parallel_for(1000, 1, [&](std::size_t b, std::size_t e) { count.fetch_add(int(e - b)); });
    QCOMPARE(count.load(), 1000);
}

void TestThreadPool::usesSeveralThreads()
{
    ThreadPool pool(2);
    std::mutex mutex;
    std::set<std::thread::id> ids;
    // Long enough chunks that the worker wakes up before the caller has taken every chunk.
    pool.parallel_for(64, 1, [&](std::size_t, std::size_t) {
        {
            std::lock_guard<std::mutex> lock(mutex);
            ids.insert(std::this_thread::get_id());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    });
    QCOMPARE(int(ids.size()), 2);
}

void TestThreadPool::destroyRightAway()
{
    for (int i = 0; i < 50; ++i) {
        ThreadPool idle(3);
        ThreadPool used(2);
        std::atomic<int> c{0};
        used.parallel_for(10, 1, [&](std::size_t b, std::size_t e) { c.fetch_add(int(e - b)); });
        QCOMPARE(c.load(), 10);
    }
}

QTEST_GUILESS_MAIN(TestThreadPool)
#include "tst_thread_pool.moc"
