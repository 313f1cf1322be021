// Tests for the prompt formats of spec §4.6: exact chat strings (single and multi turn, both
// system placements, G1 thinking), blank-line cleaning, base continuation, errors, default stops,
// and the tokens of the chat prompt against the spec's test vector.
#include <QtTest>

#include <random>

#include "lectern/prompt_format.h"

using lectern::ChatMessage;
using lectern::ChatRole;
using lectern::PromptOptions;
using lectern::PromptStyle;
using lectern::SystemPlacement;

namespace {

std::string format(const std::vector<ChatMessage>& messages, const PromptOptions& options = {}) {
    auto r = lectern::format_prompt(messages, options);
    if (!r) qWarning("format_prompt: %s", r.error().message.c_str());
    return r ? *r : std::string("<error>");
}

QByteArray qb(const std::string& s) {
    return QByteArray::fromStdString(s);
}

}  // namespace

class TestPromptFormat : public QObject {
    Q_OBJECT

  private Q_SLOTS:
    void single_turn() {
        QCOMPARE(qb(format({{ChatRole::user, "hi"}})), QByteArray("User: hi\n\nAssistant:"));
        auto r = lectern::format_prompt("What is RWKV?", PromptOptions{});
        QVERIFY(r);
        QCOMPARE(qb(*r), QByteArray("User: What is RWKV?\n\nAssistant:"));
    }

    void multi_turn() {
        const std::vector<ChatMessage> m{
            {ChatRole::user, "Q1"}, {ChatRole::assistant, "A1"}, {ChatRole::user, "Q2"}};
        QCOMPARE(qb(format(m)), QByteArray("User: Q1\n\nAssistant: A1\n\nUser: Q2\n\nAssistant:"));
    }

    void system_placements() {
        const std::vector<ChatMessage> m{
            {ChatRole::user, "Q1"}, {ChatRole::assistant, "A1"}, {ChatRole::user, "Q2"}};
        PromptOptions o;
        o.system = "Be brief.";
        QCOMPARE(qb(format(m, o)),
                 QByteArray("System: Be brief.\n\nUser: Q1\n\nAssistant: A1\n\nUser: Q2\n\n"
                            "Assistant:"));
        o.system_placement = SystemPlacement::first_user_prefix;
        QCOMPARE(qb(format(m, o)),
                 QByteArray("User: Be brief.\nQ1\n\nAssistant: A1\n\nUser: Q2\n\nAssistant:"));
        // The system text is cleaned like a message; whitespace-only means none.
        o.system = "  Line one\n\n\nline two \n";
        QCOMPARE(qb(format({{ChatRole::user, "x"}}, o)),
                 QByteArray("User: Line one\nline two\nx\n\nAssistant:"));
        o.system = " \n ";
        QCOMPARE(qb(format({{ChatRole::user, "x"}}, o)), QByteArray("User: x\n\nAssistant:"));
    }

    void thinking() {
        PromptOptions o;
        o.think = true;
        QCOMPARE(qb(format({{ChatRole::user, "2+2?"}}, o)),
                 QByteArray("User: 2+2?\n\nAssistant: <think"));
    }

    void cleaning_data() {
        QTest::addColumn<QByteArray>("in");
        QTest::addColumn<QByteArray>("out");
        QTest::newRow("plain") << QByteArray("hello") << QByteArray("hello");
        QTest::newRow("single newline kept") << QByteArray("a\nb") << QByteArray("a\nb");
        QTest::newRow("blank line") << QByteArray("a\n\nb") << QByteArray("a\nb");
        QTest::newRow("many blank lines") << QByteArray("a\n\n\n\nb") << QByteArray("a\nb");
        QTest::newRow("whitespace-only lines")
            << QByteArray("a\n  \n\t\n\nb") << QByteArray("a\nb");
        QTest::newRow("CRLF") << QByteArray("a\r\n\r\nb\r\nc") << QByteArray("a\nb\nc");
        QTest::newRow("indentation after run kept")
            << QByteArray("a\n\n  b") << QByteArray("a\n  b");
        QTest::newRow("trailing spaces on a text line kept")
            << QByteArray("a  \n\nb") << QByteArray("a  \nb");
        QTest::newRow("outer whitespace trimmed")
            << QByteArray("\n  hi there \n\n") << QByteArray("hi there");
        QTest::newRow("only blank") << QByteArray("\n\n \n") << QByteArray("");
        QTest::newRow("utf8 untouched")
            << QByteArray("caf\xC3\xA9\n\n\xE4\xB8\xAD") << QByteArray("caf\xC3\xA9\n\xE4\xB8\xAD");
    }

