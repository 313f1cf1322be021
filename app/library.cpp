// Library: SQLite through Qt SQL (see library.h). Enum values are stored as words so the
// database stays readable with the sqlite3 tool.
#include "library.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonDocument>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QStandardPaths>
#include <QVariant>

namespace {

QString now() {
    return QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs);
}

// The schema, one entry per version; never edit a released entry, add the next one.
// AUTOINCREMENT: ids are never reused, so a deleted message or document id (and its store
// folder name) cannot come back for another row.
const char* const kMigrations[] = {
    // 1
    "CREATE TABLE documents (id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL, title TEXT, "
    "format TEXT,"
    " sha256 TEXT, store_dir TEXT, model_path TEXT, tokenizer TEXT, state TEXT NOT NULL,"
    " tokens INTEGER DEFAULT 0, tokens_total INTEGER DEFAULT 0, bytes_on_disk INTEGER DEFAULT 0,"
    " pages_json TEXT, checkpoints_json TEXT, error TEXT, added_at TEXT, updated_at TEXT);"
    "CREATE TABLE conversations (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE, title TEXT,"
    " as_of INTEGER DEFAULT -1, created_at TEXT);"
    "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
    " role TEXT NOT NULL, text TEXT NOT NULL, state TEXT NOT NULL, attended_json TEXT,"
    " created_at TEXT, updated_at TEXT);"
    "CREATE INDEX messages_by_conversation ON messages(conversation_id, id);"
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT)",
};

}  // namespace

Library::Library()
    : m_connection(QStringLiteral("lectern-library-%1").arg(quintptr(this), 0, 16)) {}

Library::~Library() {
    close();
}

bool Library::open(const QString& path) {
    close();
    m_path = path;
    if (m_path.isEmpty()) {
        const QString dir = QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation);
        m_path = QDir(dir).filePath(QStringLiteral("library.sqlite"));
    }
    if (!QDir().mkpath(QFileInfo(m_path).absolutePath())) {
        m_error =
            QStringLiteral("Cannot create the folder for %1; check its permissions.").arg(m_path);
        return false;
    }
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), m_connection);
        db.setDatabaseName(m_path);
        if (!db.open()) {
            m_error = QStringLiteral("Cannot open the library %1 (%2).")
                          .arg(m_path, db.lastError().text());
            db = QSqlDatabase();
            close();
            return false;
        }
    }
    // WAL: readers never block the writer and a commit is one append; NORMAL sync keeps every
    // commit through an application crash (only a power cut can lose the last ones).
    if (!exec(QStringLiteral("PRAGMA journal_mode=WAL")) ||
        !exec(QStringLiteral("PRAGMA synchronous=NORMAL")) ||
        !exec(QStringLiteral("PRAGMA foreign_keys=ON")) ||
        !exec(QStringLiteral("PRAGMA busy_timeout=2000")) || !migrate()) {
        close();
        return false;
    }
    return true;
}

void Library::close() {
    if (QSqlDatabase::contains(m_connection)) {
        QSqlDatabase::database(m_connection, false).close();
        QSqlDatabase::removeDatabase(m_connection);
    }
}

bool Library::isOpen() const {
    return QSqlDatabase::contains(m_connection) &&
           QSqlDatabase::database(m_connection, false).isOpen();
}

bool Library::exec(const QString& sql) {
    QSqlQuery q(QSqlDatabase::database(m_connection, false));
    if (!q.exec(sql)) {
        m_error = QStringLiteral(
                      "The library database failed (%1). Restart Lectern; if it happens "
                      "again, move %2 aside.")
                      .arg(q.lastError().text(), m_path);
        return false;
    }
    return true;
}

bool Library::migrate() {
    if (!exec(QStringLiteral(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
            " applied_at TEXT)")))
        return false;
    const int have = schemaVersion();
    if (have > kSchemaVersion) {
        m_error = QStringLiteral("The library %1 was written by a newer Lectern; update Lectern.")
                      .arg(m_path);
        return false;
    }
    QSqlDatabase db = QSqlDatabase::database(m_connection, false);
    for (int v = have + 1; v <= kSchemaVersion; ++v) {
        db.transaction();
        bool ok = true;
        for (const QString& statement :
             QString::fromLatin1(kMigrations[v - 1]).split(QLatin1Char(';')))
            ok = ok && exec(statement);
        QSqlQuery q(db);
        q.prepare(QStringLiteral("INSERT INTO schema_migrations VALUES (?, ?)"));
        q.addBindValue(v);
        q.addBindValue(now());
        ok = ok && q.exec();
        if (!ok || !db.commit()) {
            db.rollback();
            return false;
        }
    }
    return true;
}

QString Library::journalMode() const {
    QSqlQuery q(QSqlDatabase::database(m_connection, false));
    return q.exec(QStringLiteral("PRAGMA journal_mode")) && q.next() ? q.value(0).toString()
                                                                     : QString();
}

int Library::schemaVersion() const {
    QSqlQuery q(QSqlDatabase::database(m_connection, false));
    return q.exec(QStringLiteral("SELECT MAX(version) FROM schema_migrations")) && q.next()
               ? q.value(0).toInt()
               : 0;
}
