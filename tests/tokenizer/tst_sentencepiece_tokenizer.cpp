// Tests for the SentencePiece backend on tests/data/spm/tiny.model (tools/make_test_spm.sh):
// round trips, byte fallback through Utf8StreamDecoder, agreement with the library's DecodeIds,
// and clear errors for missing or garbage model files.
#include <QtTest>

#include <sentencepiece_processor.h>

#include "lectern/tokenizer.h"

using lectern::token_id;
using lectern::Tokenizer;

namespace {

const std::string model_path = std::string(LECTERN_TEST_DATA_DIR) + "/spm/tiny.model";

}  // namespace

class TestSentencePieceTokenizer : public QObject {
    Q_OBJECT

  private:
    std::unique_ptr<Tokenizer> m_tok;
    sentencepiece::SentencePieceProcessor m_reference;

    // Concatenated token_bytes, streamed through the UTF-8 decoder as a generator would.
    std::string stream(const std::vector<token_id>& ids) {
        lectern::Utf8StreamDecoder decoder;
        std::string out;
        for (const token_id id : ids) out += decoder.push(*m_tok->token_bytes(id));
        return out + decoder.finish();
    }

  private Q_SLOTS:
    void initTestCase() {
        auto loaded = lectern::load_sentencepiece_tokenizer(model_path);
        QVERIFY2(loaded.has_value(), loaded ? "" : loaded.error().message.c_str());
        m_tok = std::move(*loaded);
        QVERIFY(m_reference.Load(model_path).ok());
        QCOMPARE(m_tok->kind(), std::string_view("sentencepiece"));
        QCOMPARE(m_tok->vocab_size(), static_cast<std::size_t>(m_reference.GetPieceSize()));
    }

    void round_trip_data() {
        QTest::addColumn<QByteArray>("text");
        QTest::newRow("hello") << QByteArray("Hello world");
        QTest::newRow("license") << QByteArray("Licensed under the Apache License, Version 2.0.");
        QTest::newRow("unseen words") << QByteArray("Zyxomorphic quandaries vex jolly wizards");
        QTest::newRow("two spaces") << QByteArray("two  spaces and a trailing one ");
        QTest::newRow("newline") << QByteArray("line one\nline two");
        QTest::newRow("emoji") << QByteArray("I like \xF0\x9F\x98\x80 and \xF0\x9F\x8E\x89!");
        QTest::newRow("accents and cjk") << QByteArray("caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87");
        QTest::newRow("single word") << QByteArray("the");
    }

    void round_trip() {
        QFETCH(QByteArray, text);
        const std::string input = text.toStdString();
        const std::vector<token_id> ids = m_tok->encode(input);
        QVERIFY(!ids.empty());

        // Same ids as the library.
        const std::vector<int> ref_ids = m_reference.EncodeAsIds(input);
        QCOMPARE(ids, std::vector<token_id>(ref_ids.begin(), ref_ids.end()));

        // Whole-sequence decode: the text itself, and exactly what DecodeIds gives.
        auto decoded = m_tok->decode_bytes(ids);
        QVERIFY(decoded.has_value());
        QCOMPARE(QByteArray::fromStdString(*decoded), text);
        QCOMPARE(*decoded, m_reference.DecodeIds(ref_ids));

        // Streaming: the dummy-prefix space shows up once, at the very beginning.
        QCOMPARE(QByteArray::fromStdString(stream(ids)), " " + text);
    }

    // Characters outside the training text become <0xNN> byte pieces, one per byte.
    void byte_fallback() {
        const std::string emoji = "\xF0\x9F\x98\x80";
        const std::vector<token_id> ids = m_tok->encode(emoji);
        int byte_pieces = 0;
        for (const token_id id : ids) {
            if (m_reference.IsByte(static_cast<int>(id))) {
                ++byte_pieces;
                QCOMPARE(m_tok->token_bytes(id)->size(), std::size_t{1});
            }
        }
        QCOMPARE(byte_pieces, 4);
        QCOMPARE(*m_tok->token_bytes(static_cast<token_id>(m_reference.PieceToId("<0xF0>"))),
                 std::string("\xF0"));
        QCOMPARE(stream(ids), " " + emoji);

        // Fed one token at a time, nothing comes out until the emoji is complete.
        lectern::Utf8StreamDecoder decoder;
        std::string shown;
        for (const token_id id : ids) {
            const std::string piece = decoder.push(*m_tok->token_bytes(id));
            QVERIFY(piece.empty() || piece.find(emoji) != std::string::npos || piece == " ");
            shown += piece;
        }
        QCOMPARE(shown, " " + emoji);
    }

