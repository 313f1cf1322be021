// Strict JSON parsing for safetensors headers. Numbers are parsed with std::from_chars so the
// result never depends on the process locale (Qt sets LC_ALL from the environment).
#include "model/json_reader.h"

#include <charconv>

#include <unordered_set>
#include "model/byte_reader.h"

namespace lectern {

namespace {

constexpr int max_depth = 64;
// A JsonValue costs ~150 bytes but may come from 2 bytes of input ("0,"); capping the count keeps
// a 100 MB header from turning into gigabytes. Real headers hold ~10 values per tensor.
constexpr std::size_t max_values = 1u << 20;

class JsonParser {
  public:
    explicit JsonParser(std::string_view s) : m_s(s) {}

    Result<JsonValue> document() {
        JsonValue v;
        auto r = value(v, 0);
        if (!r) return r.error();
        skip_space();
        if (m_pos != m_s.size()) return fail("trailing characters");
        return v;
    }

  private:
    Error fail(const std::string& what) const {
        return make_error("JSON: " + what + " at byte " + std::to_string(m_pos));
    }
    void skip_space() {
        while (m_pos < m_s.size() && (m_s[m_pos] == ' ' || m_s[m_pos] == '\t' ||
                                      m_s[m_pos] == '\n' || m_s[m_pos] == '\r'))
            ++m_pos;
    }
    bool literal(std::string_view word) {
        if (m_s.substr(m_pos, word.size()) != word) return false;
        m_pos += word.size();
        return true;
    }

    Result<void> value(JsonValue& out, int depth);
    Result<void> container(JsonValue& out, int depth, bool object);
    Result<void> string(std::string& out);
    Result<void> number(JsonValue& out);
    Result<unsigned> hex4();

    std::string_view m_s;
    std::size_t m_pos = 0;
    std::size_t m_values = 0;
};

Result<void> JsonParser::value(JsonValue& out, int depth) {
    if (++m_values > max_values) return fail("too many values");
    skip_space();
    if (m_pos >= m_s.size()) return fail("unexpected end");
    const char c = m_s[m_pos];
    if (c == '{' || c == '[') {
        if (depth >= max_depth) return fail("nesting too deep");
        return container(out, depth + 1, c == '{');
    }
    if (c == '"') {
        out.kind = JsonValue::Kind::string;
        return string(out.text);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return number(out);
    if (literal("true") || literal("false")) {
        out.kind = JsonValue::Kind::boolean;
        out.boolean = c == 't';
        return {};
    }
    if (literal("null")) return {};
    return fail("unexpected character");
}

Result<void> JsonParser::container(JsonValue& out, int depth, bool object) {
    out.kind = object ? JsonValue::Kind::object : JsonValue::Kind::array;
    const char close = object ? '}' : ']';
    ++m_pos;
    skip_space();
    if (m_pos < m_s.size() && m_s[m_pos] == close) {
        ++m_pos;
        return {};
    }
    std::unordered_set<std::string> seen;
    while (true) {
        if (object) {
            skip_space();
            if (m_pos >= m_s.size() || m_s[m_pos] != '"') return fail("expected a key");
            std::string key;
            auto k = string(key);
            if (!k) return k.error();
            if (!seen.insert(key).second)
                return fail("duplicate key \"" + bytes::printable(key) + "\"");
            skip_space();
            if (m_pos >= m_s.size() || m_s[m_pos] != ':') return fail("expected ':'");
            ++m_pos;
            out.keys.push_back(std::move(key));
        }
        out.items.emplace_back();
        auto v = value(out.items.back(), depth);
        if (!v) return v.error();
        skip_space();
        if (m_pos >= m_s.size()) return fail("unexpected end");
        if (m_s[m_pos] == close) {
            ++m_pos;
            return {};
        }
        if (m_s[m_pos] != ',') return fail("expected ',' or closing bracket");
        ++m_pos;
    }
}

Result<unsigned> JsonParser::hex4() {
    if (m_s.size() - m_pos < 4) return fail("truncated \\u escape");
    unsigned v = 0;
    const auto r = std::from_chars(m_s.data() + m_pos, m_s.data() + m_pos + 4, v, 16);
    if (r.ec != std::errc() || r.ptr != m_s.data() + m_pos + 4) return fail("bad \\u escape");
    m_pos += 4;
    return v;
}

void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xc0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += char(0xe0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3f));
        out += char(0x80 | (cp & 0x3f));
    } else {
        out += char(0xf0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3f));
        out += char(0x80 | ((cp >> 6) & 0x3f));
        out += char(0x80 | (cp & 0x3f));
    }
}

