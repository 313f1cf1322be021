// Tests for parse_world_vocab on broken vocabulary texts: each problem gives its own one-line
// message naming the line, and no input crashes the parser.
#include <QtTest>

#include <fstream>
#include <random>
#include <sstream>

#include "lectern/tokenizer.h"

namespace {

// 256 lines `N b'\xNN' 1` for bytes 0x00..0xFF (ids 1..256), like the head of the real file,
// optionally without one byte.
QByteArray byte_lines(int skip = -1) {
    QByteArray text;
    for (int b = 0; b < 256; ++b) {
        if (b == skip) continue;
        text += QByteArray::number(b + 1) + " b'\\x" +
                QByteArray::number(b, 16).rightJustified(2, '0') + "' 1\n";
    }
    return text;
}

std::string parse_error(const QByteArray& text) {
    auto result = lectern::parse_world_vocab(std::string_view(text.constData(), text.size()));
    return result ? std::string() : result.error().message;
}

}  // namespace

class TestWorldVocabErrors : public QObject {
    Q_OBJECT

  private Q_SLOTS:
    void broken_vocab_data() {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<QString>("where");    // the line the message must name
        QTest::addColumn<QString>("problem");  // a fragment that says what is wrong

        const QByteArray base = byte_lines();
        const QString line257 = QStringLiteral("vocab line 257:");
        QTest::newRow("wrong nbytes") << base + "257 'ab' 3\n"
                                      << line257 << QStringLiteral("2 bytes but the line says 3");
        QTest::newRow("str \\x80 is two bytes")
            << base + "257 '\\x80' 1\n"
            << line257 << QStringLiteral("2 bytes but the line says 1");
        QTest::newRow("bad escape") << base + "257 'a\\q' 2\n"
                                    << line257 << QStringLiteral("bad escape '\\q'");
        QTest::newRow("short hex escape") << base + "257 'a\\x4' 2\n"
                                          << line257 << QStringLiteral("2 hex digits");
        QTest::newRow("\\u in bytes") << base + "257 b'\\u0041' 1\n"
                                      << line257 << QStringLiteral("bad escape");
        QTest::newRow("surrogate") << base + "257 '\\ud800' 3\n"
                                   << line257 << QStringLiteral("surrogate");
        QTest::newRow("above U+10FFFF") << base + "257 '\\U00110000' 4\n"
                                        << line257 << QStringLiteral("above U+10FFFF");
        QTest::newRow("unterminated") << base + "257 'abc 3\n"
                                      << line257 << QStringLiteral("unterminated literal");
        QTest::newRow("escaped closing quote") << base + "257 'ab\\' 3\n"
                                               << line257 << QStringLiteral("unterminated literal");
        QTest::newRow("text after literal") << base + "257 'a'b' 2\n"
                                            << line257 << QStringLiteral("after the closing quote");
        QTest::newRow("no quote") << base + "257 abc 3\n"
                                  << line257 << QStringLiteral("does not start with a quote");
        QTest::newRow("non-ascii in bytes") << base + "257 b'\xC3\xA9' 2\n"
                                            << line257 << QStringLiteral("non-ASCII");
        QTest::newRow("invalid utf-8 in str") << base + "257 '\xC3' 1\n"
                                              << line257 << QStringLiteral("not valid UTF-8");
        QTest::newRow("non-numeric id") << base + "x57 'ab' 2\n"
                                        << line257 << QStringLiteral("id 'x57' is not a number");
        QTest::newRow("huge id") << base + "99999999999999999999999 'ab' 2\n"
                                 << line257 << QStringLiteral("above the limit");
        QTest::newRow("duplicate id") << base + "256 'ab' 2\n"
                                      << line257 << QStringLiteral("duplicate id 256");
        QTest::newRow("descending id") << base + "100 'ab' 2\n"
                                       << line257 << QStringLiteral("out of order");
        QTest::newRow("id 0") << "0 'a' 1\n" + base << QStringLiteral("vocab line 1:")
                              << QStringLiteral("reserved");
        QTest::newRow("non-numeric count") << base + "257 'ab' two\n"
                                           << line257 << QStringLiteral("is not a number");
        QTest::newRow("zero count") << base + "257 '' 0\n"
                                    << line257 << QStringLiteral("outside 1..128");
        QTest::newRow("count too big") << base + "257 'ab' 129\n"
                                       << line257 << QStringLiteral("outside 1..128");
        QTest::newRow("truncated line") << base + "257 'ab'\n"
                                        << line257 << QStringLiteral("truncated line");
        QTest::newRow("truncated file")
            << base + "257" << line257 << QStringLiteral("truncated line");
        QTest::newRow("empty line") << base + "\n257 'ab' 2\n"
                                    << line257 << QStringLiteral("empty line");
        QTest::newRow("duplicate bytes") << base + "257 'ab' 2\n258 b'ab' 2\n"
                                         << QStringLiteral("vocab line 258:")
                                         << QStringLiteral("repeat those of id 257 (line 257)");
        QTest::newRow("missing single byte")
            << byte_lines(0x41) + "257 'ab' 2\n"
            << QStringLiteral("vocab:")
            << QStringLiteral("byte 0x41 has no token; every byte must be encodable");
        QTest::newRow("empty input")
            << QByteArray() << QStringLiteral("vocab:") << QStringLiteral("empty input");
        QTest::newRow("bad line 5")
            << QByteArray("1 'a' 1\n2 'b' 1\n3 'c' 1\n4 'd' 1\n5 'e 1\n")
            << QStringLiteral("vocab line 5:") << QStringLiteral("unterminated");
    }

