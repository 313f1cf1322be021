// SentenceSplitter: ICU sentence breaks with suppressions, as byte ranges into UTF-8.
#include <QTest>

#include "ingesttestutil.h"
#include "sentencesplitter.h"

using Ingest::SentenceSplitter;

class TstSentenceSplitter : public QObject {
    Q_OBJECT

    static QStringList sentences(const QByteArray& text)
    {
        QStringList out;
        for (const auto& [b, e] : SentenceSplitter::split(text))
            out.append(QString::fromUtf8(text.mid(b, e - b)));
        return out;
    }

private Q_SLOTS:
    void abbreviationsDoNotEndSentences()
    {
        // ICU's English suppressions cover "Mr.", "Mrs.", "e.g.", "Mt." (not "Dr.", not "p.m.").
        const QStringList s =
            sentences("Mr. Smith met Mrs. Hale at noon, e.g. on Mt. Hood. They talked. Was it late? Yes!");
        QCOMPARE(s, (QStringList{QStringLiteral("Mr. Smith met Mrs. Hale at noon, e.g. on Mt. Hood."),
                                 QStringLiteral("They talked."), QStringLiteral("Was it late?"),
                                 QStringLiteral("Yes!")}));
    }

    void byteOffsetsWithMultibyteText()
    {
        const QByteArray text = QStringLiteral("Café crème. Ça va — très bien!  Fin.").toUtf8();
        const auto ranges = SentenceSplitter::split(text);
        QCOMPARE(ranges.size(), 3);
        QCOMPARE(ranges[0].first, 0);
        QCOMPARE(text.mid(ranges[0].first, ranges[0].second - ranges[0].first),
                 QStringLiteral("Café crème.").toUtf8());
        QCOMPARE(text.mid(ranges[1].first, ranges[1].second - ranges[1].first),
                 QStringLiteral("Ça va — très bien!").toUtf8());
        QCOMPARE(ranges[2].second, text.size());
        for (const auto& [b, e] : ranges)
            QVERIFY(isUtf8Boundary(text, b) && isUtf8Boundary(text, e));
    }

    void paragraphsAndEdges()
    {
        QCOMPARE(sentences("First paragraph without stop\n\nSecond one."),
                 (QStringList{QStringLiteral("First paragraph without stop"),
                              QStringLiteral("Second one.")}));
        QVERIFY(SentenceSplitter::split(QByteArray()).isEmpty());
        QVERIFY(SentenceSplitter::split("   \n\n ").isEmpty());
    }

    void withoutSuppressionsMrEnds()
    {
        // The explicit locale without "ss" shows what the suppressions buy.
        const QByteArray text("Mr. Smith left.");
        QCOMPARE(SentenceSplitter::split(text, "en@ss=none").size(), 2);
        QCOMPARE(SentenceSplitter::split(text).size(), 1);
    }
};

QTEST_GUILESS_MAIN(TstSentenceSplitter)
#include "tst_sentencesplitter.moc"
