// Sentence boundaries over UTF-8 text with ICU's sentence BreakIterator and the locale's
// suppressions ("en@ss=standard"), so "Mr. Smith" or "e.g. this" do not end a sentence.
#pragma once

#include <QByteArray>
#include <QPair>
#include <QVector>

namespace Ingest {

class SentenceSplitter {
public:
    // [begin, end) byte ranges into `utf8`, whitespace trimmed at both ends, empty ones left out.
    // `locale` is an ICU locale id; "@ss=standard" is added when it has no keywords.
    static QVector<QPair<qint64, qint64>> split(const QByteArray& utf8,
                                                const char* locale = "en");
};

}  // namespace Ingest
