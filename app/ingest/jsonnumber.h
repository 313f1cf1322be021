// Integers read from JSON numbers (a QJsonValue holds a double) without an undefined conversion.
#pragma once

#include <QJsonValue>
#include <QtGlobal>

namespace Ingest {

// v as an integer, or `fallback` unless v is a number within +-2^53, where a double holds every
// integer: converting a larger one (a damaged location map's 2.2e109, found by fuzz_ingest) or a
// NaN to qint64 is undefined behaviour. Fractions truncate toward zero, as a cast does.
inline qint64 jsonInteger(const QJsonValue& v, qint64 fallback = 0)
{
    constexpr double limit = 9007199254740992.0;  // 2^53
    const double d = v.toDouble();
    return v.isDouble() && d >= -limit && d <= limit ? qint64(d) : fallback;
}

}  // namespace Ingest
