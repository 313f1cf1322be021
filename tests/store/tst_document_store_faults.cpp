// DocumentStore against bad input and failing disks: a store from another model, a missing,
// truncated or corrupted chunk file, a corrupted checkpoint or manifest, the disk budget, a full
// disk (RLIMIT_FSIZE) and a read-only folder. Each must fail with an error naming the file (or
// the cause) and lose nothing that was saved: the store still opens and resumes.
#include <QTest>

#include <csignal>
#include <filesystem>

#ifndef _WIN32
#include <sys/resource.h>  // the full disk is simulated with RLIMIT_FSIZE (POSIX only)
#include <unistd.h>
#endif

#include "tst_document_store_util.h"

using lectern::DocumentStore;
using lectern::token_id;
using namespace store_test;

class TestDocumentStoreFaults : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void otherModel();
    void missingChunkFile();
    void truncatedChunkFile();
    void corruptedChunkFile();
    void corruptedCheckpoint();
    void damagedManifest();
    void diskBudget();
    void fullDisk();
    void readOnlyFolder();

private:
    // Logs the message too: the test output shows what a user would read.
    bool has(const lectern::Error& e, const std::string& what) const {
        qInfo("%s", e.message.c_str());
        return e.message.find(what) != std::string::npos;
    }

    std::shared_ptr<const lectern::Model> m_model;
    std::vector<token_id> m_doc, m_question;
    std::unique_ptr<QTemporaryDir> m_tmp;
    std::string m_dir;
};

void TestDocumentStoreFaults::initTestCase() {
    m_model = infer_test::load(infer_test::model_path(tiny_model));
    QVERIFY(m_model);
    m_doc = infer_test::random_tokens(300, m_model->config().vocab, 7u);
    m_question = infer_test::random_tokens(question_length, m_model->config().vocab, 8u);
}

// Every test starts from a complete, committed store of m_doc.
void TestDocumentStoreFaults::init() {
    m_tmp = std::make_unique<QTemporaryDir>();
    m_dir = str(m_tmp->path()) + "/doc";
    auto store = DocumentStore::create(m_dir, m_model, tokenizer(), options());
    QVERIFY(store);
    QVERIFY(store->begin_source(source("d.txt", std::int64_t(m_doc.size()))));
    QVERIFY(store->ingest(m_doc, {}));
}

void TestDocumentStoreFaults::otherModel() {
    for (const char* other : {"rwkvx-tiny-bf16.pth", "rwkvx-one-attn-f32.pth"}) {
        auto m = infer_test::load(infer_test::model_path(other));
        QVERIFY(m);
        auto store = DocumentStore::open(m_dir, m);
        QVERIFY(!store);
        QVERIFY2(has(store.error(), "another model") && has(store.error(), tiny_model) &&
                     has(store.error(), "rebuild"),
                 store.error().message.c_str());
        auto v = DocumentStore::verify(m_dir, m);
        QVERIFY(!v && has(v.error(), "another model"));
    }
}

void TestDocumentStoreFaults::missingChunkFile() {
    const std::string chunk = m_dir + "/kv/b0/c3.kv";
    QVERIFY(std::filesystem::remove(chunk));
    auto store = DocumentStore::open(m_dir, m_model);
    QVERIFY(!store);
    QVERIFY2(has(store.error(), chunk) && has(store.error(), "missing"),
             store.error().message.c_str());
}

void TestDocumentStoreFaults::truncatedChunkFile() {
    const std::string chunk = m_dir + "/kv/b1/c5.kv";
    std::filesystem::resize_file(chunk, std::filesystem::file_size(chunk) - 100);
    auto store = DocumentStore::open(m_dir, m_model);
    QVERIFY(!store);
    QVERIFY2(has(store.error(), chunk), store.error().message.c_str());
    auto v = DocumentStore::verify(m_dir);
    QVERIFY(!v && has(v.error(), chunk));
}

