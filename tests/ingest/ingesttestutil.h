// Shared checks for the ingestion tests: fixture paths and the invariants every
// ExtractedDocument must hold (spans ordered, inside the text and their page, on UTF-8
// character boundaries).
#pragma once

#include <QRegularExpression>
#include <QString>
#include <QTest>

#include "extracteddocument.h"

inline QString documentFixture(const char* name)
{
    return QStringLiteral(LECTERN_TEST_DATA_DIR "/documents/") + QLatin1String(name);
}

inline bool isUtf8Boundary(const QByteArray& text, qint64 offset)
{
    return offset <= 0 || offset >= text.size() || (uchar(text[offset]) & 0xC0) != 0x80;
}

// QVERIFY-style: call as checkInvariants(doc); if (QTest::currentTestFailed()) return;
inline void checkInvariants(const Ingest::ExtractedDocument& doc)
{
    QVERIFY(QString::fromUtf8(doc.text).toUtf8() == doc.text);  // valid UTF-8
    qint64 previousEnd = 0;
    for (const Ingest::TextSpan& s : doc.map) {
        QVERIFY2(s.begin >= previousEnd && s.begin < s.end && s.end <= doc.text.size(),
                 qPrintable(QStringLiteral("span [%1,%2)").arg(s.begin).arg(s.end)));
        QVERIFY(isUtf8Boundary(doc.text, s.begin) && isUtf8Boundary(doc.text, s.end));
        QVERIFY(s.page >= 0 && s.page < doc.pages.size());
        const Ingest::PageInfo& p = doc.pages[s.page];
        QVERIFY(s.begin >= p.textBegin && s.end <= p.textEnd);
        previousEnd = s.end;
    }
    qint64 pageEnd = 0;
    for (const Ingest::PageInfo& p : doc.pages) {
        QVERIFY(p.textBegin >= pageEnd && p.textEnd >= p.textBegin && p.textEnd <= doc.text.size());
        pageEnd = p.textEnd;
    }
}

// Words: lower case, letters and digits only, so punctuation and spacing differences vanish.
inline QStringList normalisedWords(const QString& text)
{
    QStringList out;
    for (const QString& w : text.split(QRegularExpression(QStringLiteral("\\s+")), Qt::SkipEmptyParts)) {
        QString n;
        for (QChar c : w.toLower())
            if (c.isLetterOrNumber())
                n += c;
        if (!n.isEmpty())
            out.append(n);
    }
    return out;
}

// Length of the longest common subsequence of two word lists (O(n*m) time, O(m) memory).
inline int lcsLength(const QStringList& a, const QStringList& b)
{
    QVector<int> row(b.size() + 1, 0), next(b.size() + 1, 0);
    for (int i = 1; i <= a.size(); ++i) {
        for (int j = 1; j <= b.size(); ++j)
            next[j] = a[i - 1] == b[j - 1] ? row[j - 1] + 1 : std::max(row[j], next[j - 1]);
        std::swap(row, next);
    }
    return row[b.size()];
}
