// Parser and validator for the RWKV World vocabulary text (see world_vocab.h). The literals are
// the subset of Python str/bytes literal syntax that the reference loads with eval(); anything
// else is an error rather than a guess. The input is untrusted (it is fuzzed): every number is
// range-checked before use and nothing recurses.
#include "tokenizer/world_vocab.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <new>

namespace lectern::world {
namespace {

// Shows a piece of the input inside an error message: printable ASCII as is, everything else as
// \xNN, cut short, so a message stays one readable line whatever the input holds.
std::string quoted(std::string_view s) {
    constexpr std::size_t max_shown = 24;
    std::string out = "'";
    for (std::size_t i = 0; i < s.size() && i < max_shown; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7F) {
            out.push_back(static_cast<char>(c));
        } else {
            constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    if (s.size() > max_shown) out += "...";
    return out + "'";
}

// Decimal without sign or spaces; false if empty, not all digits, or above `limit`.
bool parse_decimal(std::string_view s, std::uint64_t limit, std::uint64_t& value) {
    if (s.empty() || s.size() > 19) return false;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    return ec == std::errc() && end == s.data() + s.size() && value <= limit;
}

bool is_digit_string(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Appends the UTF-8 encoding of a scalar value (the caller has excluded surrogates).
void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

// Well-formed UTF-8 per Unicode Table 3-7 (no overlongs, surrogates or values above U+10FFFF).
bool is_valid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        if (b < 0x80) {
            ++i;
            continue;
        }
        // Unicode Table 3-7: continuation count and the allowed range of the second byte.
        int n = 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) {
            n = 1;
        } else if (b >= 0xE0 && b <= 0xEF) {
            n = 2;
            if (b == 0xE0) lo = 0xA0;  // overlong
            if (b == 0xED) hi = 0x9F;  // surrogates
        } else if (b >= 0xF0 && b <= 0xF4) {
            n = 3;
            if (b == 0xF0) lo = 0x90;  // overlong
            if (b == 0xF4) hi = 0x8F;  // above U+10FFFF
        } else {
            return false;
        }
        if (s.size() - i <= static_cast<std::size_t>(n)) return false;
        for (int k = 1; k <= n; ++k) {
            const auto c = static_cast<unsigned char>(s[i + k]);
            if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) return false;
        }
        i += static_cast<std::size_t>(n) + 1;
    }
    return true;
}

// Decodes one escape sequence starting at body[i] == '\\'; advances i past it.
Result<void> decode_escape(std::string_view body, std::size_t& i, bool is_bytes, std::string& out) {
    if (i + 1 >= body.size()) return make_error("unterminated literal (ends inside an escape)");
    const char e = body[i + 1];
    i += 2;
    // The one-letter escapes, and what each stands for.
    constexpr std::string_view letters = "\\'\"ntrabfv";
    constexpr std::string_view values = "\\'\"\n\t\r\a\b\f\v";
    if (const std::size_t k = letters.find(e); k != std::string_view::npos) {
        out.push_back(values[k]);
        return {};
    }
    if (e >= '0' && e <= '7') {  // octal, 1 to 3 digits
        unsigned value = static_cast<unsigned>(e - '0');
        for (int k = 0; k < 2 && i < body.size() && body[i] >= '0' && body[i] <= '7'; ++k, ++i) {
            value = value * 8 + static_cast<unsigned>(body[i] - '0');
        }
        if (is_bytes) {
            if (value > 0xFF) return make_error("octal escape above \\377 in a bytes literal");
            out.push_back(static_cast<char>(value));
        } else {
            append_utf8(out, value);
        }
        return {};
    }
    const int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
    if (digits == 0 || (is_bytes && e != 'x')) {
        return make_error("bad escape " + quoted(body.substr(i - 2, 2)) +
                          (is_bytes ? " in bytes literal" : " in str literal"));
    }
    char32_t value = 0;
    for (int k = 0; k < digits; ++k) {
        const int h = i < body.size() ? hex_value(body[i]) : -1;
        if (h < 0) {
            return make_error("bad escape \\" + std::string(1, e) + ": expected " +
                              std::to_string(digits) + " hex digits");
        }
        value = value * 16 + static_cast<char32_t>(h);
        ++i;
    }
    if (is_bytes) {
        out.push_back(static_cast<char>(value));  // \xNN in bytes: the raw byte
        return {};
    }
    // In a str literal every escape names a code point, \xNN included (U+0080 -> C2 80).
    if (value > 0x10FFFF) return make_error("escape names a code point above U+10FFFF");
    if (value >= 0xD800 && value <= 0xDFFF) {
        return make_error("escape names a surrogate code point (not encodable as UTF-8)");
    }
    append_utf8(out, value);
    return {};
}

