// KvPagePlanner and split_queries (engine/src/attention/kv_page_planner.h): LRU order, pins, the
// "does not fit" answer, splitting and its error, random plans against invariants, and an
// end-to-end emulation of the GPU's paged KV cache on the CPU (chunks copied into slot arrays as
// the planner says, attention read through the page table) against the float64 dense reference.
#include <QTest>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "attention/kv_page_planner.h"
#include "sparse_attention_reference.h"

using lectern::KvPageKey;
using lectern::KvPagePlanner;

namespace {

std::vector<std::int64_t> chunks_of(std::initializer_list<std::int64_t> c) {
    return c;
}

std::vector<std::int64_t> lru_chunks(const KvPagePlanner& p) {
    std::vector<std::int64_t> out;
    for (const KvPageKey& k : p.lru_order()) out.push_back(k.block * 1000 + k.chunk);
    return out;
}

// One attention block's data for the end-to-end check: every row, and the dense reference's
// outputs and chunk choices per query.
struct BlockData {
    std::vector<float> q, k, v;                      // [rows][C]
    std::vector<std::vector<float>> y;               // [rows][C]
    std::vector<std::vector<std::vector<int>>> sel;  // [rows][H] chosen chunks, best first
};

BlockData make_block(std::mt19937& rng, int rows, int H, int B, int K) {
    const std::size_t C = std::size_t(H) * ref::N;
    BlockData d;
    d.q = ref::random_rows(rng, rows * C);
    d.k = ref::random_rows(rng, rows * C);
    d.v = ref::random_rows(rng, rows * C);
    ref::Native native(H, B, K);
    for (int t = 0; t < rows; ++t) {
        d.y.push_back(native.step(&d.q[t * C], &d.k[t * C], &d.v[t * C]));
        d.sel.push_back(native.last_selection);
    }
    return d;
}

// Every row of every block fed through the paged layout in calls of `calls` sizes, with a pool of
// `pool` slots; returns the number of chunk loads, or -1 after a failed check (reported).
int run_paged(const std::vector<BlockData>& blocks, const std::vector<int>& calls, int H, int B,
              int pool) {
    const std::size_t C = std::size_t(H) * ref::N;
    const std::size_t slot_floats = std::size_t(B) * C;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    KvPagePlanner planner(int(blocks.size()));
    planner.add_slots(pool);
    std::vector<float> kpool(slot_floats * pool, nan), vpool(slot_floats * pool, nan);
    int loads = 0;
    int p0 = 0;
    for (int T : calls) {
        for (int j = 0; j < int(blocks.size()); ++j) {
            const BlockData& d = blocks[std::size_t(j)];
            // The call's new rows go into the slots of resident chunks they touch ("scatter").
            for (int r = p0; r < p0 + T; ++r) {
                const int slot = planner.slot_of(j, r / B);
                if (slot < 0) continue;
                const std::size_t at = (std::size_t(slot) * B + r % B) * C;
                std::copy_n(&d.k[r * C], C, &kpool[at]);
                std::copy_n(&d.v[r * C], C, &vpool[at]);
            }
            // Rows [c*B, p0 + T) of chunk c into its fresh slot: the host's rows and the call's.
            auto load = [&](const lectern::KvPageLoad& l) {
                // A fresh slot holds nothing: rows not loaded stay NaN and would show.
                const std::size_t base = std::size_t(l.slot) * slot_floats;
                std::fill_n(&kpool[base], slot_floats, nan);
                std::fill_n(&vpool[base], slot_floats, nan);
                const int last = std::min<int>(int(l.chunk + 1) * B, p0 + T);
                for (int r = int(l.chunk) * B; r < last; ++r) {
                    std::copy_n(&d.k[r * C], C, &kpool[base + std::size_t(r % B) * C]);
                    std::copy_n(&d.v[r * C], C, &vpool[base + std::size_t(r % B) * C]);
                }
                ++loads;
            };
            // A chunk begun before the call and completed by it is averaged in its slot (the GPU
            // computes its mean there): every one of its B rows must be in place by now.
            if (p0 % B != 0 && (p0 / B + 1) * B <= p0 + T) {
                const std::int64_t straddling[] = {p0 / B};
                auto plan = planner.plan(j, straddling);
                if (!plan) {
                    qWarning("plan (straddling chunk): %s", plan.error().message.c_str());
                    return -1;
                }
                for (const auto& l : *plan) load(l);
                const int slot = planner.slot_of(j, p0 / B);
                for (int r = p0 / B * B; r < (p0 / B + 1) * B; ++r)
                    if (!std::equal(&d.k[r * C], &d.k[r * C] + C,
                                    &kpool[(std::size_t(slot) * B + r % B) * C])) {
                        qWarning("block %d: row %d of the straddling chunk is not in its slot", j,
                                 r);
                        return -1;
                    }
                planner.unpin_all();
            }
            std::vector<std::vector<std::int64_t>> needs(static_cast<std::size_t>(T));
            for (int t = 0; t < T; ++t) {
                needs[t].push_back((p0 + t) / B);
                for (const auto& hs : d.sel[std::size_t(p0 + t)])
                    for (int c : hs) needs[t].push_back(c);
            }
            auto ranges = lectern::split_queries(needs, planner.slot_count(), slot_floats * 8);
            if (!ranges) {
                qWarning("split: %s", ranges.error().message.c_str());
                return -1;
            }
            for (const auto& range : *ranges) {
                std::vector<std::int64_t> un;
                for (int t = range.begin; t < range.end; ++t)
                    un.insert(un.end(), needs[t].begin(), needs[t].end());
                auto plan = planner.plan(j, un);
                if (!plan) {
                    qWarning("plan: %s", plan.error().message.c_str());
                    return -1;
                }
                for (const auto& l : *plan) load(l);
                const auto page = planner.page_table(j, (p0 + T + B - 1) / B);
                for (int t = range.begin; t < range.end; ++t) {
                    const int s = p0 + t;
                    for (int h = 0; h < H; ++h) {
                        std::vector<std::vector<double>> kr, vr;
                        auto add = [&](int r) {
                            const int slot = page[std::size_t(r / B)];
                            const std::size_t at = (std::size_t(slot) * B + r % B) * C + h * ref::N;
                            kr.emplace_back(&kpool[at], &kpool[at] + ref::N);
                            vr.emplace_back(&vpool[at], &vpool[at] + ref::N);
                        };
                        for (int c : d.sel[std::size_t(s)][std::size_t(h)])
                            for (int r = c * B; r < (c + 1) * B; ++r) add(r);
                        for (int r = s / B * B; r <= s; ++r) add(r);
                        std::vector<const double*> kp, vp;
                        for (std::size_t i = 0; i < kr.size(); ++i) {
                            kp.push_back(kr[i].data());
                            vp.push_back(vr[i].data());
                        }
                        std::vector<double> qh(&d.q[s * C + h * ref::N],
                                               &d.q[s * C + h * ref::N] + ref::N);
                        const auto yh = ref::attend(qh.data(), kp, vp);
                        for (int i = 0; i < ref::N; ++i)
                            if (float(yh[i]) != d.y[std::size_t(s)][h * ref::N + i]) {
                                qWarning("block %d query %d head %d channel %d: %g vs %g", j, s, h,
                                         i, yh[i], double(d.y[std::size_t(s)][h * ref::N + i]));
                                return -1;
                            }
                    }
                }
                planner.unpin_all();
            }
        }
        p0 += T;
    }
    return loads;
}

}  // namespace

