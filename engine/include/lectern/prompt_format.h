// Prompt text for RWKV models (spec §4.6): the World / RWKV-X Instruct chat format, its G1
// "thinking" variant, and plain continuation for base models; with the stop tokens and stop
// strings that end an assistant turn.
//
// Chat prompt, two turns and a system text in the default System-turn placement:
//   "System: S\n\nUser: Q1\n\nAssistant: A1\n\nUser: Q2\n\nAssistant:"
// The same with SystemPlacement::first_user_prefix (the RWKV-X SFT data form):
//   "User: S\nQ1\n\nAssistant: A1\n\nUser: Q2\n\nAssistant:"
// Every message is cleaned first (clean_chat_message) so "\n\n" only ever ends a turn, which is
// what lets generation stop on token 261.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lectern/result.h"
#include "lectern/tokenizer.h"

namespace lectern {

enum class PromptStyle : std::uint8_t {
    base,  // plain continuation: the single message's text, unchanged
    chat,  // "User: …\n\nAssistant: …\n\n…Assistant:"
};

// Where a system text goes in the chat style.
enum class SystemPlacement : std::uint8_t {
    system_turn,        // a leading "System: S\n\n" turn (RWKV-7 World/G1 templates)
    first_user_prefix,  // "User: S\n<first user text>" (RWKV-X Instruct SFT code)
};

enum class ChatRole : std::uint8_t { user, assistant };

struct ChatMessage {
    ChatRole role = ChatRole::user;
    std::string text;
};

struct PromptOptions {
    PromptStyle style = PromptStyle::chat;
    SystemPlacement system_placement = SystemPlacement::system_turn;
    std::string system;  // empty = none
    // G1 thinking models: the prompt ends "Assistant: <think" so the model writes its reasoning
    // first. Chat style only.
    bool think = false;
};

// Normalise one message for the chat format: CRs before a newline dropped ("\r\n" -> "\n");
// leading and trailing whitespace (including newlines) removed; every run of blank lines — "\n",
// then any number of lines holding only spaces/tabs/\r/\v/\f, then "\n" — collapsed to a
// single "\n". Indentation of the line after the run is kept. The result never contains "\n\n",
// and cleaning it again changes nothing.
std::string clean_chat_message(std::string_view text);

// The prompt to feed before generating the next assistant reply. Chat: the messages must be
// non-empty and end with a user message (roles need not alternate); the result ends with
// "Assistant:" (no trailing space) or "Assistant: <think". Base: exactly one user message and no
// system text or think; the result is its text unchanged.
Result<std::string> format_prompt(std::span<const ChatMessage> messages,
                                  const PromptOptions& options);

// Convenience for one user message.
Result<std::string> format_prompt(std::string_view user_text, const PromptOptions& options);

// What ends a reply by default (ids of the RWKV World vocabulary). Chat: tokens 261 ("\n\n", the
// turn separator) and 0 (end of document); strings "\n\nUser:", "\n\nAssistant:" and "\n\nSystem:",
// which catch a new turn that the model spells with other tokens (e.g. "\n" "\n"). Base: token 0
// only, no strings.
std::vector<token_id> default_stop_tokens(PromptStyle style);
std::vector<std::string> default_stop_strings(PromptStyle style);

}  // namespace lectern
