// A small strict JSON reader for safetensors headers (private to the model parsers): objects,
// arrays, strings with escapes, numbers, true/false/null. Nesting is bounded, so the recursive
// descent cannot be driven arbitrarily deep by the input.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lectern/result.h"

namespace lectern {

struct JsonValue {
    enum class Kind : std::uint8_t { null, boolean, number, string, array, object };
    Kind kind = Kind::null;
    bool boolean = false;
    double number = 0;
    bool is_uint = false;           // a plain non-negative integer that fits in 64 bits
    std::uint64_t uint = 0;         // exact value when is_uint
    std::string text;               // string
    std::vector<JsonValue> items;   // array elements, or object values
    std::vector<std::string> keys;  // object keys, parallel to items, in document order

    // Object member lookup; nullptr when absent or not an object.
    const JsonValue* member(std::string_view key) const;
};

// Parse exactly one JSON value (surrounding whitespace allowed). Duplicate object keys are an
// error. Errors: "JSON: <what> at byte N".
Result<JsonValue> parse_json(std::string_view text);

}  // namespace lectern
