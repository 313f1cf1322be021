// The library database: documents and their stores, conversations, messages and the settings
// that are not QSettings, in SQLite (Qt SQL) in WAL mode under AppLocalDataLocation (not the
// roaming AppDataLocation: stores are gigabytes and must never sync with a Windows profile).
// Every write is its own transaction, committed before the call returns, so a killed app keeps
// every row written before it died. Schema versions are applied in order and recorded in
// schema_migrations. Use from one thread (the GUI thread): each call is a few milliseconds.
#pragma once

#include <QDateTime>
#include <QJsonArray>
#include <QJsonObject>
#include <QList>
#include <QString>

#include <optional>

#include "enginerequests.h"

enum class DocumentState { NotRead, Reading, Paused, Ready, Failed };

struct DocumentRecord {
    qint64 id = 0;
    QString path;
    QString title;
    QString format;
    QString sha256;  // of the file's bytes: the document fingerprint
    QString storeDir;
    QString modelPath;
    QString tokenizer = QStringLiteral("world");
    DocumentState state = DocumentState::NotRead;
    qint64 tokens = 0;
    qint64 tokensTotal = 0;
    qint64 bytesOnDisk = 0;
    QList<DocumentPage> pages;
    QList<qint64> checkpoints;
    QString error;  // why the last reading failed (state Failed)
    QDateTime added;
    QDateTime updated;
};

struct ConversationRecord {
    qint64 id = 0;
    qint64 documentId = 0;
    QString title;
    qint64 asOf = -1;  // -1: the whole document; else the checkpoint asked about
    QDateTime created;
};

enum class MessageState { Streaming, Complete, Stopped, Failed };

struct MessageRecord {
    qint64 id = 0;
    qint64 conversationId = 0;
    bool fromUser = true;
    QString text;
    MessageState state = MessageState::Complete;
    QList<AttendedPage> attended;
    QDateTime created;
};

class Library {
  public:
    static constexpr int kSchemaVersion = 1;

    Library();
    ~Library();
    Library(const Library&) = delete;
    Library& operator=(const Library&) = delete;

    // Open (creating and migrating) the database; empty path = AppLocalDataLocation/library.sqlite.
    bool open(const QString& path = {});
    void close();
    bool isOpen() const;
    QString errorString() const { return m_error; }
    QString path() const { return m_path; }
    QString journalMode() const;  // "wal" once open
    int schemaVersion() const;

    qint64 addDocument(const DocumentRecord& record);  // 0 on failure
    bool updateDocument(const DocumentRecord& record);
    bool removeDocument(qint64 id);  // with its conversations and messages
    std::optional<DocumentRecord> document(qint64 id) const;
    QList<DocumentRecord> documents() const;

    qint64 addConversation(qint64 documentId, const QString& title, qint64 asOf = -1);
    bool renameConversation(qint64 id, const QString& title);
    std::optional<ConversationRecord> conversation(qint64 id) const;
    QList<ConversationRecord> conversations(qint64 documentId) const;

    qint64 addMessage(qint64 conversationId, bool fromUser, const QString& text,
                      MessageState state);
    bool updateMessage(qint64 id, const QString& text, MessageState state,
                       const QList<AttendedPage>& attended = {});
    bool deleteMessagesFrom(qint64 conversationId, qint64 firstMessageId);  // it and all later
    std::optional<MessageRecord> message(qint64 id) const;
    QList<MessageRecord> messages(qint64 conversationId) const;

    QString setting(const QString& key, const QString& fallback = {}) const;
    bool setSetting(const QString& key, const QString& value);

    // Portable forms for session files (no ids or local paths that mean nothing elsewhere).
    QJsonObject documentJson(qint64 id) const;
    QJsonArray conversationsJson(qint64 documentId) const;
    // A document and its conversations from a session file; returns the new document id.
    qint64 importDocument(const QJsonObject& document, const QJsonArray& conversations,
                          const QString& storeDir, const QString& modelPath);

    static QJsonArray attendedToJson(const QList<AttendedPage>& pages);
    static QList<AttendedPage> attendedFromJson(const QJsonArray& array);

  private:
    bool exec(const QString& sql);
    bool migrate();

    QString m_connection;
    QString m_path;
    mutable QString m_error;
};
