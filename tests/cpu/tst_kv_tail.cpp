// KvTail (engine/src/attention/kv_tail.h): forks share a partial chunk's rows without copying,
// the first holder to append writes in place and any other copies, and no holder ever sees
// another's rows: random histories of forks, appends, clears and drops against plain vectors,
// and two threads appending to a parent and its fork at once.
#include <QTest>

#include <cstring>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "attention/kv_chunk_store.h"
#include "attention/kv_tail.h"

using namespace lectern;

namespace {

constexpr int kHeads = 3;
constexpr int kChunk = 16;
constexpr std::size_t kStride = kHeads * kv_head_dim + 5;  // rows of a wider [n][C] matrix

// What a holder should hold: per head, its rows' keys and values.
struct Expected {
    std::vector<std::vector<float>> k = std::vector<std::vector<float>>(kHeads),
                                    v = std::vector<std::vector<float>>(kHeads);
    int rows = 0;
};

struct Holder {
    KvTail tail{kHeads, kChunk};
    Expected want;
};

// n rows of random keys and values in [n][kStride] layout, appended to both sides.
void append_random(Holder& h, int n, std::mt19937& rng) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> k(std::size_t(n) * kStride), v(k.size());
    for (float& x : k) x = u(rng);
    for (float& x : v) x = u(rng);
    h.tail.append(k.data(), v.data(), n, kStride);
    for (int head = 0; head < kHeads; ++head)
        for (int i = 0; i < n; ++i) {
            const float* kr = k.data() + std::size_t(i) * kStride + std::size_t(head) * kv_head_dim;
            const float* vr = v.data() + std::size_t(i) * kStride + std::size_t(head) * kv_head_dim;
            h.want.k[std::size_t(head)].insert(h.want.k[std::size_t(head)].end(), kr,
                                               kr + kv_head_dim);
            h.want.v[std::size_t(head)].insert(h.want.v[std::size_t(head)].end(), vr,
                                               vr + kv_head_dim);
        }
    h.want.rows += n;
}

bool holds(const Holder& h) {
    if (h.tail.rows() != h.want.rows) return false;
    const std::size_t bytes = std::size_t(h.want.rows) * kv_head_dim * sizeof(float);
    for (int head = 0; head < kHeads && bytes > 0; ++head)
        if (std::memcmp(h.tail.keys(head), h.want.k[std::size_t(head)].data(), bytes) != 0 ||
            std::memcmp(h.tail.values(head), h.want.v[std::size_t(head)].data(), bytes) != 0)
            return false;
    return true;
}

}  // namespace

