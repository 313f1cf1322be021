// HTML/XHTML to plain text: script/style dropped, block elements become paragraph breaks, <br>
// a line break, <pre> keeps its whitespace, headings are kept as blocks with their level.
#pragma once

#include <QString>
#include <QStringView>
#include <QVector>

namespace Ingest {

class HtmlToText {
public:
    struct Block {
        QString text;      // whitespace collapsed (except inside <pre>), trimmed, never empty
        int headingLevel;  // 1-6 for <h1>-<h6>, 0 for other blocks
    };
    struct Result {
        QString title;  // <title>, trimmed
        QVector<Block> blocks;
    };

    static Result convert(QStringView html);
    // The blocks joined by blank lines.
    static QString toPlainText(const Result& result);
};

}  // namespace Ingest
