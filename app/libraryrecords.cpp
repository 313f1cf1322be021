// Library: the rows (documents, conversations, messages, settings) and their portable JSON forms.
// Split from library.cpp (opening and migrations) to keep each file readable.
#include <QFileInfo>
#include <QJsonDocument>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>

#include "jsonnumber.h"
#include "library.h"

namespace {

const char* const kStates[] = {"not_read", "reading", "paused", "ready", "failed"};
const char* const kMessageStates[] = {"streaming", "complete", "stopped", "failed"};

QString nameOf(DocumentState value, const char* const (&names)[5]) {
    return QString::fromLatin1(names[int(value)]);
}
QString nameOf(MessageState value, const char* const (&names)[4]) {
    switch (value) {
        case MessageState::Streaming:
            return QString::fromLatin1(names[0]);
        case MessageState::Complete:
            return QString::fromLatin1(names[1]);
        case MessageState::Stopped:
            return QString::fromLatin1(names[2]);
        case MessageState::Failed:
            break;
    }
    return QString::fromLatin1(names[3]);
}
template <typename E, std::size_t N>
E valueOf(const QString& s, const char* const (&names)[N], E fallback) {
    for (std::size_t i = 0; i < N; ++i)
        if (s == QLatin1String(names[i])) return E(i);
    return fallback;
}

QString now() {
    return QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs);
}
QDateTime timeFrom(const QVariant& v) {
    return QDateTime::fromString(v.toString(), Qt::ISODateWithMs);
}
QString jsonText(const QJsonArray& a) {
    return QString::fromUtf8(QJsonDocument(a).toJson(QJsonDocument::Compact));
}
QJsonArray arrayFrom(const QVariant& v) {
    return QJsonDocument::fromJson(v.toString().toUtf8()).array();
}

QJsonArray pagesJson(const QList<DocumentPage>& pages) {
    QJsonArray a;
    for (const DocumentPage& p : pages)
        a.append(QJsonArray{double(p.textBegin), double(p.textEnd), p.label});
    return a;
}
QList<DocumentPage> pagesFrom(const QJsonArray& a) {
    QList<DocumentPage> pages;
    for (const QJsonValue& v : a) {
        const QJsonArray p = v.toArray();
        pages.append(DocumentPage{Ingest::jsonInteger(p.at(0)), Ingest::jsonInteger(p.at(1)),
                                  p.at(2).toString()});
    }
    return pages;
}
QJsonArray positionsJson(const QList<qint64>& list) {
    QJsonArray a;
    for (const qint64 v : list) a.append(double(v));
    return a;
}
QList<qint64> positionsFrom(const QJsonArray& a) {
    QList<qint64> out;
    for (const QJsonValue& v : a) out.append(Ingest::jsonInteger(v));
    return out;
}

const QString kDocumentColumns = QStringLiteral(
    "id, path, title, format, sha256, store_dir, model_path, tokenizer, state, tokens, "
    "tokens_total,"
    " bytes_on_disk, pages_json, checkpoints_json, error, added_at, updated_at");

DocumentRecord documentFrom(const QSqlQuery& q) {
    DocumentRecord d;
    d.id = q.value(0).toLongLong();
    d.path = q.value(1).toString();
    d.title = q.value(2).toString();
    d.format = q.value(3).toString();
    d.sha256 = q.value(4).toString();
    d.storeDir = q.value(5).toString();
    d.modelPath = q.value(6).toString();
    d.tokenizer = q.value(7).toString();
    d.state = valueOf(q.value(8).toString(), kStates, DocumentState::NotRead);
    d.tokens = q.value(9).toLongLong();
    d.tokensTotal = q.value(10).toLongLong();
    d.bytesOnDisk = q.value(11).toLongLong();
    d.pages = pagesFrom(arrayFrom(q.value(12)));
    d.checkpoints = positionsFrom(arrayFrom(q.value(13)));
    d.error = q.value(14).toString();
    d.added = timeFrom(q.value(15));
    d.updated = timeFrom(q.value(16));
    return d;
}

MessageRecord messageFrom(const QSqlQuery& q) {
    MessageRecord m;
    m.id = q.value(0).toLongLong();
    m.conversationId = q.value(1).toLongLong();
    m.fromUser = q.value(2).toString() == QLatin1String("user");
    m.text = q.value(3).toString();
    m.state = valueOf(q.value(4).toString(), kMessageStates, MessageState::Complete);
    m.attended = Library::attendedFromJson(arrayFrom(q.value(5)));
    m.created = timeFrom(q.value(6));
    return m;
}

}  // namespace