    void broken_vocab() {
        QFETCH(QByteArray, text);
        QFETCH(QString, where);
        QFETCH(QString, problem);
        const QString message = QString::fromStdString(parse_error(text));
        QVERIFY2(!message.isEmpty(), "broken vocabulary was accepted");
        QVERIFY2(message.startsWith(where), qPrintable(message));
        QVERIFY2(message.contains(problem), qPrintable(message));
        QVERIFY2(!message.contains(QLatin1Char('\n')), qPrintable(message));
    }

    void valid_vocab_data() {
        QTest::addColumn<QByteArray>("line");
        QTest::addColumn<QByteArray>("bytes");
        QTest::newRow("str") << QByteArray("257 'ab' 2") << QByteArray("ab");
        QTest::newRow("double quotes") << QByteArray("257 \"it's\" 4") << QByteArray("it's");
        QTest::newRow("spaces") << QByteArray("257 ' a b ' 5") << QByteArray(" a b ");
        QTest::newRow("str \\x80") << QByteArray("257 '\\x80' 2") << QByteArray("\xC2\x80");
        QTest::newRow("bytes \\x80") << QByteArray("257 b'\\x80\\x81' 2") << QByteArray("\x80\x81");
        QTest::newRow("\\u") << QByteArray("257 '\\u00e9\\u4e2d' 5")
                             << QByteArray("\xC3\xA9\xE4\xB8\xAD");
        QTest::newRow("\\U") << QByteArray("257 '\\U0001F600' 4") << QByteArray("\xF0\x9F\x98\x80");
        QTest::newRow("raw utf-8")
            << QByteArray("257 '\xE4\xB8\xAD' 3") << QByteArray("\xE4\xB8\xAD");
        QTest::newRow("simple escapes") << QByteArray("257 '\\n\\t\\r\\\\\\'\\\"\\a\\b\\f\\v' 10")
                                        << QByteArray("\n\t\r\\'\"\a\b\f\v");
        QTest::newRow("octal") << QByteArray("257 b'\\0\\101\\7' 3") << QByteArray("\0A\7", 3);
        QTest::newRow("crlf") << QByteArray("257 'ab' 2\r") << QByteArray("ab");
    }

    void valid_vocab() {
        QFETCH(QByteArray, line);
        QFETCH(QByteArray, bytes);
        const QByteArray text =
            byte_lines() + line + "\n260 'zzz' 3";  // no final newline, an id gap
        auto tok = lectern::parse_world_vocab(std::string_view(text.constData(), text.size()));
        QVERIFY2(tok.has_value(), tok ? "" : tok.error().message.c_str());
        QCOMPARE((*tok)->vocab_size(), std::size_t{261});
        QCOMPARE(QByteArray::fromStdString(*(*tok)->token_bytes(257)), bytes);
        QVERIFY(!(*tok)->token_bytes(258).has_value());  // a gap in the ids is not a token
        const std::string encoded = bytes.toStdString();
        QCOMPARE((*tok)->encode(encoded), std::vector<lectern::token_id>{257});
    }

    // A poor man's fuzzer: mutated copies of the real file's head must parse or fail cleanly.
    void mutations_never_crash() {
        std::ifstream file(LECTERN_VOCAB_PATH, std::ios::binary);
        QVERIFY(file.good());
        std::string head(20000, '\0');
        file.read(head.data(), static_cast<std::streamsize>(head.size()));
        head.resize(static_cast<std::size_t>(file.gcount()));
        const std::string alphabet = " '\"\\bxuU0123456789\n\x80\xC3";
        std::mt19937 rng(99);
        int accepted = 0;
        for (int round = 0; round < 3000; ++round) {
            std::string text = head.substr(0, rng() % head.size());
            for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n && !text.empty(); ++k) {
                const std::size_t at = rng() % text.size();
                switch (rng() % 3) {
                    case 0:
                        text[at] = alphabet[rng() % alphabet.size()];
                        break;
                    case 1:
                        text.erase(at, 1 + rng() % 8);
                        break;
                    default:
                        text.insert(at, 1, alphabet[rng() % alphabet.size()]);
                        break;
                }
            }
            auto result = lectern::parse_world_vocab(text);
            if (result) {
                ++accepted;
                for (const auto id : (*result)->encode(text.substr(0, 200))) {
                    QVERIFY((*result)->token_bytes(id).has_value());
                }
            } else {
                QVERIFY(result.error().message.starts_with("vocab"));
            }
        }
        QVERIFY(accepted < 3000);
    }
};

QTEST_GUILESS_MAIN(TestWorldVocabErrors)
#include "tst_world_vocab_errors.moc"
