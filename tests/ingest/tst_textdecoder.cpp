// TextDecoder: BOMs, strict UTF-8, ICU detection of legacy encodings, repair of invalid UTF-8,
// NFC, and refusal of binary data.
#include <QFile>
#include <QTest>

#include "ingesttestutil.h"
#include "textdecoder.h"

using Ingest::TextDecoder;

class TstTextDecoder : public QObject {
    Q_OBJECT

    static QByteArray read(const char* name)
    {
        QFile f(documentFixture(name));
        return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
    }

private Q_SLOTS:
    void detects_data()
    {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("encoding");
        QTest::addColumn<QString>("contains");
        QTest::newRow("utf-16le bom") << "utf16le-bom.txt" << "UTF-16LE" << QStringLiteral("Grüße aus Köln — ça va?");
        QTest::newRow("utf-8 bom") << "utf8-bom.txt" << "UTF-8" << QStringLiteral("Café crème, naïve résumé.");
        QTest::newRow("latin-1") << "latin1.txt" << "ISO-8859-1" << QStringLiteral("L'été dernier, à Orléans");
        QTest::newRow("shift-jis") << "shift-jis.txt" << "Shift_JIS" << QStringLiteral("吾輩は猫である。名前はまだ無い。");
        QTest::newRow("utf-8") << "book.md" << "UTF-8" << QStringLiteral("Mr. Smith arrived");
    }
    void detects()
    {
        QFETCH(QString, file);
        QFETCH(QString, encoding);
        QFETCH(QString, contains);
        auto decoded = TextDecoder::decode(read(file.toLatin1().constData()));
        QVERIFY2(decoded, decoded ? "" : decoded.error().message.c_str());
        QCOMPARE(decoded->encoding, encoding);
        QVERIFY2(decoded->text.contains(contains), qPrintable(decoded->text.left(80)));
        QVERIFY(!decoded->text.startsWith(QChar(0xFEFF)));  // the BOM is not text
        QVERIFY(!decoded->text.contains(QChar(0xFFFD)));
    }

    void repairsInvalidUtf8()
    {
        auto decoded = TextDecoder::decode(read("invalid-utf8.txt"));
        QVERIFY(decoded);
        QCOMPARE(decoded->encoding, QStringLiteral("UTF-8"));
        QVERIFY(decoded->text.contains(QStringLiteral("Valid “quotes” and café")));
        QVERIFY(decoded->text.contains(QStringLiteral(" and the rest — fine.")));
        QVERIFY(decoded->text.count(QChar(0xFFFD)) >= 2);  // FF FE, and C3 before '('
        QCOMPARE(decoded->warnings.size(), 1);
        QVERIFY(decoded->warnings.first().contains(QStringLiteral("invalid UTF-8 repaired")));
    }

    void normalisesToNfc()
    {
        // "e" + COMBINING ACUTE ACCENT -> U+00E9.
        auto decoded = TextDecoder::decode(QByteArray("caf\x65\xCC\x81"));
        QVERIFY(decoded);
        QCOMPARE(decoded->text, QStringLiteral("café"));
        QCOMPARE(decoded->text.size(), 4);
    }

    void rejectsBinary()
    {
        auto decoded = TextDecoder::decode(read("binary.dat"));
        QVERIFY(!decoded);
        QVERIFY(QString::fromStdString(decoded.error().message).contains(QStringLiteral("binary")));
    }

    void lossyDecoderCountsRuns()
    {
        qsizetype invalid = 0;
        QCOMPARE(TextDecoder::decodeUtf8Lossy(QByteArray("a\x80\x80z"), &invalid),
                 QStringLiteral("a\uFFFDz"));
        QCOMPARE(invalid, 1);
        // Overlong encoding of '/' and a UTF-16 surrogate are invalid in UTF-8.
        QCOMPARE(TextDecoder::decodeUtf8Lossy(QByteArray("\xC0\xAF|\xED\xA0\x80"), &invalid),
                 QStringLiteral("\uFFFD|\uFFFD"));
        QCOMPARE(invalid, 2);
    }
};

QTEST_GUILESS_MAIN(TstTextDecoder)
#include "tst_textdecoder.moc"