// Prepared statement on this library's connection; runs it and records the error.
#define LIB_QUERY(q, sql)                                     \
    QSqlQuery q(QSqlDatabase::database(m_connection, false)); \
    q.prepare(sql)
#define LIB_RUN(q) runQuery(q, m_error, m_path)

static bool runQuery(QSqlQuery& q, QString& error, const QString& path) {
    if (q.exec()) return true;
    error = QStringLiteral(
                "The library database failed (%1). Restart Lectern; if it happens again, "
                "move %2 aside.")
                .arg(q.lastError().text(), path);
    return false;
}

qint64 Library::addDocument(const DocumentRecord& r) {
    LIB_QUERY(q, QStringLiteral(
                     "INSERT INTO documents (path, title, format, sha256, store_dir, model_path,"
                     " tokenizer, state, tokens, tokens_total, bytes_on_disk, pages_json,"
                     " checkpoints_json, error, added_at, updated_at)"
                     " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
    const QString t = now();
    for (const QVariant& v :
         {QVariant(r.path), QVariant(r.title), QVariant(r.format), QVariant(r.sha256),
          QVariant(r.storeDir), QVariant(r.modelPath), QVariant(r.tokenizer),
          QVariant(nameOf(r.state, kStates)), QVariant(r.tokens), QVariant(r.tokensTotal),
          QVariant(r.bytesOnDisk), QVariant(jsonText(pagesJson(r.pages))),
          QVariant(jsonText(positionsJson(r.checkpoints))), QVariant(r.error), QVariant(t),
          QVariant(t)})
        q.addBindValue(v);
    return LIB_RUN(q) ? q.lastInsertId().toLongLong() : 0;
}

bool Library::updateDocument(const DocumentRecord& r) {
    LIB_QUERY(
        q, QStringLiteral("UPDATE documents SET path=?, title=?, format=?, sha256=?, store_dir=?,"
                          " model_path=?, tokenizer=?, state=?, tokens=?, tokens_total=?,"
                          " bytes_on_disk=?, pages_json=?, checkpoints_json=?, error=?,"
                          " updated_at=? WHERE id=?"));
    for (const QVariant& v :
         {QVariant(r.path), QVariant(r.title), QVariant(r.format), QVariant(r.sha256),
          QVariant(r.storeDir), QVariant(r.modelPath), QVariant(r.tokenizer),
          QVariant(nameOf(r.state, kStates)), QVariant(r.tokens), QVariant(r.tokensTotal),
          QVariant(r.bytesOnDisk), QVariant(jsonText(pagesJson(r.pages))),
          QVariant(jsonText(positionsJson(r.checkpoints))), QVariant(r.error), QVariant(now()),
          QVariant(r.id)})
        q.addBindValue(v);
    return LIB_RUN(q) && q.numRowsAffected() == 1;
}

bool Library::removeDocument(qint64 id) {
    LIB_QUERY(q, QStringLiteral("DELETE FROM documents WHERE id=?"));
    q.addBindValue(id);
    return LIB_RUN(q);
}

std::optional<DocumentRecord> Library::document(qint64 id) const {
    LIB_QUERY(q, QStringLiteral("SELECT %1 FROM documents WHERE id=?").arg(kDocumentColumns));
    q.addBindValue(id);
    if (!LIB_RUN(q) || !q.next()) return std::nullopt;
    return documentFrom(q);
}

QList<DocumentRecord> Library::documents() const {
    LIB_QUERY(q, QStringLiteral("SELECT %1 FROM documents ORDER BY id").arg(kDocumentColumns));
    QList<DocumentRecord> out;
    if (LIB_RUN(q))
        while (q.next()) out.append(documentFrom(q));
    return out;
}

qint64 Library::addConversation(qint64 documentId, const QString& title, qint64 asOf) {
    LIB_QUERY(
        q,
        QStringLiteral(
            "INSERT INTO conversations (document_id, title, as_of, created_at) VALUES (?,?,?,?)"));
    q.addBindValue(documentId);
    q.addBindValue(title);
    q.addBindValue(asOf);
    q.addBindValue(now());
    return LIB_RUN(q) ? q.lastInsertId().toLongLong() : 0;
}

bool Library::renameConversation(qint64 id, const QString& title) {
    LIB_QUERY(q, QStringLiteral("UPDATE conversations SET title=? WHERE id=?"));
    q.addBindValue(title);
    q.addBindValue(id);
    return LIB_RUN(q);
}

std::optional<ConversationRecord> Library::conversation(qint64 id) const {
    LIB_QUERY(
        q, QStringLiteral(
               "SELECT id, document_id, title, as_of, created_at FROM conversations WHERE id=?"));
    q.addBindValue(id);
    if (!LIB_RUN(q) || !q.next()) return std::nullopt;
    return ConversationRecord{q.value(0).toLongLong(), q.value(1).toLongLong(),
                              q.value(2).toString(), q.value(3).toLongLong(), timeFrom(q.value(4))};
}

QList<ConversationRecord> Library::conversations(qint64 documentId) const {
    LIB_QUERY(q,
              QStringLiteral("SELECT id, document_id, title, as_of, created_at FROM conversations"
                             " WHERE document_id=? ORDER BY id"));
    q.addBindValue(documentId);
    QList<ConversationRecord> out;
    if (LIB_RUN(q))
        while (q.next())
            out.append(ConversationRecord{q.value(0).toLongLong(), q.value(1).toLongLong(),
                                          q.value(2).toString(), q.value(3).toLongLong(),
                                          timeFrom(q.value(4))});
    return out;
}

qint64 Library::addMessage(qint64 conversationId, bool fromUser, const QString& text,
                           MessageState state) {
    LIB_QUERY(
        q, QStringLiteral("INSERT INTO messages (conversation_id, role, text, state, attended_json,"
                          " created_at, updated_at) VALUES (?,?,?,?,'[]',?,?)"));
    const QString t = now();
    q.addBindValue(conversationId);
    q.addBindValue(fromUser ? QStringLiteral("user") : QStringLiteral("assistant"));
    q.addBindValue(text.isNull() ? QStringLiteral("") : text);  // a null QString binds as NULL
    q.addBindValue(nameOf(state, kMessageStates));
    q.addBindValue(t);
    q.addBindValue(t);
    return LIB_RUN(q) ? q.lastInsertId().toLongLong() : 0;
}

bool Library::updateMessage(qint64 id, const QString& text, MessageState state,
                            const QList<AttendedPage>& attended) {
    LIB_QUERY(q,
              QStringLiteral(
                  "UPDATE messages SET text=?, state=?, attended_json=?, updated_at=? WHERE id=?"));
    q.addBindValue(text.isNull() ? QStringLiteral("") : text);
    q.addBindValue(nameOf(state, kMessageStates));
    q.addBindValue(jsonText(attendedToJson(attended)));
    q.addBindValue(now());
    q.addBindValue(id);
    return LIB_RUN(q) && q.numRowsAffected() == 1;
}

bool Library::deleteMessagesFrom(qint64 conversationId, qint64 firstMessageId) {
    LIB_QUERY(q, QStringLiteral("DELETE FROM messages WHERE conversation_id=? AND id>=?"));
    q.addBindValue(conversationId);
    q.addBindValue(firstMessageId);
    return LIB_RUN(q);
}

std::optional<MessageRecord> Library::message(qint64 id) const {
    LIB_QUERY(
        q, QStringLiteral("SELECT id, conversation_id, role, text, state, attended_json, created_at"
                          " FROM messages WHERE id=?"));
    q.addBindValue(id);
    if (!LIB_RUN(q) || !q.next()) return std::nullopt;
    return messageFrom(q);
}

QList<MessageRecord> Library::messages(qint64 conversationId) const {
    LIB_QUERY(
        q, QStringLiteral("SELECT id, conversation_id, role, text, state, attended_json, created_at"
                          " FROM messages WHERE conversation_id=? ORDER BY id"));
    q.addBindValue(conversationId);
    QList<MessageRecord> out;
    if (LIB_RUN(q))
        while (q.next()) out.append(messageFrom(q));
    return out;
}

QString Library::setting(const QString& key, const QString& fallback) const {
    LIB_QUERY(q, QStringLiteral("SELECT value FROM settings WHERE key=?"));
    q.addBindValue(key);
    return LIB_RUN(q) && q.next() ? q.value(0).toString() : fallback;
}

bool Library::setSetting(const QString& key, const QString& value) {
    LIB_QUERY(q, QStringLiteral("INSERT INTO settings (key, value) VALUES (?, ?)"
                                " ON CONFLICT(key) DO UPDATE SET value=excluded.value"));
    q.addBindValue(key);
    q.addBindValue(value);
    return LIB_RUN(q);
}

QJsonArray Library::attendedToJson(const QList<AttendedPage>& pages) {
    QJsonArray a;
    for (const AttendedPage& p : pages)
        a.append(QJsonObject{{QStringLiteral("page"), p.page},
                             {QStringLiteral("label"), p.label},
                             {QStringLiteral("weight"), p.weight},
                             {QStringLiteral("begin"), double(p.textBegin)},
                             {QStringLiteral("end"), double(p.textEnd)}});
    return a;
}

QList<AttendedPage> Library::attendedFromJson(const QJsonArray& array) {
    QList<AttendedPage> out;
    for (const QJsonValue& v : array) {
        const QJsonObject o = v.toObject();
        out.append(AttendedPage{o.value(QStringLiteral("page")).toInt(),
                                o.value(QStringLiteral("label")).toString(),
                                o.value(QStringLiteral("weight")).toDouble(),
                                Ingest::jsonInteger(o.value(QStringLiteral("begin"))),
                                Ingest::jsonInteger(o.value(QStringLiteral("end")))});
    }
    return out;
}

QJsonObject Library::documentJson(qint64 id) const {
    const auto d = document(id);
    if (!d) return {};
    return QJsonObject{{QStringLiteral("fileName"), QFileInfo(d->path).fileName()},
                       {QStringLiteral("title"), d->title},
                       {QStringLiteral("format"), d->format},
                       {QStringLiteral("fileSha256"), d->sha256},
                       {QStringLiteral("tokenizer"), d->tokenizer},
                       {QStringLiteral("tokens"), double(d->tokens)},
                       {QStringLiteral("tokensTotal"), double(d->tokensTotal)},
                       {QStringLiteral("pages"), pagesJson(d->pages)},
                       {QStringLiteral("checkpoints"), positionsJson(d->checkpoints)}};
}

QJsonArray Library::conversationsJson(qint64 documentId) const {
    QJsonArray out;
    for (const ConversationRecord& c : conversations(documentId)) {
        QJsonArray msgs;
        for (const MessageRecord& m : messages(c.id))
            msgs.append(
                QJsonObject{{QStringLiteral("role"),
                             m.fromUser ? QStringLiteral("user") : QStringLiteral("assistant")},
                            {QStringLiteral("text"), m.text},
                            {QStringLiteral("state"), nameOf(m.state, kMessageStates)},
                            {QStringLiteral("attended"), attendedToJson(m.attended)},
                            {QStringLiteral("created"), m.created.toString(Qt::ISODateWithMs)}});
        out.append(QJsonObject{{QStringLiteral("title"), c.title},
                               {QStringLiteral("asOf"), double(c.asOf)},
                               {QStringLiteral("messages"), msgs}});
    }
    return out;
}

qint64 Library::importDocument(const QJsonObject& document, const QJsonArray& conversations,
                               const QString& storeDir, const QString& modelPath) {
    DocumentRecord d;
    d.path = document.value(QStringLiteral("fileName"))
                 .toString();  // no local file: the store has it all
    d.title = document.value(QStringLiteral("title")).toString();
    d.format = document.value(QStringLiteral("format")).toString();
    d.sha256 = document.value(QStringLiteral("fileSha256")).toString();
    d.tokenizer = document.value(QStringLiteral("tokenizer")).toString(QStringLiteral("world"));
    d.tokens = Ingest::jsonInteger(document.value(QStringLiteral("tokens")));
    d.tokensTotal = Ingest::jsonInteger(document.value(QStringLiteral("tokensTotal")));
    d.pages = pagesFrom(document.value(QStringLiteral("pages")).toArray());
    d.checkpoints = positionsFrom(document.value(QStringLiteral("checkpoints")).toArray());
    d.storeDir = storeDir;
    d.modelPath = modelPath;
    d.state = d.tokens >= d.tokensTotal ? DocumentState::Ready : DocumentState::Paused;
    const qint64 id = addDocument(d);
    if (id == 0) return 0;
    for (const QJsonValue& cv : conversations) {
        const QJsonObject c = cv.toObject();
        const qint64 cid = addConversation(id, c.value(QStringLiteral("title")).toString(),
                                           Ingest::jsonInteger(c.value(QStringLiteral("asOf")), -1));
        for (const QJsonValue& mv : c.value(QStringLiteral("messages")).toArray()) {
            const QJsonObject m = mv.toObject();
            const MessageState state = valueOf(m.value(QStringLiteral("state")).toString(),
                                               kMessageStates, MessageState::Complete);
            const qint64 mid =
                addMessage(cid, m.value(QStringLiteral("role")).toString() == QLatin1String("user"),
                           m.value(QStringLiteral("text")).toString(),
                           state == MessageState::Streaming ? MessageState::Stopped : state);
            updateMessage(mid, m.value(QStringLiteral("text")).toString(),
                          state == MessageState::Streaming ? MessageState::Stopped : state,
                          attendedFromJson(m.value(QStringLiteral("attended")).toArray()));
        }
    }
    return id;
}
