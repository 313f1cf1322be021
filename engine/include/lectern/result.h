// Errors as values: lectern::Result<T> holds either a T or an Error with a one-line message.
// C++20 has no std::expected; this is the small subset the engine needs, with the same names.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace lectern {

// One line, no trailing newline, saying what failed and where ("blocks.3.att.w1: shape [768,32],
// expected [768,64]"). Callers add context with `with_context`.
struct Error {
    std::string message;
};

inline Error make_error(std::string message) { return Error{std::move(message)}; }

// Prefix context to an error: with_context("model.pth", e) -> "model.pth: <e.message>".
inline Error with_context(const std::string& context, Error e) {
    return Error{context + ": " + e.message};
}

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : m_v(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : m_v(std::in_place_index<1>, std::move(error)) {}

    bool has_value() const { return m_v.index() == 0; }
    explicit operator bool() const { return has_value(); }

    T& value() & { return std::get<0>(m_v); }
    const T& value() const& { return std::get<0>(m_v); }
    T&& value() && { return std::get<0>(std::move(m_v)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const { return std::get<1>(m_v); }

private:
    std::variant<T, Error> m_v;
};

// Result of an operation that yields nothing but may fail.
template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : m_error(std::move(error)), m_failed(true) {}

    bool has_value() const { return !m_failed; }
    explicit operator bool() const { return has_value(); }
    const Error& error() const { return m_error; }

private:
    Error m_error;
    bool m_failed = false;
};

}  // namespace lectern