void TestDocumentStoreFaults::corruptedChunkFile() {
    // One corrupted chunk: open() (sizes only) succeeds, verify() finds it.
    const std::string one = m_dir + "/kv/b0/c4.kv";
    QVERIFY(flip_byte(QString::fromStdString(one), -1));
    QVERIFY(DocumentStore::open(m_dir, m_model));
    auto v = DocumentStore::verify(m_dir, m_model);
    QVERIFY(!v);
    QVERIFY2(has(v.error(), one), v.error().message.c_str());
    // Every chunk of block 0 corrupted: whatever the question selects, forward reports the file.
    const auto count = DocumentStore::summary(m_dir)->tokens / 8;
    for (std::int64_t c = 0; c < count; ++c)
        if (c != 4)
            QVERIFY(flip_byte(QString::fromStdString(m_dir + "/kv/b0/c" + std::to_string(c) + ".kv"),
                              -1));
    auto store = DocumentStore::open(m_dir, m_model);
    QVERIFY(store);
    std::string err;
    QVERIFY(ask(*store, m_question, -1, &err).empty());
    qInfo("%s", err.c_str());
    QVERIFY2(err.find(m_dir + "/kv/b0/c") != std::string::npos, err.c_str());
}

void TestDocumentStoreFaults::corruptedCheckpoint() {
    const std::string ck = m_dir + "/checkpoints/ck300.state";
    QVERIFY(flip_byte(QString::fromStdString(ck), -1));
    auto store = DocumentStore::open(m_dir, m_model);
    QVERIFY(store);
    auto st = store->load_state();
    QVERIFY(!st);
    QVERIFY2(has(st.error(), ck) && has(st.error(), "checksum"), st.error().message.c_str());
    QVERIFY(store->load_state(256));  // the other checkpoints are intact
    auto v = DocumentStore::verify(m_dir, m_model);
    QVERIFY(!v && has(v.error(), ck));
}

void TestDocumentStoreFaults::damagedManifest() {
    const std::string path = m_dir + "/manifest.json";
    std::filesystem::resize_file(path, 100);
    auto store = DocumentStore::open(m_dir, m_model);
    QVERIFY(!store);
    QVERIFY2(has(store.error(), path), store.error().message.c_str());
    QVERIFY(!DocumentStore::summary(m_dir));
    auto none = DocumentStore::open(str(m_tmp->path()), m_model);
    QVERIFY(!none && has(none.error(), "not a Lectern document store"));
}

void TestDocumentStoreFaults::diskBudget() {
    const auto full = *DocumentStore::summary(m_dir);
    const std::string dir = str(m_tmp->path()) + "/budget";
    auto opts = options();
    opts.disk_budget_bytes = full.disk_bytes / 2;
    {
        auto store = DocumentStore::create(dir, m_model, tokenizer(), opts);
        QVERIFY(store);
        QVERIFY(store->begin_source(source("d.txt", std::int64_t(m_doc.size()))));
        auto out = store->ingest(m_doc, {});
        QVERIFY(!out);
        QVERIFY2(has(out.error(), "disk budget") && has(out.error(), "bytes per token") &&
                     has(out.error(), "raise the budget"),
                 out.error().message.c_str());
        QVERIFY(store->tokens() > 0 && store->tokens() < std::int64_t(m_doc.size()));
        QVERIFY(store->summary().disk_bytes <= opts.disk_budget_bytes);
    }
    auto store = DocumentStore::open(dir, m_model);
    QVERIFY(store);
    const std::int64_t saved = store->tokens();
    QVERIFY(DocumentStore::verify(dir, m_model));
    const std::vector<token_id> prefix(m_doc.begin(), m_doc.begin() + saved);
    QVERIFY(infer_test::scaled_diff(ask(*store, m_question),
                                    reference(m_model, opts.attention, prefix, m_question)) <= 1e-6);
    // Raising the budget lets the same store finish.
    QVERIFY(store->set_disk_budget(0));
    QCOMPARE(DocumentStore::summary(dir)->options.disk_budget_bytes, std::uint64_t(0));
    QVERIFY(store->ingest(std::span<const token_id>(m_doc.data() + saved, m_doc.size() - saved), {}));
    QVERIFY(infer_test::scaled_diff(ask(*store, m_question),
                                    reference(m_model, opts.attention, m_doc, m_question)) <= 1e-6);
}

