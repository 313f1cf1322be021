// DocumentStore, the working path on the tiny RWKV-X model: a store reopened by a new object
// answers exactly like one pass over document + question (f32, f16 and int8 KV), also "as of" a
// checkpoint; asking never changes the store; a cancelled ingest resumes (also after leftovers of
// a killed process are cleaned) to the same result; sources can be appended; marks, transient
// checkpoints, pause and the summary behave as documented.
#include <QTest>

#include <atomic>
#include <thread>

#include "tst_document_store_util.h"

using lectern::DocumentStore;
using lectern::IngestControl;
using lectern::IngestOutcome;
using lectern::KvDType;
using lectern::token_id;
using namespace store_test;

Q_DECLARE_METATYPE(lectern::KvDType)

class TestDocumentStore : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void reopenedStoreAnswersExactly_data();
    void reopenedStoreAnswersExactly();
    void askingChangesNothing();
    void cancelledIngestResumes();
    void leftoversAreCleanedAndIngestResumes();
    void appendSourceLater();
    void marksAndTransientCheckpoints();
    void pauseWaits();
    void summaryAndDiskUse();
    void attendedRanges();
    void badCalls();
    void sourceAttachments();

private:
    std::shared_ptr<const lectern::Model> m_model;
    std::vector<token_id> m_doc, m_question;
};

void TestDocumentStore::initTestCase() {
    m_model = infer_test::load(infer_test::model_path(tiny_model));
    QVERIFY(m_model);
    m_doc = infer_test::random_tokens(300, m_model->config().vocab, 7u);
    m_question = infer_test::random_tokens(question_length, m_model->config().vocab, 8u);
}

void TestDocumentStore::reopenedStoreAnswersExactly_data() {
    QTest::addColumn<KvDType>("dtype");
    QTest::addColumn<int>("chunk");
    QTest::newRow("f16 chunk 8") << KvDType::f16 << 8;
    QTest::newRow("int8 chunk 8") << KvDType::int8 << 8;
    QTest::newRow("f32 chunk 16") << KvDType::f32 << 16;
}

void TestDocumentStore::reopenedStoreAnswersExactly() {
    QFETCH(KvDType, dtype);
    QFETCH(int, chunk);
    QTemporaryDir tmp;
    const std::string dir = str(tmp.path()) + "/doc";
    const auto opts = options(dtype, chunk);
    {
        auto store = DocumentStore::create(dir, m_model, tokenizer(), opts);
        QVERIFY2(store, store ? "" : store.error().message.c_str());
        QVERIFY(store->begin_source(source("d.txt", std::int64_t(m_doc.size()))));
        auto out = store->ingest(m_doc, offsets_for(0, m_doc.size()));
        QVERIFY2(out, out ? "" : out.error().message.c_str());
        QCOMPARE(*out, IngestOutcome::complete);
        QCOMPARE(store->tokens(), std::int64_t(m_doc.size()));
    }
    auto store = DocumentStore::open(dir, m_model);
    QVERIFY2(store, store ? "" : store.error().message.c_str());
    QVERIFY2(DocumentStore::verify(dir, m_model), "verify failed on a good store");
    std::string err;
    const auto got = ask(*store, m_question, -1, &err);
    QVERIFY2(!got.empty(), err.c_str());
    const auto want = reference(m_model, opts.attention, m_doc, m_question);
    QVERIFY(!want.empty());
    QVERIFY2(infer_test::scaled_diff(got, want) <= 1e-6,
             std::to_string(infer_test::scaled_diff(got, want)).c_str());
    // As of the checkpoint at 128 == one pass over the first 128 tokens + the question.
    const auto at = ask(*store, m_question, 128, &err);
    QVERIFY2(!at.empty(), err.c_str());
    const std::vector<token_id> prefix(m_doc.begin(), m_doc.begin() + 128);
    QVERIFY(infer_test::scaled_diff(at, reference(m_model, opts.attention, prefix, m_question)) <=
            1e-6);
    QVERIFY(!store->load_state(100));  // not a checkpoint
}