class TestKvPagePlanner : public QObject {
    Q_OBJECT

  private slots:
    void lru_order() {
        KvPagePlanner p(2);
        p.add_slots(3);
        auto a = p.plan(0, chunks_of({0, 1, 2}));
        QVERIFY(a);
        QCOMPARE(int(a->size()), 3);
        QCOMPARE((*a)[0].slot, 0);
        QCOMPARE((*a)[2].slot, 2);
        QCOMPARE(p.free_slots(), 0);
        p.unpin_all();
        auto b = p.plan(0, chunks_of({3}));  // evicts chunk 0, the least recently used
        QVERIFY(b && b->size() == 1);
        QCOMPARE((*b)[0].slot, 0);
        QCOMPARE(p.slot_of(0, 0), -1);
        QCOMPARE(lru_chunks(p), (std::vector<std::int64_t>{1, 2, 3}));
        p.unpin_all();
        auto c = p.plan(0, chunks_of({1}));  // resident: no load, becomes the newest
        QVERIFY(c && c->empty());
        QCOMPARE(lru_chunks(p), (std::vector<std::int64_t>{2, 3, 1}));
        p.unpin_all();
        // Another block shares the pool and the LRU: its chunk evicts block 0's oldest.
        auto d = p.plan(1, chunks_of({2}));
        QVERIFY(d && d->size() == 1);
        QCOMPARE((*d)[0].slot, 2);
        QCOMPARE(p.slot_of(1, 2), 2);
        QCOMPARE(p.slot_of(0, 2), -1);
        QCOMPARE(lru_chunks(p), (std::vector<std::int64_t>{3, 1, 1002}));
        QCOMPARE(p.page_table(0, 5), (std::vector<int>{-1, 1, -1, 0, -1}));
        p.touch(0, 3);
        QCOMPARE(lru_chunks(p), (std::vector<std::int64_t>{1, 1002, 3}));
        p.forget(0, 1);
        QCOMPARE(p.free_slots(), 1);
        QCOMPARE(p.missing(0, chunks_of({1, 3, 1, 7})), 2);
    }

