// Encoding detection and decoding; see textdecoder.h.
#include "textdecoder.h"

#include <unicode/ucnv.h>
#include <unicode/ucsdet.h>

#include <memory>

namespace Ingest {

namespace {

struct Bom {
    const char* bytes;
    int size;
    const char* name;
};

// Longest first: the UTF-32LE mark starts with the UTF-16LE one.
constexpr Bom kBoms[] = {
    {"\x00\x00\xFE\xFF", 4, "UTF-32BE"}, {"\xFF\xFE\x00\x00", 4, "UTF-32LE"},
    {"\xEF\xBB\xBF", 3, "UTF-8"},         {"\xFE\xFF", 2, "UTF-16BE"},
    {"\xFF\xFE", 2, "UTF-16LE"},
};

// Length of the valid UTF-8 sequence at p (1-4), or 0 when it is invalid.
int utf8SequenceLength(const unsigned char* p, qsizetype left)
{
    const unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    int n = 0;
    char32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; }
    else return 0;
    if (left < n)
        return 0;
    for (int i = 1; i < n; ++i) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

lectern::Result<QString> convertWithIcu(const QByteArray& bytes, const char* charset)
{
    UErrorCode status = U_ZERO_ERROR;
    std::unique_ptr<UConverter, void (*)(UConverter*)> conv(ucnv_open(charset, &status),
                                                            ucnv_close);
    if (U_FAILURE(status))
        return lectern::make_error(std::string("cannot convert from ") + charset);
    QString out;
    out.resize(bytes.size() * 2 + 16);  // every byte gives at most two UTF-16 units
    status = U_ZERO_ERROR;
    const int32_t n = ucnv_toUChars(conv.get(), reinterpret_cast<UChar*>(out.data()),
                                    int32_t(out.size()), bytes.constData(),
                                    int32_t(bytes.size()), &status);
    if (U_FAILURE(status))
        return lectern::make_error(std::string("cannot convert from ") + charset + ": " +
                                   u_errorName(status));
    out.resize(n);
    return out;
}

}  // namespace

QString TextDecoder::decodeUtf8Lossy(const QByteArray& bytes, qsizetype* invalid)
{
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.constData());
    const qsizetype size = bytes.size();
    QByteArray repaired;
    repaired.reserve(size);
    qsizetype bad = 0;
    for (qsizetype i = 0; i < size;) {
        const int n = utf8SequenceLength(p + i, size - i);
        if (n == 0) {
            repaired.append("\xEF\xBF\xBD");
            ++bad;
            ++i;
            // One replacement per maximal invalid run of continuation bytes.
            while (i < size && (p[i] & 0xC0) == 0x80)
                ++i;
            continue;
        }
        repaired.append(reinterpret_cast<const char*>(p + i), n);
        i += n;
    }
    if (invalid)
        *invalid = bad;
    return QString::fromUtf8(repaired);
}

lectern::Result<DecodedText> TextDecoder::decode(const QByteArray& bytes)
{
    DecodedText out;
    for (const Bom& bom : kBoms) {
        if (bytes.startsWith(QByteArray::fromRawData(bom.bytes, bom.size))) {
            out.encoding = QString::fromLatin1(bom.name);
            const QByteArray body = bytes.mid(bom.size);
            if (out.encoding == QLatin1String("UTF-8")) {
                qsizetype invalid = 0;
                out.text = decodeUtf8Lossy(body, &invalid);
                if (invalid > 0)
                    out.warnings.append(QStringLiteral("invalid UTF-8 repaired (%1 sequences "
                                                       "replaced by U+FFFD)").arg(invalid));
            } else {
                auto text = convertWithIcu(body, bom.name);
                if (!text)
                    return text.error();
                out.text = std::move(*text);
            }
            out.text = out.text.normalized(QString::NormalizationForm_C);
            return out;
        }
    }

    // Count valid multi-byte sequences and invalid bytes: text that is mostly good UTF-8 with
    // a few broken bytes is UTF-8 to repair, not Latin-1.
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.constData());
    qsizetype multi = 0, invalid = 0, nuls = 0;
    for (qsizetype i = 0; i < bytes.size();) {
        if (p[i] == 0)
            ++nuls;
        const int n = utf8SequenceLength(p + i, bytes.size() - i);
        if (n == 0) { ++invalid; ++i; continue; }
        if (n > 1)
            ++multi;
        i += n;
    }
    if (invalid == 0 && nuls == 0) {
        out.encoding = QStringLiteral("UTF-8");
        out.text = QString::fromUtf8(bytes).normalized(QString::NormalizationForm_C);
        return out;
    }

    QString detected;
    int confidence = 0;
    {
        UErrorCode status = U_ZERO_ERROR;
        std::unique_ptr<UCharsetDetector, void (*)(UCharsetDetector*)> det(ucsdet_open(&status),
                                                                           ucsdet_close);
        if (U_SUCCESS(status)) {
            // The detector only needs a sample; 64 KiB keeps it fast on big files.
            const int32_t sample = int32_t(qMin<qsizetype>(bytes.size(), 64 * 1024));
            ucsdet_setText(det.get(), bytes.constData(), sample, &status);
            const UCharsetMatch* match = ucsdet_detect(det.get(), &status);
            if (U_SUCCESS(status) && match) {
                detected = QString::fromLatin1(ucsdet_getName(match, &status));
                confidence = ucsdet_getConfidence(match, &status);
            }
        }
    }

    const bool wide = detected.startsWith(QLatin1String("UTF-16")) ||
                      detected.startsWith(QLatin1String("UTF-32"));
    if (nuls > 0 && !(wide && confidence >= 30))
        return lectern::make_error("not a text, PDF or EPUB file (binary data)");

    if (!wide && (detected.isEmpty() || detected == QLatin1String("UTF-8") || confidence < 20 ||
                  (multi > 0 && invalid <= multi))) {
        out.encoding = QStringLiteral("UTF-8");
        qsizetype bad = 0;
        out.text = decodeUtf8Lossy(bytes, &bad).normalized(QString::NormalizationForm_C);
        out.warnings.append(
            QStringLiteral("invalid UTF-8 repaired (%1 sequences replaced by U+FFFD)").arg(bad));
        return out;
    }
    auto text = convertWithIcu(bytes, detected.toLatin1().constData());
    if (!text)
        return text.error();
    out.encoding = detected;
    out.text = text->normalized(QString::NormalizationForm_C);
    if (confidence < 50)
        out.warnings.append(QStringLiteral("encoding guessed as %1 (confidence %2%)")
                                .arg(detected)
                                .arg(confidence));
    return out;
}

}  // namespace Ingest
