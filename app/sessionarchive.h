// "Export session…" / "Open session…": one portable .lectern file holding a document's store
// folder as it is (every file, byte for byte), the document's library record and its
// conversations, and the fingerprints that must match on the other machine. Opening it with the
// same model needs no re-reading. Container: docs/architecture.md ("Session files").
#pragma once

#include <QJsonArray>
#include <QJsonObject>
#include <QMetaType>
#include <QString>

#include "lectern/result.h"

struct SessionExportRequest {
    QString archivePath;       // the .lectern file to write
    QString storeDir;          // the document's store folder
    QJsonObject document;      // Library::documentJson(): title, format, fileSha256, pages, ...
    QJsonArray conversations;  // Library::conversationsJson(): each with its messages
};

struct SessionContents {
    QString storeDir;  // where the store was unpacked
    QString modelFingerprint;
    QString modelFileName;  // of the model the store was made with (a hint for the user)
    QString documentFingerprint;
    QJsonObject document;
    QJsonArray conversations;
};

class SessionArchive {
  public:
    static constexpr quint32 kVersion = 1;

    // Write the archive (to a temporary name, renamed when complete). The model fingerprint comes
    // from the store's manifest; the document fingerprint from request.document["fileSha256"].
    static lectern::Result<void> write(const SessionExportRequest& request);

    // The manifest alone (fingerprints, document, conversations), checked against its checksum;
    // cheap, for "which model does this need?" before unpacking.
    static lectern::Result<SessionContents> peek(const QString& archivePath);

    // Unpack into `storeDir` (must not exist or be empty): refuses an archive made with another
    // model (modelFingerprint = DocumentStore::model_fingerprint of the loaded model) before
    // writing anything; checks every file's size and SHA-256 while copying; on any problem
    // removes what it wrote. The caller then runs DocumentStore::verify with the model.
    static lectern::Result<SessionContents> unpack(const QString& archivePath,
                                                   const QString& storeDir,
                                                   const QString& modelFingerprint);
};

Q_DECLARE_METATYPE(SessionExportRequest)
Q_DECLARE_METATYPE(SessionContents)