Result<void> JsonParser::string(std::string& out) {
    ++m_pos;  // opening quote
    while (true) {
        if (m_pos >= m_s.size()) return fail("unterminated string");
        const char c = m_s[m_pos++];
        if (c == '"') return {};
        if (static_cast<unsigned char>(c) < 0x20) return fail("control character in string");
        if (c != '\\') {
            out += c;
            continue;
        }
        if (m_pos >= m_s.size()) return fail("unterminated string");
        const char e = m_s[m_pos++];
        switch (e) {
            case '"':
                out += '"';
                break;
            case '\\':
                out += '\\';
                break;
            case '/':
                out += '/';
                break;
            case 'b':
                out += '\b';
                break;
            case 'f':
                out += '\f';
                break;
            case 'n':
                out += '\n';
                break;
            case 'r':
                out += '\r';
                break;
            case 't':
                out += '\t';
                break;
            case 'u': {
                auto hi = hex4();
                if (!hi) return hi.error();
                unsigned cp = *hi;
                if (cp >= 0xdc00 && cp <= 0xdfff) return fail("lone low surrogate");
                if (cp >= 0xd800 && cp <= 0xdbff) {  // a surrogate pair encodes one code point
                    if (!literal("\\u")) return fail("lone high surrogate");
                    auto lo = hex4();
                    if (!lo) return lo.error();
                    if (*lo < 0xdc00 || *lo > 0xdfff) return fail("bad surrogate pair");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (*lo - 0xdc00);
                }
                append_utf8(out, cp);
                break;
            }
            default:
                return fail("bad escape");
        }
    }
}

Result<void> JsonParser::number(JsonValue& out) {
    const std::size_t start = m_pos;
    auto digits = [&] {
        const std::size_t from = m_pos;
        while (m_pos < m_s.size() && m_s[m_pos] >= '0' && m_s[m_pos] <= '9') ++m_pos;
        return m_pos - from;
    };
    if (m_s[m_pos] == '-') ++m_pos;
    const std::size_t int_start = m_pos;
    const std::size_t n = digits();
    if (n == 0 || (n > 1 && m_s[int_start] == '0')) return fail("bad number");
    bool integral = m_s[start] != '-';
    if (m_pos < m_s.size() && m_s[m_pos] == '.') {
        ++m_pos;
        if (digits() == 0) return fail("bad number");
        integral = false;
    }
    if (m_pos < m_s.size() && (m_s[m_pos] == 'e' || m_s[m_pos] == 'E')) {
        ++m_pos;
        if (m_pos < m_s.size() && (m_s[m_pos] == '+' || m_s[m_pos] == '-')) ++m_pos;
        if (digits() == 0) return fail("bad number");
        integral = false;
    }
    out.kind = JsonValue::Kind::number;
    const char* first = m_s.data() + start;
    const char* last = m_s.data() + m_pos;
    // from_chars reports out-of-range doubles as an error; such numbers keep the value 0 and
    // is_uint false, which every caller rejects where an exact size is needed.
    std::from_chars(first, last, out.number);
    if (integral) {
        const auto r = std::from_chars(first, last, out.uint);
        out.is_uint = r.ec == std::errc() && r.ptr == last;
    }
    return {};
}

}  // namespace

const JsonValue* JsonValue::member(std::string_view key) const {
    if (kind != Kind::object) return nullptr;
    for (std::size_t i = 0; i < keys.size(); ++i)
        if (keys[i] == key) return &items[i];
    return nullptr;
}

Result<JsonValue> parse_json(std::string_view text) {
    return JsonParser(text).document();
}

}  // namespace lectern
