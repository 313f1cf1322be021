// Bytes of a text file to a QString: byte-order marks first, then strict UTF-8, then ICU's
// charset detector (ucsdet). Invalid UTF-8 is repaired with U+FFFD and reported.
#pragma once

#include <QByteArray>
#include <QString>
#include <QStringList>

#include "lectern/result.h"

namespace Ingest {

struct DecodedText {
    QString text;       // NFC
    QString encoding;   // "UTF-8", "UTF-16LE", "ISO-8859-1", "Shift_JIS", ...
    QStringList warnings;
};

class TextDecoder {
public:
    // Fails only for bytes that are not text at all (binary data with NUL bytes that no
    // detector calls UTF-16/32) or an encoding ICU cannot convert.
    static lectern::Result<DecodedText> decode(const QByteArray& bytes);

    // UTF-8 with every invalid sequence replaced by one U+FFFD; `invalid` counts them.
    static QString decodeUtf8Lossy(const QByteArray& bytes, qsizetype* invalid);
};

}  // namespace Ingest
