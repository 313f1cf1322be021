// EngineWorker's reading job: extract a document, tokenize it and read it into its store (a new
// one, or the one an interrupted reading left), resuming where that reading stopped. Runs on the
// worker thread; progress and the result leave through queued signals.
#include "engineworker.h"

#include <QCryptographicHash>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>

#include <span>

#include "enginepath.h"
#include "extractor.h"
#include "locationmap.h"

namespace {

QString fromStd(const lectern::Error& e) {
    return QString::fromStdString(e.message);
}

// Byte offset of each token's first byte when the tokens' bytes spell the text (World), or the
// text after one dummy-prefix space (SentencePiece); empty when they do not line up (as the CLI).
std::vector<std::int64_t> tokenOffsets(const lectern::Tokenizer& tok,
                                       const std::vector<lectern::token_id>& ids,
                                       const QByteArray& text) {
    std::vector<std::int64_t> starts;
    starts.reserve(ids.size());
    std::string joined;
    joined.reserve(std::size_t(text.size()) + 1);
    for (const lectern::token_id id : ids) {
        starts.push_back(std::int64_t(joined.size()));
        auto bytes = tok.token_bytes(id);
        if (!bytes) return {};
        joined += *bytes;
    }
    const std::string_view t(text.constData(), std::size_t(text.size()));
    std::int64_t shift = 0;
    if (joined.size() == t.size() + 1 && !joined.empty() && joined[0] == ' ' &&
        std::string_view(joined).substr(1) == t)
        shift = 1;
    else if (joined != t)
        return {};
    for (std::int64_t& s : starts) s = std::max<std::int64_t>(0, s - shift);
    return starts;
}

bool isEmptyOrMissing(const QString& dir) {
    const QFileInfo info(dir);
    return !info.exists() ||
           (info.isDir() &&
            QDir(dir).isEmpty(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden));
}

}  // namespace

void EngineWorker::ingest(quint64 id, const IngestRequest& request, const JobFlagsPtr& flags) {
    // After a lost GPU the reading resumes on the CPU from what the store kept (its last
    // checkpoint); there no GPU can be lost again. (A reading stopped meanwhile ends at once
    // there; a paused one waits there as it would have here.)
    if (ingestOnce(id, request, flags) == Attempt::gpuLost) ingestOnce(id, request, flags);
}