void TestDocumentStore::askingChangesNothing() {
    QTemporaryDir tmp;
    const std::string dir = str(tmp.path()) + "/doc";
    auto store = DocumentStore::create(dir, m_model, tokenizer(), options());
    QVERIFY(store);
    QVERIFY(store->begin_source(source("d.txt", std::int64_t(m_doc.size()))));
    QVERIFY(store->ingest(m_doc, {}));
    const auto before = snapshot(QString::fromStdString(dir));
    const auto first = ask(*store, m_question);
    const auto second = ask(*store, m_question);
    QVERIFY(!first.empty());
    QCOMPARE(first, second);  // bit-identical
    // A long question completes new chunks: they stay in the State's memory, not in the store.
    const auto long_q = infer_test::random_tokens(50, m_model->config().vocab, 9u);
    QVERIFY(!ask(*store, long_q).empty());
    auto reopened = DocumentStore::open(dir, m_model);
    QVERIFY(reopened);
    QCOMPARE(ask(*reopened, m_question), first);
    QVERIFY(snapshot(QString::fromStdString(dir)) == before);
}

void TestDocumentStore::cancelledIngestResumes() {
    QTemporaryDir tmp;
    const std::string dir = str(tmp.path()) + "/doc";
    const auto opts = options();
    std::atomic<bool> cancel{false};
    {
        auto store = DocumentStore::create(dir, m_model, tokenizer(), opts);
        QVERIFY(store);
        QVERIFY(store->begin_source(source("d.txt", std::int64_t(m_doc.size()))));
        IngestControl control;
        control.cancel = &cancel;
        control.on_progress = [&](const lectern::IngestProgress& p) {
            QVERIFY(p.tokens_total == std::int64_t(m_doc.size()));
            if (p.tokens_done >= 100) cancel = true;
        };
        auto out = store->ingest(m_doc, offsets_for(0, m_doc.size()), control);
        QVERIFY(out);
        QCOMPARE(*out, IngestOutcome::cancelled);
        QCOMPARE(store->tokens(), std::int64_t(128));
        QVERIFY(!store->summary().complete);
    }
    auto store = DocumentStore::open(dir, m_model);
    QVERIFY(store);
    QCOMPARE(store->tokens(), std::int64_t(128));
    QVERIFY(store->begin_source(source("d.txt", std::int64_t(m_doc.size()))));
    // Another source cannot start while this one is unfinished.
    QVERIFY(!store->begin_source(source("other.txt", 10, "bb22")));
    const std::span<const token_id> rest(m_doc.data() + 128, m_doc.size() - 128);
    auto out = store->ingest(rest, offsets_for(128, rest.size()));
    QVERIFY2(out, out ? "" : out.error().message.c_str());
    QCOMPARE(*out, IngestOutcome::complete);
    QVERIFY(store->summary().complete);
    QVERIFY(infer_test::scaled_diff(ask(*store, m_question),
                                    reference(m_model, opts.attention, m_doc, m_question)) <= 1e-6);
    auto offs = store->read_offsets(0, store->tokens());
    QVERIFY(offs);
    QVERIFY(*offs == offsets_for(0, m_doc.size()));
}

void TestDocumentStore::leftoversAreCleanedAndIngestResumes() {
    QTemporaryDir tmp;
    const std::string dir = str(tmp.path()) + "/doc";
    const QString qdir = QString::fromStdString(dir);
    const auto opts = options();
    {
        auto store = DocumentStore::create(dir, m_model, tokenizer(), opts);
        QVERIFY(store);
        QVERIFY(store->begin_source(source("d.txt", std::int64_t(m_doc.size()))));
        QVERIFY(store->ingest(std::span<const token_id>(m_doc.data(), 64), {}));
    }
    const auto committed = snapshot(qdir);
    // What a process killed mid-ingest leaves: temporaries, chunk files past the committed
    // count, an unlisted segment and checkpoint, a half-written manifest.
    const QStringList junk = {"manifest.json.tmp-99999-0", "kv/b0/c9.kv", "kv/b1/c8.kv",
                              "kv/b0/c12.kv.tmp-99999-3", "tokens/t64-128.tok",
                              "checkpoints/ck128.state", "checkpoints/ck128.state.tmp-1-2"};
    for (const QString& j : junk) {
        QFile f(qdir + "/" + j);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("partial");
    }
    auto store = DocumentStore::open(dir, m_model);
    QVERIFY2(store, store ? "" : store.error().message.c_str());
    QVERIFY(snapshot(qdir) == committed);
    QCOMPARE(store->tokens(), std::int64_t(64));
    const std::span<const token_id> rest(m_doc.data() + 64, m_doc.size() - 64);
    QVERIFY(store->ingest(rest, {}));
    QVERIFY(infer_test::scaled_diff(ask(*store, m_question),
                                    reference(m_model, opts.attention, m_doc, m_question)) <= 1e-6);
}