    void pins() {
        KvPagePlanner p(1);
        p.add_slots(4);
        QVERIFY(p.plan(0, chunks_of({0, 1, 2, 3})));
        p.unpin_all();
        p.pin(0, 0);
        p.pin(0, 1);
        p.pin(0, 2);
        QVERIFY(p.pinned(0, 1));
        const auto before = p.lru_order();
        // Two new chunks need two slots but only chunk 3's is evictable: refused, nothing moves.
        auto no = p.plan(0, chunks_of({4, 5}));
        QVERIFY(!no);
        QVERIFY(QString::fromStdString(no.error().message).contains(QStringLiteral("do not fit")));
        QVERIFY(p.lru_order() == before);
        QCOMPARE(p.slot_of(0, 3), 3);
        QVERIFY(!p.pinned(0, 3));
        // A set containing pinned chunks counts them once.
        auto yes = p.plan(0, chunks_of({1, 4, 0}));
        QVERIFY(yes && yes->size() == 1);
        QCOMPARE((*yes)[0].slot, 3);  // the only unpinned one, although chunk 0 is older
        QVERIFY(p.pinned(0, 4));
        QVERIFY(!p.plan(0, chunks_of({5})));  // everything pinned now
        p.unpin_all();
        QVERIFY(p.plan(0, chunks_of({5})));
        // Growing the pool gives free slots, used before any eviction.
        p.add_slots(2);
        auto grown = p.plan(0, chunks_of({6, 7}));
        QVERIFY(grown && grown->size() == 2);
        QCOMPARE((*grown)[0].slot, 4);
        QCOMPARE((*grown)[1].slot, 5);
        p.forget_from(0, 5);
        QCOMPARE(p.slot_of(0, 6), -1);
        QCOMPARE(p.slot_of(0, 4), 3);
        QCOMPARE(p.free_slots(), 3);
    }

