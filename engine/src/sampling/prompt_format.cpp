// Prompt formats of spec §4.6: World/RWKV-X chat turns, system placement, G1 thinking, base.
#include "lectern/prompt_format.h"

namespace lectern {
namespace {

// Whitespace that may fill a "blank" line (newline handled separately).
bool is_blank_char(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

bool is_space(char c) {
    return c == '\n' || is_blank_char(c);
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

}  // namespace

std::string clean_chat_message(std::string_view text) {
    std::string unified;
    unified.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\r') {
            // CR line ends (and stray CRs before a newline) become plain "\n".
            std::size_t j = i;
            while (j < text.size() && text[j] == '\r') ++j;
            if (j < text.size() && text[j] == '\n') {
                i = j - 1;
                continue;
            }
        }
        unified.push_back(text[i]);
    }
    const std::string_view s = trim(unified);

    std::string out;
    out.reserve(s.size());
    std::size_t i = 0;
    while (i < s.size()) {
        if (s[i] != '\n') {
            out.push_back(s[i++]);
            continue;
        }
        // Find the last newline of this run of blank lines; what follows it (indentation) stays.
        std::size_t last_newline = i;
        std::size_t j = i + 1;
        while (j < s.size() && (s[j] == '\n' || is_blank_char(s[j]))) {
            if (s[j] == '\n') last_newline = j;
            ++j;
        }
        out.push_back('\n');
        i = last_newline + 1;
    }
    return out;
}

Result<std::string> format_prompt(std::span<const ChatMessage> messages,
                                  const PromptOptions& options) {
    if (messages.empty()) return make_error("prompt: no messages");
    if (messages.back().role != ChatRole::user)
        return make_error("prompt: the last message must be the user's (the reply comes next)");

    if (options.style == PromptStyle::base) {
        if (messages.size() != 1)
            return make_error("prompt: the base style takes exactly one message, got " +
                              std::to_string(messages.size()));
        if (!options.system.empty()) return make_error("prompt: the base style has no system text");
        if (options.think) return make_error("prompt: thinking needs the chat style");
        return messages.front().text;
    }

    const std::string system = clean_chat_message(options.system);
    const bool has_system = !system.empty();  // whitespace-only counts as none
    std::string out;
    if (has_system && options.system_placement == SystemPlacement::system_turn)
        out += "System: " + system + "\n\n";

    bool first_user = true;
    for (const ChatMessage& m : messages) {
        if (m.role == ChatRole::user) {
            out += "User: ";
            if (first_user && has_system &&
                options.system_placement == SystemPlacement::first_user_prefix)
                out += system + "\n";
            first_user = false;
        } else {
            out += "Assistant: ";
        }
        out += clean_chat_message(m.text);
        out += "\n\n";
    }
    out += "Assistant:";
    if (options.think) out += " <think";
    return out;
}

Result<std::string> format_prompt(std::string_view user_text, const PromptOptions& options) {
    const ChatMessage message{ChatRole::user, std::string(user_text)};
    return format_prompt(std::span<const ChatMessage>(&message, 1), options);
}

std::vector<token_id> default_stop_tokens(PromptStyle style) {
    if (style == PromptStyle::chat) return {261, 0};
    return {0};
}

std::vector<std::string> default_stop_strings(PromptStyle style) {
    if (style == PromptStyle::chat) return {"\n\nUser:", "\n\nAssistant:", "\n\nSystem:"};
    return {};
}

}  // namespace lectern