void TestDocumentStore::appendSourceLater() {
    QTemporaryDir tmp;
    const std::string dir = str(tmp.path()) + "/doc";
    const auto more = infer_test::random_tokens(150, m_model->config().vocab, 11u);
    {
        // 203 tokens: the reopened store resumes from a checkpoint with a partial chunk (3 rows).
        auto store = DocumentStore::create(dir, m_model, tokenizer(), options());
        QVERIFY(store);
        QVERIFY(store->begin_source(source("a.txt", 203)));
        QVERIFY(store->ingest(std::span<const token_id>(m_doc.data(), 203), offsets_for(0, 203)));
    }
    auto store = DocumentStore::open(dir, m_model);
    QVERIFY(store);
    QVERIFY(store->begin_source(source("b.txt", 150, "bb22")));
    QVERIFY(store->ingest(more, offsets_for(203, 150)));
    std::vector<token_id> all(m_doc.begin(), m_doc.begin() + 203);
    all.insert(all.end(), more.begin(), more.end());
    auto toks = store->read_tokens(0, 353);
    QVERIFY(toks);
    QVERIFY(*toks == all);
    auto part = store->read_tokens(190, 210);
    QVERIFY(part && *part == std::vector<token_id>(all.begin() + 190, all.begin() + 210));
    auto offs = store->read_offsets(0, 353);
    QVERIFY(offs && *offs == offsets_for(0, 353));
    QVERIFY(!store->read_tokens(0, 354));
    const auto s = store->summary();
    QCOMPARE(int(s.sources.size()), 2);
    QCOMPARE(s.sources[1].first_token, std::int64_t(203));
    QCOMPARE(s.tokens_expected, std::int64_t(353));
    QVERIFY(s.complete);
    QVERIFY(infer_test::scaled_diff(ask(*store, m_question),
                                    reference(m_model, options().attention, all, m_question)) <=
            1e-6);
}

void TestDocumentStore::marksAndTransientCheckpoints() {
    QTemporaryDir tmp;
    const std::string dir = str(tmp.path()) + "/doc";
    auto store = DocumentStore::create(dir, m_model, tokenizer(), options());
    QVERIFY(store);
    QVERIFY(store->begin_source(source("d.txt", std::int64_t(m_doc.size()))));
    IngestControl control;
    control.marks.push_back({100, "chapter 2", 0});
    // Two calls: the end of the first (70) is a resume-only checkpoint, replaced by the next one.
    QVERIFY(store->ingest(std::span<const token_id>(m_doc.data(), 70), {}, control));
    QCOMPARE(store->summary().checkpoints.back().position, std::int64_t(70));
    QVERIFY(store->ingest(std::span<const token_id>(m_doc.data() + 70, m_doc.size() - 70), {},
                          control));
    std::vector<std::int64_t> positions;
    for (const auto& c : store->summary().checkpoints) {
        positions.push_back(c.position);
        if (c.position == 100) QCOMPARE(c.label, std::string("chapter 2"));
        QVERIFY(c.bytes > 0);
    }
    QCOMPARE(positions, (std::vector<std::int64_t>{64, 100, 128, 192, 256, 300}));
    QVERIFY(!QFile::exists(QString::fromStdString(dir) + "/checkpoints/ck70.state"));
    const std::vector<token_id> prefix(m_doc.begin(), m_doc.begin() + 100);
    QVERIFY(infer_test::scaled_diff(ask(*store, m_question, 100),
                                    reference(m_model, options().attention, prefix, m_question)) <=
            1e-6);
}

