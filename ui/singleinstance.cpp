// SingleInstance: a local socket per user; messages are one QDataStream'd QStringList.
#include "singleinstance.h"

#include <QCoreApplication>
#include <QCryptographicHash>
#include <QDataStream>
#include <QLocalServer>
#include <QLocalSocket>

#include <memory>

namespace {
constexpr int kConnectTimeoutMs = 500;
}  // namespace

SingleInstance::SingleInstance(const QString& serverName, QObject* parent)
    : QObject(parent), m_serverName(serverName.isEmpty() ? defaultServerName() : serverName)
{
}

SingleInstance::~SingleInstance() = default;

QString SingleInstance::defaultServerName()
{
    QString user = qEnvironmentVariable("USER");
    if (user.isEmpty())
        user = qEnvironmentVariable("USERNAME");
    const QString app = QCoreApplication::applicationName().isEmpty()
                            ? QStringLiteral("Lectern")
                            : QCoreApplication::applicationName();
    const QByteArray hash =
        QCryptographicHash::hash((app + QLatin1Char('\n') + user).toUtf8(), QCryptographicHash::Sha256)
            .toHex()
            .left(16);
    return app.toLower() + QLatin1Char('-') + QString::fromLatin1(hash);
}

bool SingleInstance::start()
{
    if (m_server)
        return true;
    {
        QLocalSocket probe;
        probe.connectToServer(m_serverName);
        if (probe.waitForConnected(kConnectTimeoutMs)) {
            probe.disconnectFromServer();
            return false;  // another instance answers: we are secondary
        }
    }
    // Nobody answers: whatever is left under that name (a crashed instance's socket) is stale.
    QLocalServer::removeServer(m_serverName);
    auto* server = new QLocalServer(this);
    server->setSocketOptions(QLocalServer::UserAccessOption);
    if (!server->listen(m_serverName)) {
        qWarning("SingleInstance: cannot listen on %s: %s", qPrintable(m_serverName),
                 qPrintable(server->errorString()));
        delete server;
        return false;
    }
    m_server = server;
    connect(m_server, &QLocalServer::newConnection, this, &SingleInstance::onNewConnection);
    return true;
}

bool SingleInstance::sendMessage(const QStringList& paths, int timeoutMs)
{
    QLocalSocket socket;
    socket.connectToServer(m_serverName);
    if (!socket.waitForConnected(timeoutMs))
        return false;
    QByteArray data;
    {
        QDataStream out(&data, QIODevice::WriteOnly);
        out.setVersion(QDataStream::Qt_6_4);
        out << paths;
    }
    socket.write(data);
    if (!socket.waitForBytesWritten(timeoutMs))
        return false;
    // The primary closes the connection once it has read the whole message.
    if (socket.state() != QLocalSocket::UnconnectedState)
        socket.waitForDisconnected(timeoutMs);
    return true;
}

void SingleInstance::onNewConnection()
{
    while (QLocalSocket* socket = m_server->nextPendingConnection()) {
        connect(socket, &QLocalSocket::disconnected, socket, &QObject::deleteLater);
        // Owned by the connection below, so it goes with the socket.
        auto stream = std::make_shared<QDataStream>(socket);
        stream->setVersion(QDataStream::Qt_6_4);
        auto done = std::make_shared<bool>(false);
        auto readMessage = [this, socket, stream, done] {
            if (*done)
                return;
            stream->startTransaction();
            QStringList paths;
            *stream >> paths;
            if (!stream->commitTransaction())
                return;  // not all of it yet
            *done = true;
            socket->disconnectFromServer();
            Q_EMIT messageReceived(paths);
        };
        connect(socket, &QLocalSocket::readyRead, this, readMessage);
        if (socket->bytesAvailable() > 0)
            readMessage();
    }
}
