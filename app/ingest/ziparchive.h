// Read-only access to a zip archive held in memory (libzip), with limits so a zip bomb cannot
// exhaust memory: every entry is read with a cap, whatever sizes its headers claim.
#pragma once

#include <QByteArray>
#include <QString>
#include <QStringList>

#include <memory>

#include "lectern/result.h"

namespace Ingest {

class ZipArchive {
public:
    struct Limits {
        qint64 maxEntryBytes = 64ll << 20;
        qint64 maxTotalBytes = 512ll << 20;
        int maxRatio = 200;  // for entries whose uncompressed size is over 1 MiB
    };

    static lectern::Result<ZipArchive> open(QByteArray bytes, const Limits& limits);
    ZipArchive(ZipArchive&&) noexcept;
    ZipArchive& operator=(ZipArchive&&) noexcept;
    ~ZipArchive();

    // Entry names as stored; names that are absolute or climb out with ".." are left out.
    QStringList names() const;
    bool contains(const QString& name) const;
    // The entry's bytes. Errors: missing entry, over a limit ("zip bomb"), corrupt data.
    lectern::Result<QByteArray> read(const QString& name);

private:
    struct Private;
    explicit ZipArchive(std::unique_ptr<Private> d);
    std::unique_ptr<Private> d;
};

}  // namespace Ingest
