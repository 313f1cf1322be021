// A tiny HTTP/1.1 server on a QTcpServer for the download tests (tests/app/tst_modeldownloader.cpp,
// tests/ui/tst_modeldownloadui.cpp): serves `body` at any path except /missing* (404), one request
// per connection, honours "Range: bytes=N-" unless told not to, and can cut the line or stall
// mid-body.
#pragma once

#include <QList>
#include <QTcpServer>
#include <QTcpSocket>
#include <QUrl>

class TinyHttpServer : public QTcpServer {
public:
    QByteArray body;
    qint64 dropAfter = -1;   // next response: send this many body bytes, then cut the line
    qint64 stallAfter = -1;  // next response: send this many body bytes, then wait forever
    bool honourRange = true;   // false: answer every request with the whole body (200)
    QList<QByteArray> ranges;  // the Range header of each request ("" when none)

    TinyHttpServer()
    {
        connect(this, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket* s = nextPendingConnection()) {
                auto* buffer = new QByteArray;
                connect(s, &QObject::destroyed, [buffer] { delete buffer; });
                connect(s, &QTcpSocket::readyRead, s, [this, s, buffer] {
                    *buffer += s->readAll();
                    if (buffer->contains("\r\n\r\n"))
                        respond(s, *buffer);
                });
                connect(s, &QTcpSocket::disconnected, s, &QObject::deleteLater);
            }
        });
    }
    QUrl url(const QString& path = QStringLiteral("/model.bin")) const
    {
        return QUrl(QStringLiteral("http://127.0.0.1:%1%2").arg(serverPort()).arg(path));
    }

private:
    void respond(QTcpSocket* s, const QByteArray& request)
    {
        QByteArray range;
        for (const QByteArray& line : request.split('\n'))
            if (line.toLower().startsWith("range:"))
                range = line.mid(6).trimmed();
        ranges << range;
        if (!request.startsWith("GET /") || request.startsWith("GET /missing")) {
            s->write("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            s->disconnectFromHost();
            return;
        }
        qint64 from = 0;
        if (honourRange && range.startsWith("bytes="))
            from = range.mid(6, range.indexOf('-') - 6).toLongLong();
        const QByteArray part = body.mid(from);
        QByteArray head = from > 0 ? "HTTP/1.1 206 Partial Content\r\n" : "HTTP/1.1 200 OK\r\n";
        head += "Content-Length: " + QByteArray::number(part.size()) + "\r\nConnection: close\r\n";
        if (from > 0)
            head += "Content-Range: bytes " + QByteArray::number(from) + '-' +
                    QByteArray::number(body.size() - 1) + '/' + QByteArray::number(body.size()) +
                    "\r\n";
        s->write(head + "\r\n");
        if (dropAfter >= 0) {
            s->write(part.left(dropAfter));
            dropAfter = -1;
            s->flush();
            s->abort();  // the connection drops mid-body
            return;
        }
        if (stallAfter >= 0) {
            s->write(part.left(stallAfter));
            stallAfter = -1;
            s->flush();
            return;  // the rest never comes; the client has to give up (Pause)
        }
        s->write(part);
        s->disconnectFromHost();
    }
};
