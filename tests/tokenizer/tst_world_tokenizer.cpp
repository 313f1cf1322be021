// Tests for the RWKV World tokenizer on the real vocabulary: the spec §4.5 vectors, round trips of
// arbitrary bytes, special ids, and greedy longest match against a naive oracle.
#include <QtTest>

#include <random>
#include <unordered_map>

#include "lectern/tokenizer.h"

using lectern::token_id;
using lectern::Tokenizer;

namespace {

QList<quint32> to_list(const std::vector<token_id>& ids) {
    return QList<quint32>(ids.begin(), ids.end());
}

}  // namespace

class TestWorldTokenizer : public QObject {
    Q_OBJECT

  private:
    std::unique_ptr<Tokenizer> m_tok;

    std::string decode(const std::vector<token_id>& ids) {
        lectern::Result<std::string> bytes = m_tok->decode_bytes(ids);
        if (!bytes) qWarning("decode failed: %s", bytes.error().message.c_str());
        return bytes ? *bytes : std::string("<decode error>");
    }

  private Q_SLOTS:
    void initTestCase() {
        auto loaded = lectern::load_world_tokenizer(LECTERN_VOCAB_PATH);
        QVERIFY2(loaded.has_value(), loaded ? "" : loaded.error().message.c_str());
        m_tok = std::move(*loaded);
        QCOMPARE(m_tok->kind(), std::string_view("world"));
    }

    void spec_vectors_data() {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<QList<quint32>>("ids");
        QTest::newRow("Hello world") << QByteArray("Hello world") << QList<quint32>{33155, 40213};
        QTest::newRow("chat prompt") << QByteArray("User: hi\n\nAssistant:")
                                     << QList<quint32>{24281, 59, 4571, 261, 5585, 41693, 59};
        QTest::newRow("blank line") << QByteArray("\n\n") << QList<quint32>{261};
        QTest::newRow("digits") << QByteArray(" 12345") << QList<quint32>{3485, 654, 54};
        QTest::newRow("chinese") << QByteArray("\xE4\xB8\xAD\xE6\x96\x87\xE6\xB5\x8B\xE8\xAF\x95")
                                 << QList<quint32>{10285, 13012, 13827, 16707};
        QTest::newRow("emoji") << QByteArray("emoji \xF0\x9F\x98\x80 ok")
                               << QList<quint32>{34295, 33, 3319, 153, 129, 4709};
        QTest::newRow("nbsp") << QByteArray(
                                     "a\xC2\xA0"
                                     "b")
                              << QList<quint32>{98, 2430, 99};
        QTest::newRow("pass key") << QByteArray("The pass key is 4217. Remember it.")
                                  << QList<quint32>{6699, 31635, 21952, 4600, 3515,
                                                    637,  47,    55283, 4601, 47};
        QTest::newRow("question") << QByteArray("What is the pass key? The pass key is")
                                  << QList<quint32>{24326, 4600,  22590, 31635, 21952,
                                                    64,    20996, 31635, 21952, 4600};
    }

    void spec_vectors() {
        QFETCH(QByteArray, text);
        QFETCH(QList<quint32>, ids);
        const std::vector<token_id> got = m_tok->encode(text.toStdString());
        QCOMPARE(to_list(got), ids);
        QCOMPARE(QByteArray::fromStdString(decode(got)), text);
    }

    void vocabulary_shape() {
        QCOMPARE(m_tok->vocab_size(), std::size_t{65530});
        int entries = 0;
        for (token_id id = 1; id < 65530; ++id) {
            auto bytes = m_tok->token_bytes(id);
            QVERIFY2(bytes.has_value(), qPrintable(QString::number(id)));
            QVERIFY(!bytes->empty());
            ++entries;
        }
        QCOMPARE(entries, 65529);
        QCOMPARE(m_tok->encode(""), std::vector<token_id>{});
    }

    // Ids 1..256 are the single bytes 0x00..0xFF, and a lone byte encodes to its own token.
    void all_single_bytes() {
        for (int b = 0; b < 256; ++b) {
            const std::string byte(1, static_cast<char>(b));
            auto bytes = m_tok->token_bytes(static_cast<token_id>(b + 1));
            QVERIFY(bytes.has_value());
            QCOMPARE(*bytes, byte);
            QCOMPARE(m_tok->encode(byte), std::vector<token_id>{static_cast<token_id>(b + 1)});
        }
    }

