// Sentence boundaries; see sentencesplitter.h.
#include "sentencesplitter.h"

#include <unicode/brkiter.h>
#include <unicode/utext.h>

#include <memory>
#include <string>

namespace Ingest {

namespace {

bool isSpaceByte(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == '\v';
}

}  // namespace

QVector<QPair<qint64, qint64>> SentenceSplitter::split(const QByteArray& utf8, const char* locale)
{
    QVector<QPair<qint64, qint64>> out;
    if (utf8.isEmpty())
        return out;
    std::string id = locale ? locale : "en";
    if (id.find('@') == std::string::npos)
        id += "@ss=standard";
    UErrorCode status = U_ZERO_ERROR;
    std::unique_ptr<icu::BreakIterator> it(
        icu::BreakIterator::createSentenceInstance(icu::Locale(id.c_str()), status));
    if (U_FAILURE(status) || !it)
        return {{0, utf8.size()}};
    // Over UTF-8 directly: ICU's native indices are then byte offsets.
    UText* text = utext_openUTF8(nullptr, utf8.constData(), utf8.size(), &status);
    if (U_FAILURE(status))
        return {{0, utf8.size()}};
    it->setText(text, status);
    if (U_SUCCESS(status)) {
        qint64 begin = it->first();
        for (qint64 end = it->next(); end != icu::BreakIterator::DONE; end = it->next()) {
            qint64 b = begin, e = end;
            while (b < e && isSpaceByte(utf8[b])) ++b;
            while (e > b && isSpaceByte(utf8[e - 1])) --e;
            if (e > b)
                out.append({b, e});
            begin = end;
        }
    }
    utext_close(text);
    return out;
}

}  // namespace Ingest
