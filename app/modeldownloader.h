// Download a model file from a URL with progress, resume and a SHA-256 check. Bytes go to
// "<destination>.part"; a later start() with the same destination continues from its size with an
// HTTP Range request (a server that ignores Range restarts from zero). Only a complete file whose
// checksum matches is renamed to the destination. Hashing runs off the GUI thread.
#pragma once

#include <QFile>
#include <QNetworkAccessManager>
#include <QObject>
#include <QString>
#include <QUrl>

class QNetworkReply;

class ModelDownloader : public QObject {
    Q_OBJECT

  public:
    explicit ModelDownloader(QObject* parent = nullptr);
    ~ModelDownloader() override;

    // expectedSha256: lowercase or uppercase hex; empty = no check (the hash is still reported).
    void start(const QUrl& url, const QString& destination, const QString& expectedSha256 = {});
    // Stop now, keeping the .part file for a later start().
    void cancel();
    bool isRunning() const { return m_reply != nullptr || m_hashing; }
    static QString partPath(const QString& destination) {
        return destination + QStringLiteral(".part");
    }

  Q_SIGNALS:
    // total is -1 while unknown; both count the whole file, resumed bytes included.
    void progress(qint64 received, qint64 total);
    void verifying();
    void finished(const QString& destination, const QString& sha256);
    // canResume: the .part file is kept and start() again continues from it.
    void failed(const QString& message, bool canResume);

  private:
    void onMetaData();
    void onReadyRead();
    void onFinished();
    void verifyAndFinish();
    void fail(const QString& message, bool canResume);

    QNetworkAccessManager m_network;
    QNetworkReply* m_reply = nullptr;
    QFile m_part;
    QUrl m_url;
    QString m_destination;
    QString m_expected;
    qint64 m_offset = 0;  // bytes of the .part file this request continues after
    qint64 m_total = -1;
    bool m_accepted = false;  // the response's status and range were checked
    bool m_cancelled = false;
    bool m_hashing = false;
};