void TestDocumentStore::pauseWaits() {
    QTemporaryDir tmp;
    const std::string dir = str(tmp.path()) + "/doc";
    auto store = DocumentStore::create(dir, m_model, tokenizer(), options());
    QVERIFY(store);
    QVERIFY(store->begin_source(source("d.txt", std::int64_t(m_doc.size()))));
    std::atomic<bool> pause{true};
    std::atomic<std::int64_t> done{0};
    IngestControl control;
    control.pause = &pause;
    control.on_progress = [&](const lectern::IngestProgress& p) { done = p.tokens_done; };
    bool ok = false;
    std::thread t([&] { ok = bool(store->ingest(m_doc, {}, control)); });
    QTest::qWait(150);
    QCOMPARE(done.load(), std::int64_t(0));
    pause = false;
    t.join();
    QVERIFY(ok);
    QCOMPARE(done.load(), std::int64_t(m_doc.size()));
}

void TestDocumentStore::summaryAndDiskUse() {
    QTemporaryDir tmp;
    const std::string dir = str(tmp.path()) + "/doc";
    {
        auto store = DocumentStore::create(dir, m_model, tokenizer(), options());
        QVERIFY(store);
        QVERIFY(store->begin_source(source("d.txt", std::int64_t(m_doc.size()))));
        QVERIFY(store->ingest(m_doc, {}));
    }
    auto s = DocumentStore::summary(dir);
    QVERIFY(s);
    QCOMPARE(s->format_version, 1);
    QCOMPARE(s->tokens, std::int64_t(m_doc.size()));
    QVERIFY(s->complete);
    QCOMPARE(s->tokenizer.kind, std::string("world"));
    QCOMPARE(s->options.attention.chunk_size, 8);
    QCOMPARE(s->options.checkpoint_every, std::int64_t(64));
    QCOMPARE(s->model_sha256, DocumentStore::model_fingerprint(*m_model));
    QVERIFY(s->model_path.find(tiny_model) != std::string::npos);
    QCOMPARE(int(s->checkpoints.size()), 5);  // 64, 128, 192, 256 and the end
    QCOMPARE(s->disk_bytes, folder_bytes(QString::fromStdString(dir)));
    QVERIFY(s->bytes_per_token > 0.0);
    // Tiny model: one head, 2 attention blocks, f16 KV -> ~512 bytes per token of chunk files,
    // plus ~70 KB of recurrent state per checkpoint.
    QVERIFY2(s->bytes_per_token < 3000.0, std::to_string(s->bytes_per_token).c_str());
    QVERIFY(!DocumentStore::summary(str(tmp.path()) + "/nothing"));
}

void TestDocumentStore::attendedRanges() {
    QTemporaryDir tmp;
    const std::string dir = str(tmp.path()) + "/doc";
    auto store = DocumentStore::create(dir, m_model, tokenizer(), options());
    QVERIFY(store);
    QVERIFY(store->begin_source(source("d.txt", std::int64_t(m_doc.size()))));
    QVERIFY(store->ingest(m_doc, {}));
    auto st = store->load_state();
    QVERIFY(st);
    lectern::ForwardTrace trace;
    std::vector<float> logits;
    auto ok = lectern::forward(*st, m_question, false, logits, &trace);
    QVERIFY2(ok, ok ? "" : ok.error().message.c_str());
    QCOMPARE(trace.rows, question_length);
    const auto ranges = store->attended_ranges(trace, 0, trace.rows);
    QVERIFY(!ranges.empty());
    double total = 0.0;
    for (std::size_t i = 0; i < ranges.size(); ++i) {
        const auto& r = ranges[i];
        QVERIFY(r.begin >= 0 && r.begin < r.end && r.end <= store->tokens());
        QCOMPARE(r.begin % 8, std::int64_t(0));
        QVERIFY(r.weight >= 0.0 && r.weight <= 1.0);
        if (i > 0) QVERIFY(ranges[i - 1].weight >= r.weight);
        total += r.weight;
    }
    QVERIFY(total > 0.0 && total <= 1.0 + 1e-9);
    // The last token only: still valid, and no rows means no ranges.
    QVERIFY(!store->attended_ranges(trace, trace.rows - 1, 1).empty());
    QVERIFY(store->attended_ranges(trace, 0, 0).empty());
}

