// Library: schema and WAL mode, round trips of every record kind, survival across reopening,
// a streaming message visible to another connection (what a killed app leaves), cascades.
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

#include "library.h"

class TestLibrary : public QObject {
    Q_OBJECT

  private:
    QTemporaryDir m_dir;
    QString dbPath() const { return m_dir.filePath(QStringLiteral("lib/library.sqlite")); }

    static DocumentRecord sampleDocument() {
        DocumentRecord d;
        d.path = QStringLiteral("/books/a.pdf");
        d.title = QStringLiteral("A book");
        d.format = QStringLiteral("pdf");
        d.sha256 = QString(64, QLatin1Char('a'));
        d.storeDir = QStringLiteral("/stores/1");
        d.modelPath = QStringLiteral("/models/m.pth");
        d.state = DocumentState::Reading;
        d.tokens = 100;
        d.tokensTotal = 400;
        d.bytesOnDisk = 12345;
        d.pages = {DocumentPage{0, 10, QStringLiteral("i")},
                   DocumentPage{12, 30, QStringLiteral("1")}};
        d.checkpoints = {0, 64};
        return d;
    }

  private Q_SLOTS:
    void openCreatesSchemaInWalMode() {
        Library lib;
        QVERIFY2(lib.open(dbPath()), qPrintable(lib.errorString()));
        QCOMPARE(lib.journalMode(), QStringLiteral("wal"));
        QCOMPARE(lib.schemaVersion(), Library::kSchemaVersion);
        lib.close();
        // Reopening applies nothing twice.
        QVERIFY(lib.open(dbPath()));
        QCOMPARE(lib.schemaVersion(), Library::kSchemaVersion);
    }

    void recordsRoundTripAndSurviveReopening() {
        qint64 doc = 0, conv = 0, msg = 0;
        {
            Library lib;
            QVERIFY(lib.open(dbPath()));
            doc = lib.addDocument(sampleDocument());
            QVERIFY(doc > 0);
            conv = lib.addConversation(doc, QStringLiteral("First"), 64);
            QVERIFY(conv > 0);
            QVERIFY(lib.addMessage(conv, true, QStringLiteral("Who?"), MessageState::Complete) > 0);
            msg = lib.addMessage(conv, false, QString(), MessageState::Streaming);
            QVERIFY2(lib.updateMessage(msg, QStringLiteral("Mrs. Hale"), MessageState::Complete,
                                       {AttendedPage{1, QStringLiteral("1"), 0.25, 12, 20}}),
                     qPrintable(lib.errorString()));
            QVERIFY(lib.setSetting(QStringLiteral("sampling/temperature"), QStringLiteral("0.7")));
            QVERIFY(lib.setSetting(QStringLiteral("sampling/temperature"), QStringLiteral("0.5")));
        }
        Library lib;
        QVERIFY(lib.open(dbPath()));
        const auto d = lib.document(doc);
        QVERIFY(d);
        QCOMPARE(d->title, QStringLiteral("A book"));
        QCOMPARE(d->state, DocumentState::Reading);
        QCOMPARE(d->tokens, 100);
        QCOMPARE(d->bytesOnDisk, 12345);
        QCOMPARE(d->pages.size(), 2);
        QCOMPARE(d->pages[1].label, QStringLiteral("1"));
        QCOMPARE(d->pages[1].textBegin, 12);
        QCOMPARE(d->checkpoints, (QList<qint64>{0, 64}));
        QVERIFY(d->added.isValid());
        QCOMPARE(lib.documents().size(), 1);
        const auto c = lib.conversation(conv);
        QVERIFY(c);
        QCOMPARE(c->asOf, 64);
        const QList<MessageRecord> messages = lib.messages(conv);
        QCOMPARE(messages.size(), 2);
        QVERIFY(messages[0].fromUser);
        QCOMPARE(messages[1].text, QStringLiteral("Mrs. Hale"));
        QCOMPARE(messages[1].state, MessageState::Complete);
        QCOMPARE(messages[1].attended.size(), 1);
        QCOMPARE(messages[1].attended[0].weight, 0.25);
        QCOMPARE(lib.setting(QStringLiteral("sampling/temperature")), QStringLiteral("0.5"));
        QCOMPARE(lib.setting(QStringLiteral("missing"), QStringLiteral("x")), QStringLiteral("x"));

        // Portable forms for session files.
        const QJsonObject json = lib.documentJson(doc);
        QCOMPARE(json.value(QStringLiteral("fileSha256")).toString(), d->sha256);
        const QJsonArray convs = lib.conversationsJson(doc);
        QCOMPARE(convs.size(), 1);
        const qint64 copy =
            lib.importDocument(json, convs, QStringLiteral("/stores/2"), QStringLiteral("/m"));
        QVERIFY(copy > 0);
        QCOMPARE(lib.conversations(copy).size(), 1);
        QCOMPARE(lib.messages(lib.conversations(copy).first().id).last().text,
                 QStringLiteral("Mrs. Hale"));
        QVERIFY(lib.removeDocument(copy));
    }

    // Every update is committed at once: another connection (a restarted app) sees the partial
    // text of a message that was still streaming.
    void streamingMessageIsCommitted() {
        Library lib;
        QVERIFY(lib.open(dbPath()));
        const qint64 doc = lib.addDocument(sampleDocument());
        const qint64 conv = lib.addConversation(doc, QStringLiteral("c"));
        const qint64 msg = lib.addMessage(conv, false, QString(), MessageState::Streaming);
        QVERIFY(lib.updateMessage(msg, QStringLiteral("partial ans"), MessageState::Streaming));

        Library other;
        QVERIFY(other.open(dbPath()));
        const auto seen = other.message(msg);
        QVERIFY(seen);
        QCOMPARE(seen->text, QStringLiteral("partial ans"));
        QCOMPARE(seen->state, MessageState::Streaming);
    }

    void editDeletesLaterMessagesAndRemoveCascades() {
        Library lib;
        QVERIFY(lib.open(dbPath()));
        const qint64 doc = lib.addDocument(sampleDocument());
        const qint64 conv = lib.addConversation(doc, QStringLiteral("c"));
        const qint64 a = lib.addMessage(conv, true, QStringLiteral("1"), MessageState::Complete);
        const qint64 b = lib.addMessage(conv, false, QStringLiteral("2"), MessageState::Complete);
        lib.addMessage(conv, true, QStringLiteral("3"), MessageState::Complete);
        QVERIFY(lib.deleteMessagesFrom(conv, b));
        QCOMPARE(lib.messages(conv).size(), 1);
        QCOMPARE(lib.messages(conv).first().id, a);
        QVERIFY(lib.removeDocument(doc));
        QVERIFY(!lib.conversation(conv));
        QVERIFY(lib.messages(conv).isEmpty());
    }

    void newerSchemaIsRefused() {
        const QString path = m_dir.filePath(QStringLiteral("newer.sqlite"));
        {
            Library lib;
            QVERIFY(lib.open(path));
        }
        {
            QSqlDatabase db =
                QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), QStringLiteral("raw"));
            db.setDatabaseName(path);
            QVERIFY(db.open());
            QSqlQuery q(db);
            QVERIFY(q.exec(QStringLiteral("INSERT INTO schema_migrations VALUES (99, '')")));
            db.close();
        }
        QSqlDatabase::removeDatabase(QStringLiteral("raw"));
        Library lib;
        QVERIFY(!lib.open(path));
        QVERIFY(lib.errorString().contains(QStringLiteral("newer Lectern")));
    }
};

QTEST_GUILESS_MAIN(TestLibrary)
#include "tst_library.moc"
