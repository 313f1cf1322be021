// SingleInstance: one running Lectern per user. The first launch listens on a local socket
// (QLocalServer, named from the user and the application name); a later launch finds it, hands
// over its command-line files (or an empty "activate" message) and exits. A socket left behind
// by a crashed instance is removed (QLocalServer::removeServer) when connecting to it fails.
#pragma once

#include <QObject>
#include <QString>
#include <QStringList>

class QLocalServer;

class SingleInstance : public QObject
{
    Q_OBJECT

public:
    // serverName: empty = defaultServerName() (tests pass a unique one).
    explicit SingleInstance(const QString& serverName = {}, QObject* parent = nullptr);
    ~SingleInstance() override;

    // "<app>-<hash of user and app name>": short enough for a socket path, private to the user.
    static QString defaultServerName();
    QString serverName() const { return m_serverName; }

    // Becomes the primary instance (listening) unless another one answers. Returns isPrimary().
    bool start();
    bool isPrimary() const { return m_server != nullptr; }

    // From a secondary instance: hand paths (empty: just "activate") to the primary one.
    // Returns false when it could not be reached or did not take the message in time.
    bool sendMessage(const QStringList& paths, int timeoutMs = 2000);

Q_SIGNALS:
    // In the primary instance: another launch sent these paths (absolute; empty = activate).
    void messageReceived(const QStringList& paths);

private:
    void onNewConnection();

    QString m_serverName;
    QLocalServer* m_server = nullptr;
};
