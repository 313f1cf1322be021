// The .lectern container: a fixed header, a JSON manifest with its SHA-256, then every store
// file's bytes in manifest order. Each file's size and SHA-256 are in the manifest, so a
// truncated or altered archive is caught while unpacking, before the store is used.
#include "sessionarchive.h"

#include <QCryptographicHash>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QSaveFile>
#include <QtEndian>

#include "enginepath.h"
#include "jsonnumber.h"
#include "lectern/document_store.h"

namespace {

// 16-byte magic, u32 version, u32 reserved, u64 manifest length, 32-byte SHA-256 of the manifest.
constexpr char kMagic[16] = {'L', 'E', 'C', 'T', 'E', 'R', 'N', '-',
                             'S', 'E', 'S', 'S', 'I', 'O', 'N', '\n'};
constexpr qint64 kHeaderBytes = 16 + 4 + 4 + 8 + 32;
constexpr qint64 kMaxManifestBytes = 256ll << 20;
constexpr qint64 kCopyBlock = 1 << 20;

lectern::Error error(const QString& message) {
    return lectern::make_error(message.toStdString());
}

QString corrupt(const QString& path, const QString& why) {
    return QStringLiteral(
               "%1 is damaged (%2). Export the session again on the machine it came "
               "from and copy the file once more.")
        .arg(QFileInfo(path).fileName(), why);
}

struct Header {
    QJsonObject manifest;
    qint64 dataStart = 0;
};

lectern::Result<Header> readHeader(QFile& file) {
    const QString path = file.fileName();
    const QByteArray head = file.read(kHeaderBytes);
    if (head.size() < qsizetype(sizeof kMagic) ||
        head.left(sizeof kMagic) != QByteArray(kMagic, sizeof kMagic))
        return error(QStringLiteral("%1 is not a Lectern session file. Choose a file that "
                                    "Lectern exported with \"Export session…\".")
                         .arg(QFileInfo(path).fileName()));
    if (head.size() < kHeaderBytes) return error(corrupt(path, QStringLiteral("it ends early")));
    const quint32 version = qFromLittleEndian<quint32>(head.constData() + 16);
    if (version != SessionArchive::kVersion)
        return error(QStringLiteral("%1 was made by a newer Lectern (session format %2). Update "
                                    "Lectern to open it.")
                         .arg(QFileInfo(path).fileName())
                         .arg(version));
    const qint64 length = qint64(qFromLittleEndian<quint64>(head.constData() + 24));
    if (length <= 0 || length > kMaxManifestBytes)
        return error(corrupt(path, QStringLiteral("bad manifest size")));
    const QByteArray manifest = file.read(length);
    if (manifest.size() != length) return error(corrupt(path, QStringLiteral("it ends early")));
    if (QCryptographicHash::hash(manifest, QCryptographicHash::Sha256) != head.mid(32, 32))
        return error(corrupt(path, QStringLiteral("the manifest checksum does not match")));
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(manifest, &parseError);
    if (!doc.isObject()) return error(corrupt(path, QStringLiteral("unreadable manifest")));
    return Header{doc.object(), kHeaderBytes + length};
}

SessionContents contentsOf(const QJsonObject& manifest) {
    SessionContents c;
    c.modelFingerprint = manifest.value(QStringLiteral("modelSha256")).toString();
    c.modelFileName = manifest.value(QStringLiteral("modelFileName")).toString();
    c.documentFingerprint = manifest.value(QStringLiteral("documentSha256")).toString();
    c.document = manifest.value(QStringLiteral("document")).toObject();
    c.conversations = manifest.value(QStringLiteral("conversations")).toArray();
    return c;
}

bool safeRelativePath(const QString& rel) {
    if (rel.isEmpty() || QDir::isAbsolutePath(rel) || rel.contains(QLatin1Char('\\'))) return false;
    const QStringList parts = rel.split(QLatin1Char('/'));
    for (const QString& p : parts) {
        if (p.isEmpty() || p == QLatin1String(".") || p == QLatin1String("..")) return false;
    }
    return true;
}

}  // namespace

