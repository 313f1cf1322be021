// lectern-cli extract end to end: text with form feeds between pages, --json with the location
// map, --password, warnings on stderr, and one-line errors with exit code 1.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

#include "cli_runner.h"
#include "ingesttestutil.h"

class TstExtractCommand : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void pagesSeparatedByFormFeed()
    {
        const CliRun r = runLecternCli({QStringLiteral("extract"), documentFixture("layout-running-headers.pdf")});
        QCOMPARE(r.exitCode, 0);
        QCOMPARE(r.out.count('\f'), 4);
        QVERIFY(r.out.split('\f').value(1).startsWith("Chapter 2 of the manual"));
        QVERIFY(r.err.isEmpty());
    }

    void json()
    {
        const CliRun r = runLecternCli({QStringLiteral("extract"), QStringLiteral("--json"),
                                        documentFixture("layout-two-column.pdf")});
        QCOMPARE(r.exitCode, 0);
        QJsonParseError error;
        const QJsonObject o = QJsonDocument::fromJson(r.out, &error).object();
        QCOMPARE(error.error, QJsonParseError::NoError);
        QCOMPARE(o.value(QStringLiteral("format")).toString(), QStringLiteral("pdf"));
        const QByteArray text = o.value(QStringLiteral("text")).toString().toUtf8();
        QVERIFY(text.startsWith("A Two Column Study of Reading"));
        const QJsonArray pages = o.value(QStringLiteral("pages")).toArray();
        QCOMPARE(pages.size(), 1);
        QCOMPARE(pages[0].toObject().value(QStringLiteral("width")).toDouble(), 612.0);
        const QJsonArray map = o.value(QStringLiteral("map")).toArray();
        QVERIFY(map.size() >= 10);
        const QJsonObject span = map[0].toObject();
        QCOMPARE(span.value(QStringLiteral("begin")).toInt(), 0);
        QCOMPARE(text.mid(0, span.value(QStringLiteral("end")).toInt()), QByteArray("A Two Column Study of Reading"));
        QCOMPARE(span.value(QStringLiteral("rect")).toArray().size(), 4);
        QVERIFY(o.value(QStringLiteral("warnings")).toArray().isEmpty());
    }

    void passwordAndWarnings()
    {
        CliRun r = runLecternCli({QStringLiteral("extract"), QStringLiteral("--password"),
                                  QStringLiteral("secret"), documentFixture("encrypted.pdf")});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains("a document is read once"));
        r = runLecternCli({QStringLiteral("extract"), documentFixture("no-text-layer.pdf")});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.err.contains("lectern-cli: warning: page 2 has no text layer"));
        QCOMPARE(r.out.count('\f'), 2);
    }

    void errors_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("code");
        QTest::addColumn<QByteArray>("fragment");
        QTest::newRow("encrypted") << QStringList{documentFixture("encrypted.pdf")} << 1
                                   << QByteArray("the PDF is encrypted; give its password (--password)");
        QTest::newRow("directory") << QStringList{QStringLiteral(LECTERN_TEST_DATA_DIR)} << 1
                                   << QByteArray("is a directory");
        QTest::newRow("zip bomb") << QStringList{documentFixture("zip-bomb.epub")} << 1 << QByteArray("zip bomb");
        QTest::newRow("no file") << QStringList{} << 2 << QByteArray("exactly one file");
    }
    void errors()
    {
        QFETCH(QStringList, args);
        QFETCH(int, code);
        QFETCH(QByteArray, fragment);
        const CliRun r = runLecternCli(QStringList{QStringLiteral("extract")} + args);
        QCOMPARE(r.exitCode, code);
        QVERIFY2(r.err.startsWith("lectern-cli: ") && r.err.count('\n') == 1 && r.err.contains(fragment),
                 r.err.constData());
        QVERIFY(r.out.isEmpty());
    }
};

QTEST_GUILESS_MAIN(TstExtractCommand)
#include "tst_extractcommand.moc"
