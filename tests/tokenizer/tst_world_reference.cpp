// The World tokenizer against the official one (pip rwkv 0.8.32 TRIE_TOKENIZER): encode and decode
// agree exactly on prose in many scripts, random code points and arbitrary bytes. The reference
// outputs come from tools/make_tokenizer_golden.py.
#include <QFile>
#include <QTest>

#include <cstring>

#include "lectern/tokenizer.h"

namespace {

struct Record {
    QByteArray text;
    std::vector<lectern::token_id> ids;
};

bool readU32(const QByteArray& data, qsizetype& pos, quint32& value)
{
    if (pos + 4 > data.size())
        return false;
    std::memcpy(&value, data.constData() + pos, 4);
    pos += 4;
    return true;
}

}  // namespace

class TestWorldReference : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void matchesOfficialTokenizer();

private:
    std::unique_ptr<lectern::Tokenizer> m_tokenizer;
    std::vector<Record> m_records;
};

void TestWorldReference::initTestCase()
{
    auto tok = lectern::load_world_tokenizer(LECTERN_VOCAB_PATH);
    QVERIFY2(tok, tok ? "" : tok.error().message.c_str());
    m_tokenizer = std::move(*tok);

    QFile file(QStringLiteral(LECTERN_TEST_DATA_DIR "/tokenizer/world_reference.bin"));
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QByteArray data = file.readAll();
    QVERIFY(data.startsWith("LCTNTOK1"));
    qsizetype pos = 8;
    quint32 count = 0;
    QVERIFY(readU32(data, pos, count));
    for (quint32 r = 0; r < count; ++r) {
        Record rec;
        quint32 len = 0, n = 0;
        QVERIFY(readU32(data, pos, len) && pos + len <= data.size());
        rec.text = data.mid(pos, len);
        pos += len;
        QVERIFY(readU32(data, pos, n));
        for (quint32 i = 0; i < n; ++i) {
            quint32 id = 0;
            QVERIFY(readU32(data, pos, id));
            rec.ids.push_back(id);
        }
        m_records.push_back(std::move(rec));
    }
    QCOMPARE(pos, data.size());
    QVERIFY(m_records.size() >= 20);
}

void TestWorldReference::matchesOfficialTokenizer()
{
    for (std::size_t r = 0; r < m_records.size(); ++r) {
        const Record& rec = m_records[r];
        const auto ids = m_tokenizer->encode(std::string_view(rec.text.constData(), rec.text.size()));
        if (ids != rec.ids) {
            std::size_t i = 0;
            while (i < ids.size() && i < rec.ids.size() && ids[i] == rec.ids[i])
                ++i;
            QFAIL(qPrintable(QStringLiteral("record %1: first difference at token %2 of %3")
                                 .arg(r).arg(i).arg(rec.ids.size())));
        }
        auto bytes = m_tokenizer->decode_bytes(rec.ids);
        QVERIFY(bytes);
        QCOMPARE(QByteArray::fromStdString(*bytes), rec.text);
    }
}

QTEST_GUILESS_MAIN(TestWorldReference)
#include "tst_world_reference.moc"