lectern::Result<void> SessionArchive::write(const SessionExportRequest& request) {
    const std::string storePath = enginePath(request.storeDir);
    auto summary = lectern::DocumentStore::summary(storePath);
    if (!summary)
        return error(QStringLiteral("The document's memory could not be read (%1). Read the "
                                    "document again, then export.")
                         .arg(QString::fromStdString(summary.error().message)));

    // Every file of the folder, in a stable order; hashed now so the manifest can go first.
    QStringList files;
    QDirIterator it(request.storeDir, QDir::Files | QDir::Hidden | QDir::NoSymLinks,
                    QDirIterator::Subdirectories);
    const QDir root(request.storeDir);
    while (it.hasNext()) files << root.relativeFilePath(it.next());
    files.sort();
    QJsonArray entries;
    for (const QString& rel : files) {
        QFile f(root.filePath(rel));
        if (!f.open(QIODevice::ReadOnly))
            return error(QStringLiteral("Cannot read %1: %2").arg(f.fileName(), f.errorString()));
        QCryptographicHash hash(QCryptographicHash::Sha256);
        if (!hash.addData(&f))
            return error(QStringLiteral("Cannot read %1: %2").arg(f.fileName(), f.errorString()));
        entries.append(
            QJsonObject{{QStringLiteral("path"), rel},
                        {QStringLiteral("size"), double(f.size())},
                        {QStringLiteral("sha256"), QString::fromLatin1(hash.result().toHex())}});
    }
    const QJsonObject manifest{
        {QStringLiteral("format"), QStringLiteral("lectern-session")},
        {QStringLiteral("version"), double(kVersion)},
        {QStringLiteral("modelSha256"), QString::fromStdString(summary->model_sha256)},
        {QStringLiteral("modelFileName"),
         QFileInfo(QString::fromStdString(summary->model_path)).fileName()},
        {QStringLiteral("documentSha256"),
         request.document.value(QStringLiteral("fileSha256"))
             .toString(summary->sources.empty()
                           ? QString()
                           : QString::fromStdString(summary->sources.front().sha256))},
        {QStringLiteral("document"), request.document},
        {QStringLiteral("conversations"), request.conversations},
        {QStringLiteral("files"), entries},
    };
    const QByteArray manifestBytes = QJsonDocument(manifest).toJson(QJsonDocument::Compact);

    QSaveFile out(request.archivePath);
    if (!out.open(QIODevice::WriteOnly))
        return error(QStringLiteral("Cannot write %1: %2. Choose another folder.")
                         .arg(request.archivePath, out.errorString()));
    QByteArray header(kMagic, sizeof kMagic);
    char word[8];
    qToLittleEndian<quint32>(kVersion, word);
    header.append(word, 4);
    qToLittleEndian<quint32>(0, word);
    header.append(word, 4);
    qToLittleEndian<quint64>(quint64(manifestBytes.size()), word);
    header.append(word, 8);
    header += QCryptographicHash::hash(manifestBytes, QCryptographicHash::Sha256);
    out.write(header);
    out.write(manifestBytes);
    for (const QString& rel : files) {
        QFile f(root.filePath(rel));
        if (!f.open(QIODevice::ReadOnly))
            return error(QStringLiteral("Cannot read %1: %2").arg(f.fileName(), f.errorString()));
        while (!f.atEnd()) {
            const QByteArray block = f.read(kCopyBlock);
            if (block.isEmpty() || out.write(block) != block.size())
                return error(QStringLiteral("Cannot write %1: %2. Check the free disk space.")
                                 .arg(request.archivePath, out.errorString()));
        }
    }
    if (!out.commit())
        return error(QStringLiteral("Cannot write %1: %2. Check the free disk space.")
                         .arg(request.archivePath, out.errorString()));
    return {};
}