    void meta_space_and_control_pieces() {
        const int the = m_reference.PieceToId("\xE2\x96\x81the");  // "▁the"
        QVERIFY(!m_reference.IsUnknown(the));
        QCOMPARE(*m_tok->token_bytes(static_cast<token_id>(the)), std::string(" the"));
        QCOMPARE(*m_tok->decode_bytes({static_cast<token_id>(the)}), std::string("the"));
        QCOMPARE(*m_tok->decode_bytes({static_cast<token_id>(the), static_cast<token_id>(the)}),
                 std::string("the the"));

        for (const int id : {m_reference.unk_id(), m_reference.bos_id(), m_reference.eos_id()}) {
            QVERIFY(id >= 0);
            QCOMPARE(*m_tok->token_bytes(static_cast<token_id>(id)), std::string());
        }
        // Control pieces before the first word do not keep its space.
        const auto bos = static_cast<token_id>(m_reference.bos_id());
        const auto eos = static_cast<token_id>(m_reference.eos_id());
        const std::vector<token_id> ids = {bos, static_cast<token_id>(the), eos};
        QCOMPARE(*m_tok->decode_bytes(ids), std::string("the"));
        QCOMPARE(*m_tok->decode_bytes(ids),
                 m_reference.DecodeIds({m_reference.bos_id(), the, m_reference.eos_id()}));
        QCOMPARE(*m_tok->decode_bytes({}), std::string());
        QCOMPARE(m_tok->encode(""), std::vector<token_id>{});
    }

    void out_of_range_id() {
        const auto size = static_cast<token_id>(m_tok->vocab_size());
        auto bytes = m_tok->token_bytes(size);
        QVERIFY(!bytes.has_value());
        QVERIFY2(bytes.error().message.find(std::to_string(size)) != std::string::npos,
                 bytes.error().message.c_str());
        QVERIFY(!m_tok->decode_bytes({5, size}).has_value());
    }

    void missing_file() {
        auto loaded = lectern::load_sentencepiece_tokenizer("/nonexistent/tokenizer.model");
        QVERIFY(!loaded.has_value());
        const std::string& message = loaded.error().message;
        QVERIFY2(message.starts_with("/nonexistent/tokenizer.model: "), message.c_str());
        QVERIFY2(message.find('\n') == std::string::npos, message.c_str());
    }

    void garbage_file_data() {
        QTest::addColumn<QByteArray>("content");
        QTest::newRow("text") << QByteArray("this is not a sentencepiece model\n");
        QTest::newRow("empty") << QByteArray();
        QTest::newRow("binary") << QByteArray("\x0a\xff\xff\xff\xff\x0f\x00\x01\x02", 9);
    }

    void garbage_file() {
        QFETCH(QByteArray, content);
        QTemporaryFile file;
        QVERIFY(file.open());
        file.write(content);
        file.close();
        const std::string path = file.fileName().toStdString();
        auto loaded = lectern::load_sentencepiece_tokenizer(path);
        QVERIFY(!loaded.has_value());
        const std::string& message = loaded.error().message;
        QVERIFY2(message.starts_with(path + ": "), message.c_str());
        QVERIFY2(message.size() > path.size() + 2, message.c_str());
        QVERIFY2(message.find('\n') == std::string::npos, message.c_str());
    }
};

QTEST_GUILESS_MAIN(TestSentencePieceTokenizer)
#include "tst_sentencepiece_tokenizer.moc"