EngineWorker::Attempt EngineWorker::ingestOnce(quint64 id, const IngestRequest& request,
                                               const JobFlagsPtr& flags) {
    const auto fail = [&](const QString& message) { return attemptFailed(id, message); };
    if (flags && flags->cancel.load()) {
        IngestResult none;
        Q_EMIT ingestFinished(id, none);
        return Attempt::done;
    }
    auto extracted = Ingest::Extractor::extractFile(request.documentPath);
    if (!extracted)
        return fail(
            QStringLiteral("%1 could not be read (%2). Check that the file is a PDF, "
                           "EPUB or text file and is not damaged.")
                .arg(QFileInfo(request.documentPath).fileName(), fromStd(extracted.error())));
    const QByteArray& text = extracted->text;
    if (text.isEmpty())
        return fail(QStringLiteral("%1 holds no text to read.")
                        .arg(QFileInfo(request.documentPath).fileName()));
    auto tok = tokenizerFor(request.tokenizerSpec);
    if (!tok) return fail(fromStd(tok.error()));
    auto model = ensureModel(request.modelPath);
    if (!model) return fail(fromStd(model.error()));

    QFile file(request.documentPath);
    QCryptographicHash fileHash(QCryptographicHash::Sha256);
    if (!file.open(QIODevice::ReadOnly) || !fileHash.addData(&file))
        return fail(
            QStringLiteral("%1 cannot be read: %2").arg(request.documentPath, file.errorString()));

    std::vector<lectern::token_id> ids =
        tok->tokenizer->encode(std::string_view(text.constData(), std::size_t(text.size())));
    const std::size_t vocab = std::size_t((*model)->config().vocab);
    for (const lectern::token_id t : ids) {
        if (t >= vocab)
            return fail(
                QStringLiteral("The tokenizer does not match the model (token %1, "
                               "vocabulary %2). Choose the tokenizer that came with the model.")
                    .arg(t)
                    .arg(vocab));
    }
    lectern::SourceInfo source;
    source.name = QFileInfo(request.documentPath).fileName().toStdString();
    source.sha256 = fileHash.result().toHex().toStdString();
    source.bytes = std::uint64_t(text.size());  // offsets count bytes of the extracted text
    source.settings = "tokenizer=" + request.tokenizerSpec.toStdString();
    source.tokens = std::int64_t(ids.size());

    // A store is made for one model; the cached one may be this very folder.
    if (QFileInfo(request.storeDir).absoluteFilePath() == m_storeDir) closeStore();
    std::optional<lectern::DocumentStore> store;
    const std::string dir = enginePath(request.storeDir);
    // The manifest is the store's commit point: a folder without one is a creation that was
    // interrupted and holds nothing worth keeping (store folders belong to the app).
    if (!isEmptyOrMissing(request.storeDir) &&
        !QFileInfo::exists(QDir(request.storeDir).filePath(QStringLiteral("manifest.json"))))
        QDir(request.storeDir).removeRecursively();
    if (isEmptyOrMissing(request.storeDir)) {
        lectern::StoreOptions options;
        options.attention.mode = request.attention == QLatin1String("compat")
                                     ? lectern::AttentionMode::compat
                                     : lectern::AttentionMode::native;
        options.attention.chunk_size = request.chunkSize;
        options.attention.top_k = request.topK;
        options.checkpoint_every = request.checkpointEvery;
        options.disk_budget_bytes = std::uint64_t(std::max<qint64>(0, request.diskBudgetBytes));
        auto created = lectern::DocumentStore::create(dir, *model, tok->identity, options);
        if (!created)
            return fail(QStringLiteral("The document's memory could not be created (%1).")
                            .arg(fromStd(created.error())));
        store.emplace(std::move(*created));
    } else {
        auto opened = lectern::DocumentStore::open(dir, *model);
        if (!opened)
            return fail(QStringLiteral("The document's memory could not be opened (%1). Remove "
                                       "the document and add it again.")
                            .arg(fromStd(opened.error())));
        store.emplace(std::move(*opened));
        const lectern::StoreSummary s = store->summary();
        if (s.tokenizer.kind != tok->identity.kind || s.tokenizer.sha256 != tok->identity.sha256)
            return fail(
                QStringLiteral("The document was read with another tokenizer. Remove it "
                               "and add it again."));
        if (!s.sources.empty() && s.sources.back().sha256 != source.sha256)
            return fail(QStringLiteral("The file %1 changed since it was read. Remove the document "
                                       "and add it again.")
                            .arg(request.documentPath));
    }
    // The page map travels with the source (as `lectern-cli ingest` stores it), so the reader can
    // highlight attended passages and mark pages without a text layer without extracting again.
    Ingest::LocationMap map = Ingest::LocationMap::fromDocument(*extracted);
    map.textBytes = text.size();
    const QByteArray attachment = map.serialize();
    const auto attachmentBytes = std::as_bytes(std::span(attachment.constData(), attachment.size()));
    if (auto begun = store->begin_source(source, attachmentBytes); !begun)
        return fail(fromStd(begun.error()));
    const lectern::StoreSummary before = store->summary();
    const lectern::SourceInfo& current = before.sources.back();
    const std::int64_t done = before.tokens - current.first_token;
    if (current.first_token != 0 || done < 0 || done > std::int64_t(ids.size()))
        return fail(
            QStringLiteral("The document's memory does not fit the file. Remove the "
                           "document and add it again."));
    Q_EMIT ingestStarted(id, before.tokens, before.tokens_expected);

    const std::vector<std::int64_t> offsets = tokenOffsets(*tok->tokenizer, ids, text);
    lectern::IngestControl control;
    control.cancel = flags ? &flags->cancel : nullptr;
    control.pause = flags ? &flags->pause : nullptr;
    QElapsedTimer sinceSignal;
    sinceSignal.start();
    QString deviceNote;
    control.on_progress = [&](const lectern::IngestProgress& p) {
        if (!p.device_note.empty()) deviceNote = QString::fromStdString(p.device_note);
        if (sinceSignal.elapsed() < 100 && p.tokens_done < p.tokens_total)
            return;  // about ten signals a second keep the GUI's queue short
        sinceSignal.restart();
        Q_EMIT ingestProgress(id, p.tokens_done, p.tokens_total, p.tokens_per_s, p.eta_s);
    };
    const std::span<const lectern::token_id> rest(ids.data() + done,
                                                  ids.size() - std::size_t(done));
    const std::span<const std::int64_t> restOffsets =
        offsets.empty() ? std::span<const std::int64_t>()
                        : std::span<const std::int64_t>(offsets.data() + done,
                                                        offsets.size() - std::size_t(done));
    auto outcome = rest.empty()
                       ? lectern::Result<lectern::IngestOutcome>(lectern::IngestOutcome::complete)
                       : store->ingest(rest, restOffsets, control);
    if (!outcome)
        return fail(QStringLiteral("Reading stopped: %1. What was read so far is kept; resume "
                                   "reading to continue.")
                        .arg(fromStd(outcome.error())));

    const lectern::StoreSummary after = store->summary();
    IngestResult result;
    result.complete = *outcome == lectern::IngestOutcome::complete;
    result.title = extracted->title.isEmpty() ? QFileInfo(request.documentPath).completeBaseName()
                                              : extracted->title;
    result.format = QString::fromLatin1(Ingest::ExtractedDocument::formatName(extracted->format));
    result.fileSha256 = QString::fromStdString(source.sha256);
    result.tokens = after.tokens;
    result.tokensTotal = after.tokens_expected;
    result.bytesOnDisk = qint64(after.disk_bytes);
    for (const Ingest::PageInfo& p : extracted->pages)
        result.pages.append(DocumentPage{p.textBegin, p.textEnd, p.label});
    for (const lectern::CheckpointInfo& c : after.checkpoints)
        result.checkpoints.append(c.position);
    result.deviceNote = deviceNote;
    // Keep the store open: the first question usually follows.
    closeStore();
    m_store.emplace(std::move(*store));
    m_storeDir = QFileInfo(request.storeDir).absoluteFilePath();
    Q_EMIT ingestFinished(id, result);
    return Attempt::done;
}
