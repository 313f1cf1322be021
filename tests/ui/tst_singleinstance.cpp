// SingleInstance: the first of two instances with the same name becomes primary, the second
// finds it and hands its paths over (they arrive through messageReceived), an empty message
// still arrives (activate), and a socket left behind by a crashed instance is recovered.
#include <QCoreApplication>
#include <QFile>
#include <QLocalSocket>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <QUuid>

#include <atomic>
#include <memory>

#include "singleinstance.h"

#ifdef Q_OS_UNIX
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#endif

namespace {

QString uniqueName()
{
    return QStringLiteral("lectern-test-%1-%2")
        .arg(QCoreApplication::applicationPid())
        .arg(QUuid::createUuid().toString(QUuid::Id128).left(12));
}

// sendMessage blocks until the primary has read the message, so it runs on another thread while
// this one's event loop serves the primary.
bool sendFromThread(const QString& name, const QStringList& paths)
{
    std::atomic<bool> sent{false};
    std::unique_ptr<QThread> thread(QThread::create([&] {
        SingleInstance secondary(name);
        sent = secondary.sendMessage(paths, 5000);
    }));
    thread->start();
    if (!QTest::qWaitFor([&] { return thread->isFinished(); }, 10000))
        thread->wait();
    return sent;
}

}  // namespace

class TestSingleInstance : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void defaultNameIsStable()
    {
        const QString name = SingleInstance::defaultServerName();
        QVERIFY(!name.isEmpty());
        QCOMPARE(SingleInstance::defaultServerName(), name);
        QVERIFY(name.size() < 64);
    }

    void secondInstanceHandsOverPaths()
    {
        const QString name = uniqueName();
        SingleInstance first(name);
        QVERIFY(first.start());
        QVERIFY(first.isPrimary());

        SingleInstance second(name);
        QVERIFY(!second.start());
        QVERIFY(!second.isPrimary());

        QSignalSpy received(&first, &SingleInstance::messageReceived);
        const QStringList paths{QStringLiteral("/tmp/a book.pdf"), QStringLiteral("/tmp/ü.epub")};
        QVERIFY(sendFromThread(name, paths));
        QTRY_COMPARE(received.size(), 1);
        QCOMPARE(received.at(0).at(0).toStringList(), paths);

        // A launch without files only asks the running one to come forward.
        QVERIFY(sendFromThread(name, {}));
        QTRY_COMPARE(received.size(), 2);
        QVERIFY(received.at(1).at(0).toStringList().isEmpty());
    }

    void noPrimaryMeansSendFails()
    {
        SingleInstance lonely(uniqueName());
        QVERIFY(!lonely.sendMessage({QStringLiteral("/tmp/x.pdf")}, 200));
    }

    void primaryGoneFreesTheName()
    {
        const QString name = uniqueName();
        {
            SingleInstance first(name);
            QVERIFY(first.start());
        }
        SingleInstance next(name);
        QVERIFY(next.start());
    }

    void staleSocketIsRecovered()
    {
#ifdef Q_OS_UNIX
        // A crashed instance leaves its socket file behind: nothing listens on it any more.
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString path = dir.filePath(QStringLiteral("stale.sock"));
        const QByteArray native = QFile::encodeName(path);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        QVERIFY(size_t(native.size()) < sizeof(addr.sun_path));
        std::memcpy(addr.sun_path, native.constData(), size_t(native.size()));
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        QVERIFY(fd >= 0);
        QCOMPARE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
        ::close(fd);
        QVERIFY(QFile::exists(path));

        SingleInstance recovered(path);
        QVERIFY(recovered.start());
        QVERIFY(recovered.isPrimary());

        QSignalSpy received(&recovered, &SingleInstance::messageReceived);
        QVERIFY(sendFromThread(path, {QStringLiteral("/tmp/after-crash.txt")}));
        QTRY_COMPARE(received.size(), 1);
        QCOMPARE(received.at(0).at(0).toStringList(), QStringList{QStringLiteral("/tmp/after-crash.txt")});
#else
        QSKIP("stale socket files are a Unix matter");
#endif
    }
};

QTEST_GUILESS_MAIN(TestSingleInstance)
#include "tst_singleinstance.moc"
