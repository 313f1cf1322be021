// Tests for TextStreamer, the text side of generate(): stop strings split across tokens in every
// possible way, overlapping stop strings, multi-byte UTF-8 split across tokens, prompt release of
// text that can no longer be a stop string, and finish().
#include <QtTest>

#include "lectern/generate.h"

using lectern::TextStreamer;

namespace {

QByteArray qb(const std::string& s) {
    return QByteArray::fromStdString(s);
}

struct Run {
    std::string out;
    bool stopped = false;
    std::string matched;
};

// Feed `text` cut at the byte positions whose bit is set in `cuts` (bit i = cut after byte i).
Run stream(const std::vector<std::string>& stops, const std::string& text, std::uint64_t cuts) {
    TextStreamer s(stops);
    Run r;
    std::size_t start = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const bool cut = i + 1 == text.size() || ((cuts >> i) & 1u);
        if (!cut) continue;
        r.out += s.push(std::string_view(text).substr(start, i + 1 - start));
        start = i + 1;
    }
    r.out += s.finish();
    r.stopped = s.stopped();
    r.matched = s.matched_stop();
    return r;
}

// Longest suffix of `text` that is a proper prefix of some stop string (independent oracle).
std::size_t held_oracle(const std::string& text, const std::vector<std::string>& stops) {
    std::size_t best = 0;
    for (const std::string& stop : stops)
        for (std::size_t len = 1; len < stop.size() && len <= text.size(); ++len)
            if (text.compare(text.size() - len, len, stop, 0, len) == 0) best = std::max(best, len);
    return best;
}

}  // namespace

class TestTextStreamer : public QObject {
    Q_OBJECT

  private Q_SLOTS:
    void passthrough_without_stops() {
        TextStreamer s;
        QCOMPARE(qb(s.push("Hello")), QByteArray("Hello"));
        QCOMPARE(qb(s.push(" world\n\n")), QByteArray(" world\n\n"));
        QCOMPARE(qb(s.finish()), QByteArray());
        QVERIFY(!s.stopped());
    }

    // Every split of the text into tokens (2^(n-1) ways) gives the same output, and no byte of
    // the stop string is ever emitted.
    void every_split_data() {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<QList<QByteArray>>("stops");
        QTest::addColumn<QByteArray>("expected");
        QTest::addColumn<bool>("stopped");
        QTest::newRow("turn") << QByteArray("Fine.\n\nUser: x") << QList<QByteArray>{"\n\nUser:"}
                              << QByteArray("Fine.") << true;
        QTest::newRow("near miss released")
            << QByteArray("a\n\nUse it\n") << QList<QByteArray>{"\n\nUser:"}
            << QByteArray("a\n\nUse it\n") << false;
        QTest::newRow("stop at start")
            << QByteArray("STOPmore") << QList<QByteArray>{"STOP"} << QByteArray("") << true;
        QTest::newRow("repeated prefix")
            << QByteArray("aaab") << QList<QByteArray>{"aab"} << QByteArray("a") << true;
        // "cd" completes (at byte 4) before "bcde" could (byte 5), whatever the split.
        QTest::newRow("overlapping")
            << QByteArray("abcdef") << QList<QByteArray>{"bcde", "cd"} << QByteArray("ab") << true;
        QTest::newRow("same end, longer wins")
            << QByteArray("xabc") << QList<QByteArray>{"bc", "abc"} << QByteArray("x") << true;
        // Multi-byte characters: euro sign (3 bytes), emoji (4 bytes), split anywhere.
        QTest::newRow("utf8 before stop") << QByteArray("x\xE2\x82\xACy\xF0\x9F\x98\x80\n\nUser:z")
                                          << QList<QByteArray>{"\n\nUser:", "\xF0\x9F\x98\x80!"}
                                          << QByteArray("x\xE2\x82\xACy\xF0\x9F\x98\x80") << true;
        QTest::newRow("utf8 stop")
            << QByteArray("caf\xC3\xA9 \xE2\x82\xAC\xE2\x82\xAC end")
            << QList<QByteArray>{"\xE2\x82\xAC\xE2\x82\xAC"} << QByteArray("caf\xC3\xA9 ") << true;
        QTest::newRow("dangling byte at end")
            << QByteArray("ok\xE2\x82") << QList<QByteArray>{"\n\nUser:"}
            << QByteArray("ok\xEF\xBF\xBD") << false;
    }

    void every_split() {
        QFETCH(QByteArray, text);
        QFETCH(QList<QByteArray>, stops);
        QFETCH(QByteArray, expected);
        QFETCH(bool, stopped);
        std::vector<std::string> stop_list;
        for (const QByteArray& s : stops) stop_list.push_back(s.toStdString());
        const std::string t = text.toStdString();
        QVERIFY(t.size() <= 20);
        const std::uint64_t splits = std::uint64_t(1) << (t.size() - 1);
        for (std::uint64_t cuts = 0; cuts < splits; ++cuts) {
            const Run r = stream(stop_list, t, cuts);
            if (qb(r.out) != expected || r.stopped != stopped)
                QFAIL(qPrintable(QStringLiteral("split mask %1: got '%2'")
                                     .arg(cuts)
                                     .arg(QString::fromUtf8(qb(r.out).toPercentEncoding()))));
        }
    }

    // Text is released as soon as it cannot be part of a stop string: after each ASCII byte the
    // output so far is the input minus exactly the oracle's hold-back.
    void releases_promptly() {
        const std::vector<std::string> stops{"\n\nUser:", "<|end|>"};
        const std::string text = "Hi\n\nUs <| x\n\n\nUser\n<|en|>";
        TextStreamer s(stops);
        std::string out;
        for (std::size_t i = 0; i < text.size(); ++i) {
            out += s.push(text.substr(i, 1));
            const std::string so_far = text.substr(0, i + 1);
            QCOMPARE(qb(out), qb(so_far.substr(0, so_far.size() - held_oracle(so_far, stops))));
        }
        QVERIFY(!s.stopped());
        out += s.finish();
        QCOMPARE(qb(out), qb(text));
    }

    void utf8_held_until_complete() {
        TextStreamer s;
        QCOMPARE(qb(s.push("a\xF0\x9F")), QByteArray("a"));
        QCOMPARE(qb(s.push("\x98")), QByteArray());
        QCOMPARE(qb(s.push("\x80!")), QByteArray("\xF0\x9F\x98\x80!"));
        QCOMPARE(qb(s.push("\xFF")), QByteArray("\xEF\xBF\xBD"));  // invalid byte replaced
    }

    void after_stop_everything_is_ignored() {
        TextStreamer s({"END"});
        QCOMPARE(qb(s.push("abcEN")), QByteArray("abc"));
        QCOMPARE(qb(s.push("Dxyz")), QByteArray());
        QVERIFY(s.stopped());
        QCOMPARE(qb(s.matched_stop()), QByteArray("END"));
        QCOMPARE(qb(s.push("more")), QByteArray());
        QCOMPARE(qb(s.finish()), QByteArray());
    }

    void empty_stop_strings_ignored() {
        TextStreamer s({""});
        QCOMPARE(qb(s.push("abc")), QByteArray("abc"));
        QVERIFY(!s.stopped());
    }
};

QTEST_GUILESS_MAIN(TestTextStreamer)
#include "tst_text_streamer.moc"
