// ModelDownloader against a tiny HTTP/1.1 server on a QTcpServer: full download with SHA-256,
// a connection dropped mid-way then resumed with Range, a bad checksum, a server that ignores
// Range, and an HTTP error.
#include <QCryptographicHash>
#include <QFile>
#include <QRandomGenerator>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include "modeldownloader.h"
#include "tinyhttpserver.h"

class TestModelDownloader : public QObject {
    Q_OBJECT

  private:
    QTemporaryDir m_dir;
    TinyHttpServer m_server;
    QString m_sha;

    QString dest(const char* name) const { return m_dir.filePath(QLatin1String(name)); }
    static QByteArray read(const QString& path) {
        QFile f(path);
        return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
    }

  private Q_SLOTS:
    void initTestCase() {
        QVERIFY(m_server.listen(QHostAddress::LocalHost));
        m_server.body.resize(300000);
        QRandomGenerator gen(42);
        for (char& c : m_server.body) c = char(gen.bounded(256));
        m_sha = QString::fromLatin1(
            QCryptographicHash::hash(m_server.body, QCryptographicHash::Sha256).toHex());
    }

    void init() {
        m_server.ranges.clear();
        m_server.dropAfter = -1;
        m_server.honourRange = true;
    }

    void downloadsAndVerifies() {
        ModelDownloader d;
        QSignalSpy progress(&d, &ModelDownloader::progress);
        QSignalSpy finished(&d, &ModelDownloader::finished);
        QSignalSpy failed(&d, &ModelDownloader::failed);
        d.start(m_server.url(), dest("full.bin"), m_sha.toUpper());
        QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty() || !failed.isEmpty(), 30000);
        QVERIFY2(failed.isEmpty(),
                 failed.isEmpty() ? "" : qPrintable(failed.first().at(0).toString()));
        QCOMPARE(finished.first().at(1).toString(), m_sha);
        QCOMPARE(read(dest("full.bin")), m_server.body);
        QVERIFY(!QFile::exists(ModelDownloader::partPath(dest("full.bin"))));
        QCOMPARE(progress.last().at(0).toLongLong(), m_server.body.size());
        QCOMPARE(progress.last().at(1).toLongLong(), m_server.body.size());
        QVERIFY(!d.isRunning());
    }

    void resumesAfterADrop() {
        m_server.dropAfter = 100000;
        ModelDownloader d;
        QSignalSpy finished(&d, &ModelDownloader::finished);
        QSignalSpy failed(&d, &ModelDownloader::failed);
        d.start(m_server.url(), dest("resumed.bin"), m_sha);
        QTRY_COMPARE_WITH_TIMEOUT(failed.size(), 1, 30000);
        QVERIFY(failed.first().at(1).toBool());  // can resume
        const qint64 have = QFileInfo(ModelDownloader::partPath(dest("resumed.bin"))).size();
        QVERIFY(have > 0 && have <= 100000);
        QVERIFY(!QFile::exists(dest("resumed.bin")));

        d.start(m_server.url(), dest("resumed.bin"), m_sha);
        QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty() || failed.size() > 1, 30000);
        QCOMPARE(failed.size(), 1);
        QCOMPARE(m_server.ranges.last(), "bytes=" + QByteArray::number(have) + '-');
        QCOMPARE(read(dest("resumed.bin")), m_server.body);
    }

    void badChecksumIsRejected() {
        ModelDownloader d;
        QSignalSpy finished(&d, &ModelDownloader::finished);
        QSignalSpy failed(&d, &ModelDownloader::failed);
        d.start(m_server.url(), dest("bad.bin"), QString(64, QLatin1Char('0')));
        QTRY_COMPARE_WITH_TIMEOUT(failed.size(), 1, 30000);
        QVERIFY(finished.isEmpty());
        QVERIFY(!failed.first().at(1).toBool());
        QVERIFY(failed.first().at(0).toString().contains(QStringLiteral("not the expected one")));
        QVERIFY(!QFile::exists(dest("bad.bin")));
        QVERIFY(!QFile::exists(ModelDownloader::partPath(dest("bad.bin"))));
    }

    void serverIgnoringRangeRestarts() {
        m_server.honourRange = false;
        QFile part(ModelDownloader::partPath(dest("restart.bin")));
        QVERIFY(part.open(QIODevice::WriteOnly));
        part.write(QByteArray(1000, 'x'));  // stale bytes that must not survive
        part.close();
        ModelDownloader d;
        QSignalSpy finished(&d, &ModelDownloader::finished);
        QSignalSpy failed(&d, &ModelDownloader::failed);
        d.start(m_server.url(), dest("restart.bin"), m_sha);
        QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty() || !failed.isEmpty(), 30000);
        QVERIFY(failed.isEmpty());
        QCOMPARE(m_server.ranges.last(), QByteArray("bytes=1000-"));
        QCOMPARE(read(dest("restart.bin")), m_server.body);
    }

    void httpErrorIsReported() {
        ModelDownloader d;
        QSignalSpy failed(&d, &ModelDownloader::failed);
        d.start(m_server.url(QStringLiteral("/missing.bin")), dest("missing.bin"));
        QTRY_COMPARE_WITH_TIMEOUT(failed.size(), 1, 30000);
        QVERIFY(failed.first().at(0).toString().contains(QStringLiteral("HTTP 404")));
    }
};

QTEST_GUILESS_MAIN(TestModelDownloader)
#include "tst_modeldownloader.moc"