void TestDocumentStoreFaults::fullDisk() {
#ifdef _WIN32
    QSKIP("a full disk is simulated with RLIMIT_FSIZE, which Windows lacks");
#else
    const std::string dir = str(m_tmp->path()) + "/full";
    {
        auto store = DocumentStore::create(dir, m_model, tokenizer(), options());
        QVERIFY(store);
        QVERIFY(store->begin_source(source("d.txt", std::int64_t(m_doc.size()))));
        QVERIFY(store->ingest(std::span<const token_id>(m_doc.data(), 128), {}));
        // Files may grow to 16 KB: chunk files fit, a checkpoint (~70 KB) does not.
        rlimit old{};
        QVERIFY(getrlimit(RLIMIT_FSIZE, &old) == 0);
        const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
        rlimit small = old;
        small.rlim_cur = 16 * 1024;
        QVERIFY(setrlimit(RLIMIT_FSIZE, &small) == 0);
        auto out = store->ingest(std::span<const token_id>(m_doc.data() + 128, 172), {});
        setrlimit(RLIMIT_FSIZE, &old);
        std::signal(SIGXFSZ, old_handler);
        QVERIFY(!out);
        QVERIFY2(has(out.error(), "file too large") && has(out.error(), dir),
                 out.error().message.c_str());
        QCOMPARE(store->tokens(), std::int64_t(128));
        // The same object resumes once the disk has room again.
        QVERIFY(store->ingest(std::span<const token_id>(m_doc.data() + 128, 72), {}));
    }
    auto store = DocumentStore::open(dir, m_model);
    QVERIFY(store);
    QCOMPARE(store->tokens(), std::int64_t(200));
    QVERIFY(store->ingest(std::span<const token_id>(m_doc.data() + 200, 100), {}));
    QVERIFY(infer_test::scaled_diff(ask(*store, m_question),
                                    reference(m_model, options().attention, m_doc, m_question)) <=
            1e-6);
#endif
}

void TestDocumentStoreFaults::readOnlyFolder() {
#ifdef _WIN32
    QSKIP("folder permissions do not stop file creation on Windows");
#else
    if (geteuid() == 0) QSKIP("running as root: permissions are not enforced");
#endif
    const std::string dir = str(m_tmp->path()) + "/ro";
    {
        auto store = DocumentStore::create(dir, m_model, tokenizer(), options());
        QVERIFY(store);
        QVERIFY(store->begin_source(source("d.txt", std::int64_t(m_doc.size()))));
        QVERIFY(store->ingest(std::span<const token_id>(m_doc.data(), 100), {}));
    }
    namespace fs = std::filesystem;
    std::vector<fs::path> dirs = {dir};
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.is_directory()) dirs.push_back(e.path());
    for (const auto& d : dirs)
        fs::permissions(d, fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                        fs::perm_options::remove);
    auto store = DocumentStore::open(dir, m_model);
    QVERIFY(store);  // asking works on a read-only store
    QVERIFY(!ask(*store, m_question).empty());
    auto out = store->ingest(std::span<const token_id>(m_doc.data() + 100, 200), {});
    for (const auto& d : dirs) fs::permissions(d, fs::perms::owner_write, fs::perm_options::add);
    QVERIFY(!out);
    QVERIFY2(has(out.error(), "permission denied") && has(out.error(), dir),
             out.error().message.c_str());
    QCOMPARE(DocumentStore::summary(dir)->tokens, std::int64_t(100));
}

QTEST_GUILESS_MAIN(TestDocumentStoreFaults)
#include "tst_document_store_faults.moc"