lectern::Result<SessionContents> SessionArchive::peek(const QString& archivePath) {
    QFile file(archivePath);
    if (!file.open(QIODevice::ReadOnly))
        return error(QStringLiteral("Cannot open %1: %2").arg(archivePath, file.errorString()));
    auto header = readHeader(file);
    if (!header) return header.error();
    return contentsOf(header->manifest);
}

lectern::Result<SessionContents> SessionArchive::unpack(const QString& archivePath,
                                                        const QString& storeDir,
                                                        const QString& modelFingerprint) {
    QFile file(archivePath);
    if (!file.open(QIODevice::ReadOnly))
        return error(QStringLiteral("Cannot open %1: %2").arg(archivePath, file.errorString()));
    auto header = readHeader(file);
    if (!header) return header.error();
    SessionContents contents = contentsOf(header->manifest);
    if (contents.modelFingerprint != modelFingerprint)
        return error(QStringLiteral("This session was made with another model (%1). Load that "
                                    "model, then open the session again.")
                         .arg(contents.modelFileName.isEmpty() ? contents.modelFingerprint.left(12)
                                                               : contents.modelFileName));

    const QFileInfo target(storeDir);
    if (target.exists() &&
        !(target.isDir() &&
          QDir(storeDir).isEmpty(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden)))
        return error(
            QStringLiteral("%1 already holds files; choose an empty folder.").arg(storeDir));
    // Unpack beside the target and rename at the end, so a failure leaves no half store.
    const QString staging = storeDir + QStringLiteral(".importing");
    QDir(staging).removeRecursively();
    const auto failWith = [&](const QString& message) -> lectern::Result<SessionContents> {
        QDir(staging).removeRecursively();
        return error(message);
    };
    if (!QDir().mkpath(staging))
        return failWith(QStringLiteral("Cannot create %1; choose another folder.").arg(staging));

    const QJsonArray entries = header->manifest.value(QStringLiteral("files")).toArray();
    if (entries.isEmpty())
        return failWith(corrupt(archivePath, QStringLiteral("it lists no files")));
    for (const QJsonValue& v : entries) {
        const QJsonObject e = v.toObject();
        const QString rel = e.value(QStringLiteral("path")).toString();
        const qint64 size = Ingest::jsonInteger(e.value(QStringLiteral("size")), -1);
        if (!safeRelativePath(rel) || size < 0)
            return failWith(corrupt(archivePath, QStringLiteral("a bad file entry")));
        const QString dest = QDir(staging).filePath(rel);
        QDir().mkpath(QFileInfo(dest).absolutePath());
        QFile out(dest);
        if (!out.open(QIODevice::WriteOnly))
            return failWith(QStringLiteral("Cannot write %1: %2").arg(dest, out.errorString()));
        QCryptographicHash hash(QCryptographicHash::Sha256);
        qint64 left = size;
        while (left > 0) {
            const QByteArray block = file.read(std::min(left, kCopyBlock));
            if (block.isEmpty())
                return failWith(corrupt(archivePath, QStringLiteral("it ends early")));
            hash.addData(block);
            if (out.write(block) != block.size())
                return failWith(QStringLiteral("Cannot write %1: %2. Check the free disk space.")
                                    .arg(dest, out.errorString()));
            left -= block.size();
        }
        if (QString::fromLatin1(hash.result().toHex()) !=
            e.value(QStringLiteral("sha256")).toString())
            return failWith(
                corrupt(archivePath, QStringLiteral("%1 has a wrong checksum").arg(rel)));
    }
    if (!file.atEnd())
        return failWith(corrupt(archivePath, QStringLiteral("unexpected bytes at its end")));
    if (target.exists() && !QDir().rmdir(storeDir))
        return failWith(QStringLiteral("Cannot replace %1; choose another folder.").arg(storeDir));
    if (!QDir().rename(staging, storeDir))
        return failWith(QStringLiteral("Cannot move the session into %1; choose another folder.")
                            .arg(storeDir));
    contents.storeDir = storeDir;
    return contents;
}