// Decodes a Python str literal ('..' / "..") to UTF-8, or a bytes literal (b'..') to its bytes.
Result<void> decode_literal(std::string_view lit, std::string& out) {
    bool is_bytes = false;
    std::size_t i = 0;
    if (!lit.empty() && (lit[0] == 'b' || lit[0] == 'B')) {
        is_bytes = true;
        i = 1;
    }
    if (i >= lit.size() || (lit[i] != '\'' && lit[i] != '"')) {
        return make_error("literal " + quoted(lit) + " does not start with a quote");
    }
    const char quote = lit[i];
    const std::string_view body = lit.substr(i + 1);
    const std::size_t start = out.size();  // `out` holds earlier tokens too
    std::size_t k = 0;
    bool closed = false;
    while (k < body.size()) {
        const char c = body[k];
        if (c == quote) {
            if (k + 1 != body.size()) {
                return make_error("unexpected text after the closing quote: " +
                                  quoted(body.substr(k + 1)));
            }
            closed = true;
            break;
        }
        if (c == '\\') {
            Result<void> r = decode_escape(body, k, is_bytes, out);
            if (!r) return r;
            continue;
        }
        if (is_bytes && static_cast<unsigned char>(c) >= 0x80) {
            return make_error("non-ASCII character in a bytes literal");
        }
        out.push_back(c);
        ++k;
    }
    if (!closed)
        return make_error("unterminated literal (no closing " + std::string(1, quote) + ")");
    if (!is_bytes && !is_valid_utf8(std::string_view(out).substr(start)))
        return make_error("str literal is not valid UTF-8");
    return {};
}

Error line_error(std::size_t line, const std::string& what) {
    return make_error("vocab line " + std::to_string(line) + ": " + what);
}

// Parses one line into `vocab` (bytes appended, entry added). `prev_id` is 0 before the first.
Result<void> parse_line(std::string_view line, std::size_t line_no, token_id prev_id,
                        Vocab& vocab) {
    const std::size_t first = line.find(' ');
    const std::size_t last = line.rfind(' ');
    if (first == std::string_view::npos || first == last) {
        return line_error(
            line_no, "truncated line " + quoted(line) + " (expected '<id> <literal> <nbytes>')");
    }
    const std::string_view id_text = line.substr(0, first);
    const std::string_view literal = line.substr(first + 1, last - first - 1);
    const std::string_view count_text = line.substr(last + 1);

    std::uint64_t id = 0;
    if (!is_digit_string(id_text))
        return line_error(line_no, "id " + quoted(id_text) + " is not a number");
    if (!parse_decimal(id_text, max_token_id, id)) {
        return line_error(line_no, "id " + quoted(id_text) + " is above the limit " +
                                       std::to_string(max_token_id));
    }
    if (id == 0) return line_error(line_no, "id 0 is reserved for end-of-document");
    if (id == prev_id) return line_error(line_no, "duplicate id " + std::to_string(id));
    if (id < prev_id) {
        return line_error(line_no, "id " + std::to_string(id) + " is out of order (previous id " +
                                       std::to_string(prev_id) + "; ids must ascend)");
    }

    std::uint64_t nbytes = 0;
    if (!is_digit_string(count_text)) {
        return line_error(line_no, "byte count " + quoted(count_text) + " is not a number");
    }
    if (!parse_decimal(count_text, max_token_bytes, nbytes) || nbytes == 0) {
        return line_error(line_no, "byte count " + quoted(count_text) + " is outside 1.." +
                                       std::to_string(max_token_bytes));
    }

    const std::size_t offset = vocab.bytes.size();
    Result<void> decoded = decode_literal(literal, vocab.bytes);
    if (!decoded) return line_error(line_no, decoded.error().message);
    const std::size_t length = vocab.bytes.size() - offset;
    if (length != nbytes) {
        return line_error(line_no, "literal is " + std::to_string(length) +
                                       " bytes but the line says " + std::to_string(nbytes));
    }
    vocab.entries.push_back({static_cast<token_id>(id), static_cast<std::uint32_t>(offset),
                             static_cast<std::uint32_t>(length),
                             static_cast<std::uint32_t>(line_no)});
    return {};
}

