// Utf8StreamDecoder: turns token bytes arriving piece by piece into complete, valid UTF-8.
// Tokens (World byte tokens, SentencePiece byte fallback) can split a character anywhere, so a
// partial character is held back until its last byte arrives or it is known to be invalid.
#include "lectern/tokenizer.h"

namespace lectern {
namespace {

constexpr std::string_view replacement_char = "\xEF\xBF\xBD";  // U+FFFD

struct LeadInfo {
    int continuation_count;    // bytes after the lead; -1 for a byte that cannot start a character
    unsigned char second_min;  // allowed range of the first continuation byte
    unsigned char second_max;
};

// The ranges of Unicode Table 3-7 (well-formed UTF-8). Narrowing the range of the second byte is
// what rejects overlong forms (E0, F0), surrogates (ED) and code points above U+10FFFF (F4)
// as soon as that byte is seen, which gives the "maximal subpart" replacement behaviour.
LeadInfo lead_info(unsigned char b) {
    if (b >= 0xC2 && b <= 0xDF) return {1, 0x80, 0xBF};
    if (b == 0xE0) return {2, 0xA0, 0xBF};
    if (b == 0xED) return {2, 0x80, 0x9F};
    if (b >= 0xE1 && b <= 0xEF) return {2, 0x80, 0xBF};
    if (b == 0xF0) return {3, 0x90, 0xBF};
    if (b >= 0xF1 && b <= 0xF3) return {3, 0x80, 0xBF};
    if (b == 0xF4) return {3, 0x80, 0x8F};
    return {-1, 0, 0};  // 0x80..0xC1 and 0xF5..0xFF
}

}  // namespace

std::string Utf8StreamDecoder::push(std::string_view bytes) {
    // At most 3 bytes are pending, so joining them with the new bytes is cheap and keeps the
    // scanner below a single pass over one buffer.
    std::string joined;
    std::string_view buf = bytes;
    if (!m_pending.empty()) {
        joined.reserve(m_pending.size() + bytes.size());
        joined.append(m_pending).append(bytes);
        buf = joined;
        m_pending.clear();
    }

    std::string out;
    out.reserve(buf.size() + 8);
    std::size_t i = 0;
    while (i < buf.size()) {
        const auto b = static_cast<unsigned char>(buf[i]);
        if (b < 0x80) {
            out.push_back(static_cast<char>(b));
            ++i;
            continue;
        }
        const LeadInfo info = lead_info(b);
        if (info.continuation_count < 0) {
            out.append(replacement_char);
            ++i;
            continue;
        }
        // Check the continuation bytes that are here; stop at the first bad one.
        int k = 1;
        bool bad = false;
        for (; k <= info.continuation_count && i + k < buf.size(); ++k) {
            const auto c = static_cast<unsigned char>(buf[i + k]);
            const unsigned char lo = k == 1 ? info.second_min : 0x80;
            const unsigned char hi = k == 1 ? info.second_max : 0xBF;
            if (c < lo || c > hi) {
                bad = true;
                break;
            }
        }
        if (bad) {
            // buf[i, i+k) is a maximal invalid subpart; the offending byte starts afresh.
            out.append(replacement_char);
            i += static_cast<std::size_t>(k);
            continue;
        }
        if (k <= info.continuation_count) {
            // Valid so far but incomplete: wait for more bytes.
            m_pending.assign(buf.substr(i));
            break;
        }
        out.append(buf.substr(i, static_cast<std::size_t>(k)));
        i += static_cast<std::size_t>(k);
    }
    return out;
}

std::string Utf8StreamDecoder::finish() {
    if (m_pending.empty()) return {};
    // The pending bytes are a valid prefix of some character, i.e. one maximal subpart.
    m_pending.clear();
    return std::string(replacement_char);
}

}  // namespace lectern
