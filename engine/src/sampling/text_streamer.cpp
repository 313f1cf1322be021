// TextStreamer: releases generated text as soon as it can no longer be part of a stop string.
// Two hold-backs compose: Utf8StreamDecoder keeps incomplete characters, and m_held keeps the
// longest decoded tail that is a proper prefix of some stop string.
#include <algorithm>
#include <utility>

#include "lectern/generate.h"

namespace lectern {
namespace {

// Length of the longest suffix of `text` that is a proper prefix of one of `stops`.
std::size_t longest_stop_prefix_suffix(std::string_view text,
                                       const std::vector<std::string>& stops) {
    std::size_t best = 0;
    for (const std::string& stop : stops) {
        // Only lengths above the best so far can improve it.
        const std::size_t max_len = std::min(text.size(), stop.size() - 1);
        for (std::size_t len = max_len; len > best; --len) {
            if (text.substr(text.size() - len) == std::string_view(stop).substr(0, len)) {
                best = len;
                break;
            }
        }
    }
    return best;
}

}  // namespace

TextStreamer::TextStreamer(std::vector<std::string> stop_strings)
    : m_stops(std::move(stop_strings)) {
    // An empty stop string would match everywhere; validate() rejects it, and here it is ignored.
    std::erase_if(m_stops, [](const std::string& s) { return s.empty(); });
}

std::string TextStreamer::push(std::string_view token_bytes) {
    if (m_stopped) return {};
    m_held += m_decoder.push(token_bytes);
    if (m_stops.empty()) return std::exchange(m_held, {});

    // m_held had no complete stop string before this push, so every match ends in the new text.
    // The match that ends first is the one a byte-by-byte stream would have completed first
    // (ties: the longer, i.e. earlier-starting, one), which makes the result independent of how
    // the text was split into tokens.
    std::size_t first = std::string::npos;
    std::size_t first_end = std::string::npos;
    for (const std::string& stop : m_stops) {
        const std::size_t at = m_held.find(stop);
        if (at == std::string::npos) continue;
        const std::size_t end = at + stop.size();
        if (end < first_end || (end == first_end && at < first)) {
            first = at;
            first_end = end;
            m_matched = stop;
        }
    }
    if (first != std::string::npos) {
        m_stopped = true;
        std::string out = m_held.substr(0, first);
        m_held.clear();
        return out;
    }

    // A stop string is valid UTF-8, so a suffix equal to its prefix starts on a character
    // boundary: the released part is always complete characters.
    const std::size_t keep = longest_stop_prefix_suffix(m_held, m_stops);
    std::string out = m_held.substr(0, m_held.size() - keep);
    m_held.erase(0, m_held.size() - keep);
    return out;
}

std::string TextStreamer::finish() {
    if (m_stopped) return {};
    std::string out = std::exchange(m_held, {});
    out += m_decoder.finish();
    return out;
}

}  // namespace lectern