// Sorts entries by bytes (the trie builder needs that order anyway) and rejects repeats.
Result<void> sort_and_check_distinct(Vocab& vocab) {
    vocab.by_bytes.resize(vocab.entries.size());
    for (std::uint32_t i = 0; i < vocab.by_bytes.size(); ++i) vocab.by_bytes[i] = i;
    std::sort(vocab.by_bytes.begin(), vocab.by_bytes.end(), [&](std::uint32_t a, std::uint32_t b) {
        const std::string_view ta = vocab.token(vocab.entries[a]);
        const std::string_view tb = vocab.token(vocab.entries[b]);
        return ta != tb ? ta < tb : a < b;
    });
    for (std::size_t k = 1; k < vocab.by_bytes.size(); ++k) {
        const VocabEntry& a = vocab.entries[vocab.by_bytes[k - 1]];
        const VocabEntry& b = vocab.entries[vocab.by_bytes[k]];
        if (vocab.token(a) == vocab.token(b)) {
            return line_error(b.line, "token bytes " + quoted(vocab.token(b)) +
                                          " repeat those of id " + std::to_string(a.id) +
                                          " (line " + std::to_string(a.line) + ")");
        }
    }
    return {};
}

Result<Vocab> parse_unchecked(std::string_view text) {
    if (text.empty()) return make_error("vocab: empty input (no tokens)");
    if (text.size() > max_vocab_text_bytes) return make_error("vocab: input too large");

    Vocab vocab;
    std::size_t pos = 0;
    std::size_t line_no = 0;
    token_id prev_id = 0;
    while (pos < text.size()) {
        const std::size_t end = std::min(text.find('\n', pos), text.size());
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // tolerate CRLF files
        if (line.empty()) return line_error(line_no, "empty line");
        Result<void> r = parse_line(line, line_no, prev_id, vocab);
        if (!r) return r.error();
        prev_id = vocab.entries.back().id;
    }

    std::array<bool, 256> has_byte{};
    for (const VocabEntry& e : vocab.entries) {
        if (e.length == 1) has_byte[static_cast<unsigned char>(vocab.bytes[e.offset])] = true;
    }
    for (unsigned b = 0; b < 256; ++b) {
        if (!has_byte[b]) {
            constexpr char hex[] = "0123456789ABCDEF";
            return make_error(std::string("vocab: byte 0x") + hex[b >> 4] + hex[b & 15] +
                              " has no token; every byte must be encodable");
        }
    }
    Result<void> distinct = sort_and_check_distinct(vocab);
    if (!distinct) return distinct.error();
    return vocab;
}

}  // namespace

Result<Vocab> parse_vocab_text(std::string_view text) {
    try {
        return parse_unchecked(text);
    } catch (const std::bad_alloc&) {
        return make_error("vocab: out of memory");
    }
}

}  // namespace lectern::world
