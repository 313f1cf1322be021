// Tests for Utf8StreamDecoder: characters split across pushes, byte-token emoji, invalid input
// replaced per maximal subpart (Unicode §3.9 / WHATWG), and finish().
#include <QtTest>

#include <random>

#include "lectern/tokenizer.h"

using lectern::Utf8StreamDecoder;

namespace {

QByteArray qb(const std::string& s) {
    return QByteArray::fromStdString(s);
}

const QByteArray fffd = "\xEF\xBF\xBD";

QByteArray repeat_fffd(int n) {
    return fffd.repeated(n);
}

// Strictly well-formed UTF-8, written independently of the decoder (decode to code points).
bool well_formed(const QByteArray& s) {
    int i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        int n = 0;  // continuation bytes
        if ((b & 0xE0) == 0xC0) {
            n = 1;
        } else if ((b & 0xF0) == 0xE0) {
            n = 2;
        } else if ((b & 0xF8) == 0xF0) {
            n = 3;
        } else if (b >= 0x80) {
            return false;
        }
        if (i + n >= s.size()) return false;
        char32_t cp = n == 0 ? b : b & (0x3F >> n);
        for (int k = 1; k <= n; ++k) {
            const auto c = static_cast<unsigned char>(s[i + k]);
            if ((c & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (c & 0x3F);
        }
        const char32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += n + 1;
    }
    return true;
}

QByteArray decode_all(Utf8StreamDecoder& d, const QList<QByteArray>& pieces) {
    QByteArray out;
    for (const QByteArray& p : pieces) out += qb(d.push(p.toStdString()));
    return out + qb(d.finish());
}

}  // namespace

class TestUtf8Stream : public QObject {
    Q_OBJECT

  private Q_SLOTS:
    void split_at_every_position() {
        // 1-, 2-, 3- and 4-byte characters back to back.
        const QByteArray text = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80z\xE2\x82\xAC";
        for (int cut = 0; cut <= text.size(); ++cut) {
            Utf8StreamDecoder d;
            const QByteArray first = qb(d.push(text.left(cut).toStdString()));
            QVERIFY(well_formed(first));
            QVERIFY(text.startsWith(first));
            QCOMPARE(first.size() + static_cast<qsizetype>(d.pending()), cut);
            const QByteArray rest = qb(d.push(text.mid(cut).toStdString()));
            QCOMPARE(first + rest, text);
            QCOMPARE(d.pending(), std::size_t{0});
            QCOMPARE(qb(d.finish()), QByteArray());
        }
    }

    void byte_by_byte() {
        const QByteArray text = "\xF0\x9F\x98\x80\xE4\xB8\xAD";
        Utf8StreamDecoder d;
        QCOMPARE(qb(d.push("\xF0")), QByteArray());
        QCOMPARE(d.pending(), std::size_t{1});
        QCOMPARE(qb(d.push("\x9F")), QByteArray());
        QCOMPARE(qb(d.push("\x98")), QByteArray());
        QCOMPARE(d.pending(), std::size_t{3});
        QCOMPARE(qb(d.push("\x80")), text.left(4));
        QCOMPARE(d.pending(), std::size_t{0});
        QCOMPARE(qb(d.push("\xE4\xB8")), QByteArray());
        QCOMPARE(qb(d.push("\xAD")), text.mid(4));
    }

    // Spec §4.5 `emoji 😀 ok`: the emoji arrives as byte tokens F0 9F | 98 | 80.
    void emoji_as_byte_tokens() {
        Utf8StreamDecoder d;
        QCOMPARE(qb(d.push("emoji")), QByteArray("emoji"));
        QCOMPARE(qb(d.push(" ")), QByteArray(" "));
        QCOMPARE(qb(d.push("\xF0\x9F")), QByteArray());
        QCOMPARE(qb(d.push("\x98")), QByteArray());
        QCOMPARE(qb(d.push("\x80")), QByteArray("\xF0\x9F\x98\x80"));
        QCOMPARE(qb(d.push(" ok")), QByteArray(" ok"));
        QCOMPARE(qb(d.finish()), QByteArray());
    }