    void cleaning() {
        QFETCH(QByteArray, in);
        QFETCH(QByteArray, out);
        QCOMPARE(qb(lectern::clean_chat_message(in.toStdString())), out);
    }

    // Whatever the input, a cleaned message never contains "\n\n", so "\n\n" only ends turns.
    void cleaning_never_leaves_blank_lines() {
        std::mt19937 rng(17);
        const char alphabet[] = {'a', ' ', '\n', '\t', '\r', 'b'};
        for (int trial = 0; trial < 3000; ++trial) {
            std::string s(rng() % 24, ' ');
            for (char& c : s) c = alphabet[rng() % sizeof alphabet];
            const std::string cleaned = lectern::clean_chat_message(s);
            QVERIFY2(cleaned.find("\n\n") == std::string::npos,
                     qPrintable(QString::fromStdString(s)));
            QCOMPARE(lectern::clean_chat_message(cleaned), cleaned);  // idempotent
            const std::string prompt = format({{ChatRole::user, s}});
            // Exactly one turn separator: after the user text.
            QCOMPARE(prompt.find("\n\n"), prompt.rfind("\n\n"));
        }
    }

    void messages_are_cleaned_in_prompt() {
        const std::vector<ChatMessage> m{{ChatRole::user, "para 1\n\npara 2\n"},
                                         {ChatRole::assistant, " ok\n\n\nsure "},
                                         {ChatRole::user, "next"}};
        QCOMPARE(qb(format(m)), QByteArray("User: para 1\npara 2\n\nAssistant: ok\nsure\n\nUser: "
                                           "next\n\nAssistant:"));
    }

    void base_is_plain_continuation() {
        PromptOptions o;
        o.style = PromptStyle::base;
        const std::string text = "Once upon a time\n\n  there ";
        QCOMPARE(qb(format({{ChatRole::user, text}}, o)), qb(text));
    }

    void errors() {
        PromptOptions chat;
        QVERIFY(!lectern::format_prompt(std::vector<ChatMessage>{}, chat));
        QVERIFY(!lectern::format_prompt(
            std::vector<ChatMessage>{{ChatRole::user, "q"}, {ChatRole::assistant, "a"}}, chat));
        PromptOptions base;
        base.style = PromptStyle::base;
        QVERIFY(!lectern::format_prompt(
            std::vector<ChatMessage>{{ChatRole::user, "a"}, {ChatRole::user, "b"}}, base));
        const PromptOptions base_with_system{PromptStyle::base, SystemPlacement::system_turn,
                                             std::string(1, 's'), false};
        QVERIFY(!lectern::format_prompt("text", base_with_system));
        base.think = true;
        QVERIFY(!lectern::format_prompt("text", base));
    }

    void default_stops() {
        QCOMPARE(lectern::default_stop_tokens(PromptStyle::chat),
                 (std::vector<lectern::token_id>{261, 0}));
        QCOMPARE(lectern::default_stop_tokens(PromptStyle::base),
                 (std::vector<lectern::token_id>{0}));
        const auto strings = lectern::default_stop_strings(PromptStyle::chat);
        QVERIFY(std::find(strings.begin(), strings.end(), "\n\nUser:") != strings.end());
        QVERIFY(lectern::default_stop_strings(PromptStyle::base).empty());
    }

    void chat_prompt_tokens_match_spec() {
        auto tok = lectern::load_world_tokenizer(LECTERN_VOCAB_PATH);
        QVERIFY2(tok, tok ? "" : tok.error().message.c_str());
        const std::string prompt = format({{ChatRole::user, "hi"}});
        QCOMPARE((*tok)->encode(prompt),
                 (std::vector<lectern::token_id>{24281, 59, 4571, 261, 5585, 41693, 59}));
        // The turn separator is the single stop token 261.
        QCOMPARE((*tok)->encode("\n\n"), (std::vector<lectern::token_id>{261}));
    }
};

QTEST_GUILESS_MAIN(TestPromptFormat)
#include "tst_prompt_format.moc"