    void special_ids() {
        QCOMPARE(*m_tok->token_bytes(0), std::string());
        QCOMPARE(decode({0, 33155, 0}), std::string("Hello"));
        QCOMPARE(*m_tok->token_bytes(2423), std::string("\xC2\x80"));  // str literal '\x80'
        QCOMPARE(decode({2423}), std::string("\xC2\x80"));
        QCOMPARE(*m_tok->token_bytes(261), std::string("\n\n"));
        QCOMPARE(*m_tok->token_bytes(11), std::string("\n"));
        QCOMPARE(*m_tok->token_bytes(33), std::string(" "));
    }

    void out_of_range_ids() {
        for (token_id id : {65530u, 65535u, 1u << 20, 0xFFFFFFFFu}) {
            auto bytes = m_tok->token_bytes(id);
            QVERIFY(!bytes.has_value());
            QVERIFY2(bytes.error().message.find(std::to_string(id)) != std::string::npos,
                     bytes.error().message.c_str());
        }
        auto decoded = m_tok->decode_bytes({33155, 70000});
        QVERIFY(!decoded.has_value());
        QVERIFY2(decoded.error().message.find("token 1") != std::string::npos,
                 decoded.error().message.c_str());
    }

    void invalid_utf8_round_trips() {
        const std::string text = "\xFF\xFE abc \xC3 \xED\xA0\x80 \xF0\x9F\x98 end\xE2";
        const std::vector<token_id> ids = m_tok->encode(text);
        QCOMPARE(ids.front(), token_id{0xFF + 1});
        QCOMPARE(decode(ids), text);
    }

    void random_bytes_round_trip() {
        std::mt19937 rng(42);
        for (int round = 0; round < 200; ++round) {
            std::string text(rng() % 300, '\0');
            for (char& c : text) c = static_cast<char>(rng() & 0xFF);
            QCOMPARE(decode(m_tok->encode(text)), text);
        }
    }

    // Greedy longest match checked against an obvious implementation: a hash map from bytes to
    // id, trying the longest candidate first. Text is built from random tokens so long matches
    // and near-misses are frequent.
    void matches_naive_longest_match() {
        std::unordered_map<std::string, token_id> by_bytes;
        std::size_t max_len = 0;
        for (token_id id = 1; id < m_tok->vocab_size(); ++id) {
            std::string bytes = *m_tok->token_bytes(id);
            max_len = std::max(max_len, bytes.size());
            by_bytes.emplace(std::move(bytes), id);
        }
        QCOMPARE(by_bytes.size(), std::size_t{65529});  // all byte strings distinct

        std::mt19937 rng(7);
        for (int round = 0; round < 100; ++round) {
            std::string text;
            for (int k = 0; k < 60; ++k) {
                std::string piece = *m_tok->token_bytes(1 + rng() % 65529);
                if (rng() % 3 == 0 && piece.size() > 1) piece.pop_back();  // a near-miss
                text += piece;
            }
            std::vector<token_id> expected;
            for (std::size_t i = 0; i < text.size();) {
                for (std::size_t len = std::min(max_len, text.size() - i); len > 0; --len) {
                    auto it = by_bytes.find(text.substr(i, len));
                    if (it != by_bytes.end()) {
                        expected.push_back(it->second);
                        i += len;
                        break;
                    }
                }
            }
            QCOMPARE(to_list(m_tok->encode(text)), to_list(expected));
        }
    }

    void missing_file_is_an_error() {
        auto loaded = lectern::load_world_tokenizer("/nonexistent/rwkv_vocab.txt");
        QVERIFY(!loaded.has_value());
        QVERIFY(loaded.error().message.find("/nonexistent/rwkv_vocab.txt") != std::string::npos);
        QVERIFY(loaded.error().message.find('\n') == std::string::npos);
    }
};

QTEST_GUILESS_MAIN(TestWorldTokenizer)
#include "tst_world_tokenizer.moc"