    void invalid_sequences_data() {
        QTest::addColumn<QByteArray>("input");
        QTest::addColumn<QByteArray>("expected");
        QTest::newRow("lone continuation") << QByteArray("\x80") << fffd;
        QTest::newRow("two continuations")
            << QByteArray("a\x80\xBFz") << "a" + repeat_fffd(2) + "z";
        QTest::newRow("C0 overlong lead") << QByteArray("\xC0\x80") << repeat_fffd(2);
        QTest::newRow("C1 overlong lead") << QByteArray("\xC1\xBF") << repeat_fffd(2);
        QTest::newRow("E0 overlong") << QByteArray("\xE0\x80\x80") << repeat_fffd(3);
        QTest::newRow("F0 overlong") << QByteArray("\xF0\x8F\xBF\xBF") << repeat_fffd(4);
        QTest::newRow("surrogate D800") << QByteArray("\xED\xA0\x80") << repeat_fffd(3);
        QTest::newRow("surrogate DFFF") << QByteArray("\xED\xBF\xBF") << repeat_fffd(3);
        QTest::newRow("above 10FFFF") << QByteArray("\xF4\x90\x80\x80") << repeat_fffd(4);
        QTest::newRow("F5 lead") << QByteArray("\xF5\x80") << repeat_fffd(2);
        QTest::newRow("FF FE") << QByteArray("\xFF\xFE") << repeat_fffd(2);
        QTest::newRow("truncated then ascii") << QByteArray(
                                                     "\xE2\x82"
                                                     "A")
                                              << fffd + "A";
        QTest::newRow("truncated 4-byte then ascii") << QByteArray(
                                                            "\xF0\x9F\x98"
                                                            "b")
                                                     << fffd + "b";
        QTest::newRow("bad second byte") << QByteArray(
                                                "a\xC3\x28"
                                                "b")
                                         << "a" + fffd + "(b";
        QTest::newRow("lead after lead") << QByteArray("\xE4\xC3\xA9") << fffd + "\xC3\xA9";
        QTest::newRow("dangling at end") << QByteArray("ok\xE2\x82") << "ok" + fffd;
        QTest::newRow("dangling 3 of 4") << QByteArray("\xF0\x9F\x98") << fffd;
        // Unicode 15 §3.9, Table 3-8: U+FFFD per maximal subpart.
        QTest::newRow("table 3-8")
            << QByteArray("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64")
            << "a" + fffd + fffd + fffd + "b" + fffd + "c" + fffd + fffd + "d";
        QTest::newRow("max code point")
            << QByteArray("\xF4\x8F\xBF\xBF") << QByteArray("\xF4\x8F\xBF\xBF");
        QTest::newRow("last before surrogates")
            << QByteArray("\xED\x9F\xBF") << QByteArray("\xED\x9F\xBF");
        QTest::newRow("nul byte") << QByteArray("a\0b", 3) << QByteArray("a\0b", 3);
    }

    void invalid_sequences() {
        QFETCH(QByteArray, input);
        QFETCH(QByteArray, expected);
        Utf8StreamDecoder whole;
        QCOMPARE(decode_all(whole, {input}), expected);
        // The same result however the input is split.
        for (int cut = 0; cut <= input.size(); ++cut) {
            Utf8StreamDecoder d;
            QCOMPARE(decode_all(d, {input.left(cut), input.mid(cut)}), expected);
        }
        QList<QByteArray> bytes;
        for (char c : input) bytes.append(QByteArray(1, c));
        Utf8StreamDecoder d;
        QCOMPARE(decode_all(d, bytes), expected);
    }

    // A sequence is replaced as soon as it is known to be bad, not at the next character.
    void replaced_as_soon_as_known() {
        Utf8StreamDecoder d;
        QCOMPARE(qb(d.push("\xE0")), QByteArray());
        QCOMPARE(qb(d.push("\x80")), repeat_fffd(2));  // E0 80 can never start a character
        QCOMPARE(d.pending(), std::size_t{0});
        QCOMPARE(qb(d.push("\xF0\x9F")), QByteArray());
        QCOMPARE(qb(d.push("x")), fffd + "x");
    }

    void finish_resets() {
        Utf8StreamDecoder d;
        QCOMPARE(qb(d.finish()), QByteArray());
        QCOMPARE(qb(d.push("\xC3")), QByteArray());
        QCOMPARE(qb(d.finish()), fffd);
        QCOMPARE(d.pending(), std::size_t{0});
        QCOMPARE(qb(d.finish()), QByteArray());
        QCOMPARE(qb(d.push("\xA9")), fffd);  // a fresh stream: a lone continuation byte
    }

    // Random bytes: output always well formed and independent of how the input is split.
    void random_bytes_any_split() {
        std::mt19937 rng(1234);
        for (int round = 0; round < 300; ++round) {
            QByteArray input;
            const int n = static_cast<int>(rng() % 64);
            for (int i = 0; i < n; ++i) {
                // Bias towards lead and continuation bytes, where the interesting cases are.
                const unsigned r = rng() % 4;
                input.append(static_cast<char>(r == 0 ? rng() % 0x80 : 0x80 + rng() % 0x80));
            }
            Utf8StreamDecoder whole;
            const QByteArray expected = decode_all(whole, {input});
            QVERIFY(well_formed(expected));
            QList<QByteArray> pieces;
            for (int i = 0; i < input.size();) {
                const int len = 1 + static_cast<int>(rng() % 5);
                pieces.append(input.mid(i, len));
                i += len;
            }
            Utf8StreamDecoder split;
            QCOMPARE(decode_all(split, pieces), expected);
        }
    }
};

QTEST_GUILESS_MAIN(TestUtf8Stream)
#include "tst_utf8_stream.moc"
