// ModelDownloader: Range-resumed HTTP download into a .part file, then SHA-256 (see header).
#include "modeldownloader.h"

#include <QCryptographicHash>
#include <QFileInfo>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QThread>

ModelDownloader::ModelDownloader(QObject* parent) : QObject(parent) {}

ModelDownloader::~ModelDownloader() {
    cancel();
}

void ModelDownloader::start(const QUrl& url, const QString& destination,
                            const QString& expectedSha256) {
    if (isRunning()) return;
    m_url = url;
    m_destination = destination;
    m_expected = expectedSha256.trimmed().toLower();
    m_cancelled = false;
    m_accepted = false;
    m_total = -1;
    m_part.setFileName(partPath(destination));
    if (!m_part.open(QIODevice::ReadWrite | QIODevice::Append))
        return fail(QStringLiteral("Cannot write %1 (%2). Choose another folder.")
                        .arg(m_part.fileName(), m_part.errorString()),
                    false);
    m_offset = m_part.size();
    QNetworkRequest request(url);
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute,
                         QNetworkRequest::NoLessSafeRedirectPolicy);
    if (m_offset > 0) request.setRawHeader("Range", "bytes=" + QByteArray::number(m_offset) + '-');
    m_reply = m_network.get(request);
    connect(m_reply, &QNetworkReply::metaDataChanged, this, &ModelDownloader::onMetaData);
    connect(m_reply, &QNetworkReply::readyRead, this, &ModelDownloader::onReadyRead);
    connect(m_reply, &QNetworkReply::finished, this, &ModelDownloader::onFinished);
}

void ModelDownloader::cancel() {
    if (!m_reply) return;
    m_cancelled = true;
    m_reply->abort();  // finished() follows synchronously and cleans up
}

void ModelDownloader::onMetaData() {
    if (m_accepted || !m_reply) return;
    const int status = m_reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    if (status == 0 || (status >= 300 && status < 400))
        return;  // not yet known, or a redirect being followed
    m_accepted = true;
    const qint64 length = m_reply->header(QNetworkRequest::ContentLengthHeader).isValid()
                              ? m_reply->header(QNetworkRequest::ContentLengthHeader).toLongLong()
                              : -1;
    if (status == 206) {
        // "Content-Range: bytes <first>-<last>/<total>": it must continue exactly where we are.
        const QByteArray range = m_reply->rawHeader("Content-Range");
        const qsizetype space = range.indexOf(' '), dash = range.indexOf('-'),
                        slash = range.indexOf('/');
        const qint64 first = range.mid(space + 1, dash - space - 1).toLongLong();
        if (space < 0 || dash < 0 || first != m_offset) {
            m_part.resize(0);  // unusable: start over cleanly next time
            return fail(
                QStringLiteral("The server resumed the download at the wrong place. Start the "
                               "download again."),
                true);
        }
        bool ok = false;
        const qint64 total = slash >= 0 ? range.mid(slash + 1).toLongLong(&ok) : -1;
        m_total = ok ? total : (length >= 0 ? m_offset + length : -1);
    } else if (status == 200) {
        if (m_offset > 0) {  // the server ignored Range: restart the file
            m_part.resize(0);
            m_offset = 0;
        }
        m_total = length;
    } else if (status == 416 && m_offset > 0) {
        m_total = m_offset;  // nothing left to send: the .part file may be complete; verify it
    } else {
        const QString reason =
            m_reply->attribute(QNetworkRequest::HttpReasonPhraseAttribute).toString();
        return fail(
            QStringLiteral("The server refused the download (HTTP %1 %2). Check the address.")
                .arg(status)
                .arg(reason),
            m_offset > 0);
    }
    Q_EMIT progress(m_offset, m_total);
}

void ModelDownloader::onReadyRead() {
    if (!m_reply) return;
    if (!m_accepted) onMetaData();
    if (!m_reply || !m_accepted) return;
    const int status = m_reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    const QByteArray data = m_reply->readAll();
    if (status == 416) return;
    if (m_part.write(data) != data.size())
        return fail(QStringLiteral("Cannot write %1 (%2). Free some disk space, then resume.")
                        .arg(m_part.fileName(), m_part.errorString()),
                    true);
    Q_EMIT progress(m_part.size(), m_total);
}

void ModelDownloader::onFinished() {
    if (!m_reply) return;
    onReadyRead();
    if (!m_reply) return;  // failed while reading
    QNetworkReply* reply = m_reply;
    m_reply = nullptr;
    reply->deleteLater();
    m_part.flush();
    m_part.close();
    if (m_cancelled)
        return fail(QStringLiteral("The download was cancelled. Start it again to continue."),
                    true);
    if (reply->error() != QNetworkReply::NoError && !(m_accepted && m_total == m_offset))
        return fail(
            QStringLiteral("The download stopped (%1). What was downloaded is kept: start it "
                           "again to continue.")
                .arg(reply->errorString()),
            true);
    if (m_total >= 0 && QFileInfo(m_part.fileName()).size() != m_total)
        return fail(QStringLiteral("The download ended early (%1 of %2 bytes). Start it again to "
                                   "continue.")
                        .arg(QFileInfo(m_part.fileName()).size())
                        .arg(m_total),
                    true);
    verifyAndFinish();
}

void ModelDownloader::verifyAndFinish() {
    m_hashing = true;
    Q_EMIT verifying();
    const QString part = m_part.fileName();
    auto hash = std::make_shared<QByteArray>();
    QThread* thread = QThread::create([part, hash] {
        QFile f(part);
        QCryptographicHash h(QCryptographicHash::Sha256);
        if (f.open(QIODevice::ReadOnly) && h.addData(&f)) *hash = h.result().toHex();
    });
    connect(thread, &QThread::finished, this, [this, thread, hash, part] {
        thread->deleteLater();
        m_hashing = false;
        const QString actual = QString::fromLatin1(*hash);
        if (actual.isEmpty())
            return fail(QStringLiteral("Cannot read %1 to check it.").arg(part), true);
        if (!m_expected.isEmpty() && actual != m_expected) {
            QFile::remove(part);  // a wrong file is not worth resuming
            return fail(
                QStringLiteral("The downloaded file is not the expected one (SHA-256 %1, "
                               "expected %2). Check the address and checksum, then download "
                               "again.")
                    .arg(actual.left(16), m_expected.left(16)),
                false);
        }
        QFile::remove(m_destination);
        if (!QFile::rename(part, m_destination))
            return fail(QStringLiteral("Cannot move the download to %1. Choose another folder.")
                            .arg(m_destination),
                        true);
        Q_EMIT finished(m_destination, actual);
    });
    thread->start();
}

void ModelDownloader::fail(const QString& message, bool canResume) {
    if (m_reply) {
        QNetworkReply* reply = m_reply;
        m_reply = nullptr;
        reply->disconnect(this);
        if (reply->isRunning() && reply->error() == QNetworkReply::NoError)
            reply->abort();  // one that already failed (an HTTP error) ends by itself
        reply->deleteLater();
    }
    if (m_part.isOpen()) m_part.close();
    Q_EMIT failed(message, canResume);
}
