// parse_safetensors: an 8-byte little-endian header length, a JSON header mapping tensor names to
// {dtype, shape, data_offsets}, then the raw row-major tensor bytes. Offsets are relative to the
// first byte after the header.
#include <algorithm>
#include <string_view>

#include "lectern/model_file.h"
#include "model/byte_reader.h"
#include "model/json_reader.h"

namespace lectern {

namespace {

// The same cap the reference implementation applies; real headers are well under 1 MB.
constexpr std::uint64_t max_header = 100'000'000;
constexpr std::size_t max_dims = 16;

Result<DType> parse_dtype(const JsonValue* v) {
    if (v == nullptr || v->kind != JsonValue::Kind::string) return make_error("missing dtype");
    if (v->text == "F32") return DType::f32;
    if (v->text == "F16") return DType::f16;
    if (v->text == "BF16") return DType::bf16;
    return make_error("unsupported dtype " + bytes::printable(v->text, 32) +
                      " (only F32, F16 and BF16)");
}

Result<std::vector<std::uint64_t>> uint_array(const JsonValue* v, const char* what) {
    if (v == nullptr || v->kind != JsonValue::Kind::array)
        return make_error(std::string("missing ") + what);
    std::vector<std::uint64_t> out;
    for (const JsonValue& x : v->items) {
        // Bounded so that products of dimensions below cannot overflow silently.
        if (x.kind != JsonValue::Kind::number || !x.is_uint || x.uint > (std::uint64_t(1) << 62))
            return make_error(std::string(what) + " must hold non-negative integers");
        out.push_back(x.uint);
    }
    return out;
}

struct Entry {
    TensorView view;
    std::uint64_t begin = 0;
};

Result<Entry> parse_entry(const std::string& name, const JsonValue& info,
                          std::span<const std::byte> data) {
    if (info.kind != JsonValue::Kind::object) return make_error("header entry is not an object");
    auto dtype = parse_dtype(info.member("dtype"));
    if (!dtype) return dtype.error();
    auto shape = uint_array(info.member("shape"), "shape");
    if (!shape) return shape.error();
    if (shape->size() > max_dims) return make_error("more than 16 dimensions");
    auto offsets = uint_array(info.member("data_offsets"), "data_offsets");
    if (!offsets) return offsets.error();
    if (offsets->size() != 2) return make_error("data_offsets must be [begin, end]");
    const std::uint64_t begin = (*offsets)[0], end = (*offsets)[1];
    if (begin > end || end > data.size())
        return make_error("data_offsets [" + std::to_string(begin) + "," + std::to_string(end) +
                          "] lie outside the " + std::to_string(data.size()) + " data bytes");
    std::uint64_t nbytes = dtype_size(*dtype);
    for (std::uint64_t d : *shape) {
        if (d != 0 && nbytes > ~std::uint64_t(0) / d) return make_error("shape is too large");
        nbytes *= d;
    }
    if (nbytes != end - begin)
        return make_error("data_offsets span " + std::to_string(end - begin) +
                          " bytes, shape and dtype need " + std::to_string(nbytes));
    Entry e;
    e.begin = begin;
    e.view.name = name;
    e.view.dtype = *dtype;
    e.view.shape.assign(shape->begin(), shape->end());
    e.view.data = data.data() + begin;
    e.view.nbytes = static_cast<std::size_t>(nbytes);
    return e;
}

}  // namespace

Result<TensorTable> parse_safetensors(std::span<const std::byte> bytes) {
    if (bytes.size() < 8)
        return make_error("safetensors: file shorter than its 8-byte header length");
    const std::uint64_t header_len = bytes::le<8>(bytes, 0);
    if (header_len > max_header || header_len > bytes.size() - 8)
        return make_error("safetensors: header length " + std::to_string(header_len) +
                          " exceeds the file (" + std::to_string(bytes.size()) + " bytes)");
    auto header = parse_json(bytes::chars(bytes, 8, header_len));
    if (!header) return with_context("safetensors header", header.error());
    if (header->kind != JsonValue::Kind::object)
        return make_error("safetensors header: not a JSON object");

    const auto data = bytes.subspan(static_cast<std::size_t>(8 + header_len));
    std::vector<Entry> entries;
    for (std::size_t i = 0; i < header->keys.size(); ++i) {
        const std::string& name = header->keys[i];
        if (name == "__metadata__") continue;  // free-form string map, nothing we need
        auto e = parse_entry(name, header->items[i], data);
        if (!e) return with_context(bytes::printable(name), e.error());
        entries.push_back(std::move(*e));
    }
    // Report tensors in file order, i.e. by where their bytes start.
    std::stable_sort(entries.begin(), entries.end(),
                     [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
    TensorTable table;
    table.tensors.reserve(entries.size());
    for (Entry& e : entries) table.tensors.push_back(std::move(e.view));
    return table;
}

}  // namespace lectern