    // A freed pool (another state took its memory back): no slot, no chunk, no pin; a new pool
    // starts from slot 0 and the planner works as new.
    void release_slots() {
        KvPagePlanner p(2);
        p.add_slots(3);
        QVERIFY(p.plan(0, chunks_of({0, 1})));
        QVERIFY(p.plan(1, chunks_of({4})));
        p.release_slots();
        QCOMPARE(p.slot_count(), 0);
        QCOMPARE(p.free_slots(), 0);
        QVERIFY(p.lru_order().empty());
        QCOMPARE(p.slot_of(0, 1), -1);
        QVERIFY(!p.pinned(1, 4));
        QVERIFY(p.page_table(0, 3) == (std::vector<int>{-1, -1, -1}));
        QVERIFY(!p.plan(0, chunks_of({2})));  // no slot to put it in
        p.add_slots(2);
        auto again = p.plan(1, chunks_of({4, 5}));
        QVERIFY(again && again->size() == 2);
        QCOMPARE((*again)[0].slot, 0);
        QCOMPARE((*again)[1].slot, 1);
        QCOMPARE(p.slot_of(1, 5), 1);
    }

    // Random plans with pins held across them: pinned chunks never move, slots stay unique, the
    // page tables match slot_of, and a refusal happens exactly when the set cannot fit.
    void random_plans_keep_invariants() {
        std::mt19937 rng(7);
        KvPagePlanner p(3);
        p.add_slots(6);
        std::set<std::pair<int, std::int64_t>> pinned;
        for (int step = 0; step < 3000; ++step) {
            if (rng() % 5 == 0) {
                p.unpin_all();
                pinned.clear();
            }
            if (step == 1500) p.add_slots(3);
            if (rng() % 3 == 0) {
                // A pin without a use: the chunk keeps its place near the front of the LRU.
                const int b = int(rng() % 3);
                const std::int64_t c = rng() % 12;
                if (p.resident(b, c)) {
                    p.pin(b, c);
                    pinned.insert({b, c});
                }
            }
            const int block = int(rng() % 3);
            std::vector<std::int64_t> set;
            for (int i = 0, n = 1 + int(rng() % 4); i < n; ++i) set.push_back(rng() % 12);
            std::map<std::pair<int, std::int64_t>, int> held;
            for (const auto& k : pinned) held[k] = p.slot_of(k.first, k.second);
            std::set<std::int64_t> distinct(set.begin(), set.end());
            std::size_t need = distinct.size();
            for (const auto& k : pinned)
                if (k.first != block || !distinct.count(k.second)) ++need;
            auto plan = p.plan(block, set);
            QCOMPARE(bool(plan), need <= std::size_t(p.slot_count()));
            if (plan)
                for (std::int64_t c : distinct) pinned.insert({block, c});
            for (const auto& [k, slot] : held) QCOMPARE(p.slot_of(k.first, k.second), slot);
            std::set<int> used;
            for (int b = 0; b < 3; ++b) {
                const auto table = p.page_table(b, 12);
                for (std::int64_t c = 0; c < 12; ++c) {
                    QCOMPARE(table[std::size_t(c)], p.slot_of(b, c));
                    if (table[std::size_t(c)] >= 0)
                        QVERIFY(used.insert(table[std::size_t(c)]).second);
                }
            }
            QCOMPARE(int(used.size()) + p.free_slots(), p.slot_count());
            QCOMPARE(used.size(), p.lru_order().size());
        }
    }