class TestKvTail : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // A fork reads its parent's buffer; the first to append writes in place, the second copies.
    void first_appender_writes_in_place() {
        std::mt19937 rng(1);
        for (const bool parent_first : {true, false}) {
            Holder parent;
            append_random(parent, 5, rng);
            Holder fork{parent.tail, parent.want};
            QCOMPARE(fork.tail.keys(0), parent.tail.keys(0));  // shared, not copied
            QCOMPARE(fork.tail.values(2), parent.tail.values(2));
            const float* shared = parent.tail.keys(1);
            Holder& first = parent_first ? parent : fork;
            Holder& second = parent_first ? fork : parent;
            append_random(first, 3, rng);
            QCOMPARE(first.tail.keys(1), shared);  // in place
            QVERIFY(holds(second));                 // and unseen by the other
            append_random(second, 4, rng);
            QVERIFY(second.tail.keys(1) != shared);  // copied before writing
            QVERIFY(holds(first));
            QVERIFY(holds(second));
        }
    }

    // The sole holder of a buffer appends in place even past rows a dropped fork wrote, and
    // keeps it over a clear; a shared buffer is left to the other holder by a clear.
    void sole_holder_reuses_its_buffer() {
        std::mt19937 rng(2);
        Holder parent;
        append_random(parent, 6, rng);
        const float* mine = parent.tail.keys(0);
        {
            Holder fork{parent.tail, parent.want};
            append_random(fork, 2, rng);  // claims rows 6, 7 in place
        }
        append_random(parent, 2, rng);  // the fork is gone: rows 6, 7 are ours again
        QCOMPARE(parent.tail.keys(0), mine);
        QVERIFY(holds(parent));
        Holder fork{parent.tail, parent.want};
        parent.tail.clear();
        parent.want = Expected{};
        QVERIFY(holds(fork));  // the clear did not give the fork's rows away
        append_random(parent, 3, rng);
        QVERIFY(parent.tail.keys(0) != mine);
        QVERIFY(holds(fork));
        QVERIFY(holds(parent));
        fork.tail.clear();  // now the sole holder: the buffer stays for the next chunk
        fork.want = Expected{};
        append_random(fork, 1, rng);
        QCOMPARE(fork.tail.keys(0), mine);
        QVERIFY(holds(fork));
    }

    // Random histories over up to six holders: fork, append, clear, assign, drop.
    void random_histories() {
        for (std::uint32_t seed = 1; seed <= 40; ++seed) {
            std::mt19937 rng(seed);
            std::vector<std::optional<Holder>> holders(6);
            holders[0].emplace();
            for (int step = 0; step < 300; ++step) {
                const std::size_t i = rng() % holders.size();
                if (!holders[i]) {
                    std::vector<std::size_t> live;
                    for (std::size_t j = 0; j < holders.size(); ++j)
                        if (holders[j]) live.push_back(j);
                    if (live.empty()) {
                        holders[i].emplace();
                    } else {
                        const Holder& from = *holders[live[rng() % live.size()]];
                        holders[i].emplace(Holder{from.tail, from.want});  // a fork
                    }
                    continue;
                }
                Holder& h = *holders[i];
                switch (rng() % 8) {
                    case 0:
                        h.tail.clear();
                        h.want = Expected{};
                        break;
                    case 1:
                        holders[i].reset();
                        break;
                    case 2: {  // replace with another holder's rows, copied in
                        const auto& from = holders[rng() % holders.size()];
                        const Expected rows = from ? from->want : h.want;
                        std::vector<const float*> k, v;
                        for (int head = 0; head < kHeads; ++head) {
                            k.push_back(rows.k[std::size_t(head)].data());
                            v.push_back(rows.v[std::size_t(head)].data());
                        }
                        h.tail.assign(rows.rows, k.data(), v.data());
                        h.want = rows;
                        break;
                    }
                    default: {
                        const int room = kChunk - h.tail.rows();
                        if (room == 0) {
                            h.tail.clear();
                            h.want = Expected{};
                        } else {
                            append_random(h, 1 + int(rng() % unsigned(room)), rng);
                        }
                    }
                }
                for (const auto& o : holders)
                    if (o && !holds(*o))
                        QFAIL(qPrintable(QStringLiteral("seed %1, step %2").arg(seed).arg(step)));
            }
        }
    }

    // A document's state and its question appending at the same time from two threads: exactly
    // one writes in place, and each ends with its own rows.
    void concurrent_appends() {
        for (int round = 0; round < 200; ++round) {
            std::mt19937 rng(std::uint32_t(1000 + round));
            Holder parent;
            append_random(parent, 4, rng);
            Holder fork{parent.tail, parent.want};
            const float* shared = parent.tail.keys(0);
            std::mt19937 ra{std::uint32_t(round)}, rb{std::uint32_t(round + 7)};
            std::thread a([&] {
                for (int i = 0; i < 4; ++i) append_random(parent, 2, ra);
            });
            std::thread b([&] {
                for (int i = 0; i < 4; ++i) append_random(fork, 3, rb);
            });
            a.join();
            b.join();
            QVERIFY(holds(parent));
            QVERIFY(holds(fork));
            QVERIFY((parent.tail.keys(0) == shared) != (fork.tail.keys(0) == shared));
        }
    }
};

QTEST_GUILESS_MAIN(TestKvTail)
#include "tst_kv_tail.moc"
