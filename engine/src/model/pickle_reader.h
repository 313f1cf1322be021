// A small pickle virtual machine for what torch.save writes (private to the .pth parser): a
// dict (or OrderedDict) of tensors. Only allow-listed globals are accepted, nothing is ever
// imported or called, and all values live in one arena addressed by index, so deep or cyclic
// structures cost no recursion and cannot leak.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "lectern/result.h"

namespace lectern {

enum class PickleKind : std::uint8_t {
    none,
    boolean,
    integer,
    floating,
    string,  // text: the UTF-8 string
    bytes,   // text: the raw bytes
    tuple,   // items
    list,    // items
    dict,    // items: key, value, key, value, ... in insertion order (duplicates kept)
    global,  // text: "module.name" of an allow-listed global
    persid,  // items[0]: the persistent id passed to BINPERSID
    tensor,  // items: the arguments of torch._utils._rebuild_tensor(_v2)
};

struct PickleValue {
    PickleKind kind = PickleKind::none;
    std::int64_t integer = 0;  // integer, boolean
    double floating = 0;
    std::string text;
    std::vector<std::uint32_t> items;  // indices into PickleProgram::values
};

struct PickleProgram {
    std::vector<PickleValue> values;
    std::uint32_t root = 0;  // the value left by STOP

    const PickleValue& at(std::uint32_t i) const { return values[i]; }
};

// Run the pickle in `bytes`. Errors: "pickle: unknown opcode 0xNN at offset N",
// "pickle: unsupported pickle global os.system", "pickle: truncated at offset N", ...
Result<PickleProgram> run_pickle(std::span<const std::byte> bytes);

}  // namespace lectern
