// Helpers shared by the lectern-cli document-store tests (tst_cli_store*.cpp).
#pragma once

#include <QByteArray>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QString>
#include <QStringList>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "cli_runner.h"

namespace store_test {

inline QString model(const char* file)
{
    return QStringLiteral(LECTERN_TEST_DATA_DIR "/models/") + QLatin1String(file);
}

// Fixed-seed pseudo-random ids in [0, vocab).
inline std::vector<int> randomIds(int n, int vocab, std::uint32_t seed)
{
    std::mt19937 rng(seed);
    std::vector<int> ids(static_cast<std::size_t>(n));
    for (int& id : ids)
        id = int(rng() % std::uint32_t(vocab));
    return ids;
}

inline QString joinIds(const std::vector<int>& ids)
{
    QStringList items;
    items.reserve(qsizetype(ids.size()));
    for (const int id : ids)
        items << QString::number(id);
    return items.join(QLatin1Char(','));
}

inline bool writeFile(const QString& path, const QByteArray& bytes)
{
    QFile f(path);
    return f.open(QIODevice::WriteOnly | QIODevice::Truncate) && f.write(bytes) == bytes.size();
}

inline bool writeIds(const QString& path, const std::vector<int>& ids)
{
    return writeFile(path, joinIds(ids).toUtf8() + '\n');
}

inline std::vector<float> readFloats(const QString& path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    const QByteArray b = f.readAll();
    std::vector<float> v(std::size_t(b.size()) / sizeof(float));
    std::memcpy(v.data(), b.constData(), v.size() * sizeof(float));
    return v;
}

// Largest absolute difference; infinity when the sizes differ or either is empty.
inline double maxDiff(const std::vector<float>& a, const std::vector<float>& b)
{
    if (a.size() != b.size() || a.empty())
        return INFINITY;
    double m = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        m = std::max(m, double(std::fabs(a[i] - b[i])));
    return m;
}

inline bool copyDir(const QString& from, const QString& to)
{
    if (!QDir().mkpath(to))
        return false;
    QDirIterator it(from, QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden,
                    QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QFileInfo f(it.next());
        const QString target = to + f.filePath().mid(from.size());
        if (f.isDir()) {
            if (!QDir().mkpath(target))
                return false;
        } else if (!QFile::copy(f.filePath(), target)) {
            return false;
        }
    }
    return true;
}

// Every KV chunk file of a store (kv/b<block>/c<index>.kv), sorted.
inline QStringList chunkFiles(const QString& store)
{
    QStringList files;
    QDirIterator it(store + QStringLiteral("/kv"), {QStringLiteral("*.kv")}, QDir::Files,
                    QDirIterator::Subdirectories);
    while (it.hasNext())
        files << it.next();
    files.sort();
    return files;
}

}  // namespace store_test