    void split() {
        using Needs = std::vector<std::vector<std::int64_t>>;
        const Needs needs = {{0}, {0, 1}, {0, 2}, {1, 3}, {3, 3, 3}, {4, 0}, {4}};
        auto r = lectern::split_queries(needs, 3, 1024);
        QVERIFY(r);
        // {0} {0,1} {0,2} | {1,3} {3} | {4,0} {4}: each union at most 3, the next query would
        // overflow.
        QCOMPARE(int(r->size()), 3);
        QCOMPARE((*r)[0].begin, 0);
        QCOMPARE((*r)[0].end, 3);
        QCOMPARE((*r)[1].end, 5);
        QCOMPARE((*r)[2].end, 7);
        auto all = lectern::split_queries(needs, 5, 1024);
        QVERIFY(all && all->size() == 1 && (*all)[0].end == 7);
        auto one = lectern::split_queries(needs, 2, 1024);  // every query fits alone
        QVERIFY(one);
        for (const auto& range : *one) {
            std::set<std::int64_t> u;
            for (int t = range.begin; t < range.end; ++t)
                u.insert(needs[t].begin(), needs[t].end());
            QVERIFY(u.size() <= 2);
        }
        QCOMPARE(one->back().end, 7);
        QVERIFY(lectern::split_queries({}, 1, 1)->empty());
        // One query needing 3 distinct chunks cannot run on 2 slots: the message says so.
        auto bad = lectern::split_queries({{0}, {5, 6, 7, 6}}, 2, std::size_t(1) << 20);
        QVERIFY(!bad);
        const QString m = QString::fromStdString(bad.error().message);
        QVERIFY2(m.contains(QStringLiteral("needs 3 KV chunks")), qPrintable(m));
        // The largest need is named, not the first query over the pool.
        auto most = lectern::split_queries({{0, 1, 2}, {5, 6, 7, 8}}, 2, 1);
        QVERIFY(!most);
        QVERIFY(QString::fromStdString(most.error().message)
                    .contains(QStringLiteral("at least 4 chunk")));
        QVERIFY2(m.contains(QStringLiteral("at least 3 chunk slots (3.0 MiB)")), qPrintable(m));
    }

    // The GPU's scheme on the CPU: two attention blocks sharing one pool, calls of mixed sizes, the
    // new rows scattered into resident chunks, a chunk completed across calls made resident whole
    // for its mean, query ranges split to fit, chunks loaded per plan;
    // attention read through the page tables equals the dense reference bit for bit (same rows,
    // same order, float64) for pools from the minimum to everything.
    void paged_attention_matches_dense() {
        const int H = 2, B = 4, K = 3, rows = 64;
        std::mt19937 rng(2024);
        std::vector<BlockData> blocks;
        for (int j = 0; j < 2; ++j) blocks.push_back(make_block(rng, rows, H, B, K));
        int minimum = 0;
        std::set<std::pair<int, int>> used;
        for (int j = 0; j < 2; ++j)
            for (int s = 0; s < rows; ++s) {
                std::set<int> u{s / B};
                for (const auto& hs : blocks[std::size_t(j)].sel[std::size_t(s)])
                    for (int c : hs) u.insert(c);
                minimum = std::max(minimum, int(u.size()));
                for (int c : u) used.insert({j, c});
            }
        QVERIFY(minimum >= 3);  // selections differ across heads somewhere
        const std::vector<int> calls = {5, 1, 13, 7, 1, 1, 20, 16};
        const int everything = 2 * rows / B;
        for (int pool : {everything, everything / 2, minimum + 2, minimum + 1, minimum}) {
            const int loads = run_paged(blocks, calls, H, B, pool);
            QVERIFY2(loads >= 0, qPrintable(QStringLiteral("pool of %1 slots").arg(pool)));
            if (pool == everything)
                QCOMPARE(loads, int(used.size()));  // each chunk once
            else
                QVERIFY(loads > int(used.size()));  // evictions happened
        }
        // One slot fewer than one query needs: the split says how many are needed.
        KvPagePlanner p(1);
        std::vector<std::vector<std::int64_t>> needs;
        for (int s = 0; s < rows; ++s) {
            needs.push_back({s / B});
            for (const auto& hs : blocks[0].sel[std::size_t(s)])
                for (int c : hs) needs.back().push_back(c);
        }
        int need0 = 0;
        for (const auto& n : needs)
            need0 = std::max(need0, int(std::set<std::int64_t>(n.begin(), n.end()).size()));
        auto bad = lectern::split_queries(needs, need0 - 1, 4096);
        QVERIFY(!bad);
        QVERIFY(QString::fromStdString(bad.error().message)
                    .contains(QStringLiteral("at least %1 chunk slots").arg(need0)));
    }
};

QTEST_GUILESS_MAIN(TestKvPagePlanner)
#include "tst_kv_page_planner.moc"