void TestDocumentStore::badCalls() {
    QTemporaryDir tmp;
    const std::string dir = str(tmp.path()) + "/doc";
    auto compat = options();
    compat.attention.mode = lectern::AttentionMode::compat;
    QVERIFY(!DocumentStore::create(dir, m_model, tokenizer(), compat));
    auto capped = options();
    capped.attention.kv_max = 64;
    capped.attention.kv_min = 32;
    QVERIFY(!DocumentStore::create(dir, m_model, tokenizer(), capped));
    auto store = DocumentStore::create(dir, m_model, tokenizer(), options());
    QVERIFY(store);
    QVERIFY(!store->ingest(m_doc, {}));  // no source declared
    QVERIFY(store->begin_source(source("d.txt", 10)));
    QVERIFY(!store->ingest(m_doc, {}));  // more tokens than declared
    const std::vector<token_id> bad = {1, 2, 100000};
    auto r = store->ingest(bad, {});
    QVERIFY(!r && r.error().message.find("vocabulary") != std::string::npos);
    QCOMPARE(store->tokens(), std::int64_t(0));
    auto again = DocumentStore::create(dir, m_model, tokenizer(), options());
    QVERIFY(!again && again.error().message.find(dir) != std::string::npos);
}

void TestDocumentStore::sourceAttachments() {
    QTemporaryDir tmp;
    const std::string dir = str(tmp.path()) + "/doc";
    const std::string a = "{\"pages\": [[0, 10, \"iv\"]]}";
    const auto bytes_of = [](const std::string& text) {
        return std::vector<std::byte>(reinterpret_cast<const std::byte*>(text.data()),
                                      reinterpret_cast<const std::byte*>(text.data()) + text.size());
    };
    const auto q = [](const std::string& p) { return QString::fromStdString(p); };
    const auto more = infer_test::random_tokens(40, m_model->config().vocab, 12u);
    {
        auto store = DocumentStore::create(dir, m_model, tokenizer(), options());
        QVERIFY(store);
        QVERIFY(store->begin_source(source("a.pdf", 100), bytes_of(a)));
        QVERIFY(store->ingest(std::span<const token_id>(m_doc.data(), 60), offsets_for(0, 60)));
        // Resuming the same source keeps the attachment it was begun with.
        QVERIFY(store->begin_source(source("a.pdf", 100), bytes_of("other")));
        auto back = store->read_attachment(0);
        QVERIFY(back && *back == bytes_of(a));
        QCOMPARE(store->summary().sources[0].attachment_bytes, std::uint64_t(a.size()));
    }
    // A leftover of a begin_source that did not commit is removed by open().
    QVERIFY(QFile(q(dir + "/sources/s1.att")).open(QIODevice::WriteOnly));
    auto store = DocumentStore::open(dir, m_model);
    QVERIFY(store);
    QVERIFY(!QFile::exists(q(dir + "/sources/s1.att")));
    QVERIFY(store->ingest(std::span<const token_id>(m_doc.data() + 60, 40), offsets_for(60, 40)));
    QVERIFY(store->begin_source(source("b.txt", 40, "bb22")));  // no attachment
    QVERIFY(store->ingest(more, offsets_for(100, 40)));
    auto none = store->read_attachment(1);
    QVERIFY(none && none->empty());
    QVERIFY(!store->read_attachment(2));
    QVERIFY(DocumentStore::verify(dir, m_model));
    auto s = DocumentStore::summary(dir);
    QVERIFY(s && s->sources[0].attachment_bytes == a.size() && s->sources[1].attachment_bytes == 0);
    QVERIFY(s->disk_bytes >= a.size());

    // Damaged: verify and read_attachment name the file; a truncated one fails open's size check.
    const QString path = q(dir + "/sources/s0.att");
    {
        QFile f(path);
        QVERIFY(f.open(QIODevice::ReadWrite));
        QVERIFY(f.seek(3) && f.write("X", 1) == 1);
    }
    auto bad = DocumentStore::verify(dir);
    QVERIFY(!bad && bad.error().message.find("sources/s0.att") != std::string::npos);
    auto read = store->read_attachment(0);
    QVERIFY(!read && read.error().message.find("sources/s0.att") != std::string::npos);
    QVERIFY(QFile::resize(path, qint64(a.size()) - 1));
    auto reopened = DocumentStore::open(dir, m_model);
    QVERIFY(!reopened && reopened.error().message.find("sources/s0.att") != std::string::npos);
}

QTEST_GUILESS_MAIN(TestDocumentStore)
#include "tst_document_store.moc"
