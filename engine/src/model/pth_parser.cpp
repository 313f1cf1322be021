// parse_pth: a torch.save checkpoint is a zip holding `<prefix>/data.pkl` (a pickle describing a
// dict of tensors) and one raw little-endian blob per storage at `<prefix>/data/<key>`. Tensors
// become views into those blobs; the rare non-contiguous one is copied into row-major order.
#include <cstring>
#include <string_view>
#include <unordered_map>

#include "lectern/model_file.h"
#include "model/byte_reader.h"
#include "model/pickle_reader.h"
#include "model/zip_reader.h"

namespace lectern {

namespace {

constexpr std::size_t max_dims = 16;

// a * b, false on 64-bit overflow.
bool mul_checked(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
    if (a != 0 && b > ~std::uint64_t(0) / a) return false;
    out = a * b;
    return true;
}

bool add_checked(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
    if (b > ~std::uint64_t(0) - a) return false;
    out = a + b;
    return true;
}

struct Storage {
    DType dtype = DType::f32;
    std::string key;
};

Result<DType> storage_dtype(const std::string& global) {
    if (global == "torch.FloatStorage") return DType::f32;
    if (global == "torch.HalfStorage") return DType::f16;
    if (global == "torch.BFloat16Storage") return DType::bf16;
    static const std::pair<std::string_view, std::string_view> names[] = {
        {"torch.DoubleStorage", "float64"}, {"torch.LongStorage", "int64"},
        {"torch.IntStorage", "int32"},      {"torch.ShortStorage", "int16"},
        {"torch.CharStorage", "int8"},      {"torch.ByteStorage", "uint8"},
        {"torch.BoolStorage", "bool"},
    };
    for (const auto& [storage, dtype] : names)
        if (global == storage)
            return make_error("unsupported dtype " + std::string(dtype) + " (" + global + ")");
    return make_error("unsupported dtype (" + bytes::printable(global) + ")");
}

// The persistent id torch writes for a storage: ('storage', storage_type, key, location, numel).
Result<Storage> decode_storage(const PickleProgram& p, const PickleValue& persid) {
    const PickleValue& pid = p.at(persid.items.at(0));
    if (pid.kind != PickleKind::tuple || pid.items.size() != 5 ||
        p.at(pid.items[0]).kind != PickleKind::string || p.at(pid.items[0]).text != "storage" ||
        p.at(pid.items[1]).kind != PickleKind::global)
        return make_error("malformed storage reference");
    auto dtype = storage_dtype(p.at(pid.items[1]).text);
    if (!dtype) return dtype.error();
    const PickleValue& key = p.at(pid.items[2]);
    Storage s;
    s.dtype = *dtype;
    if (key.kind == PickleKind::string)
        s.key = key.text;
    else if (key.kind == PickleKind::integer)
        s.key = std::to_string(key.integer);
    else
        return make_error("malformed storage key");
    return s;
}

Result<std::vector<std::int64_t>> int_tuple(const PickleProgram& p, const PickleValue& v,
                                            const char* what) {
    if (v.kind != PickleKind::tuple) return make_error(std::string(what) + " is not a tuple");
    if (v.items.size() > max_dims) return make_error("more than 16 dimensions");
    std::vector<std::int64_t> out;
    for (std::uint32_t i : v.items) {
        const PickleValue& x = p.at(i);
        if (x.kind != PickleKind::integer || x.integer < 0)
            return make_error(std::string(what) +
                              " holds a value that is not a non-negative integer");
        out.push_back(x.integer);
    }
    return out;
}

// Gather a strided tensor into row-major order, one element at a time with an odometer index
// (no recursion, any number of dimensions).
std::vector<std::byte> gather(const std::byte* base, const std::vector<std::int64_t>& shape,
                              const std::vector<std::int64_t>& stride, std::size_t elt,
                              std::uint64_t numel) {
    std::vector<std::byte> out(static_cast<std::size_t>(numel * elt));
    std::vector<std::int64_t> index(shape.size(), 0);
    std::uint64_t src = 0;  // element offset of `index`
    for (std::uint64_t n = 0; n < numel; ++n) {
        std::memcpy(out.data() + n * elt, base + src * elt, elt);
        for (std::size_t d = shape.size(); d-- > 0;) {
            if (++index[d] < shape[d]) {
                src += static_cast<std::uint64_t>(stride[d]);
                break;
            }
            src -= static_cast<std::uint64_t>(stride[d] * (shape[d] - 1));
            index[d] = 0;
        }
    }
    return out;
}

class PthBuilder {
  public:
    PthBuilder(std::span<const std::byte> bytes, std::string prefix,
               const std::vector<ZipEntry>& entries)
        : m_bytes(bytes), m_prefix(std::move(prefix)) {
        for (const ZipEntry& e : entries) m_entries.emplace(e.name, &e);
    }

    Result<void> add(const PickleProgram& p, const std::string& name, const PickleValue& t);
    TensorTable table;

  private:
    std::span<const std::byte> m_bytes;
    std::string m_prefix;
    std::unordered_map<std::string, const ZipEntry*> m_entries;
    std::uint64_t m_copied = 0;  // bytes of non-contiguous copies so far
};

Result<void> PthBuilder::add(const PickleProgram& p, const std::string& name,
                             const PickleValue& t) {
    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, meta])
    if (t.items.size() < 4 || p.at(t.items[0]).kind != PickleKind::persid ||
        p.at(t.items[1]).kind != PickleKind::integer || p.at(t.items[1]).integer < 0)
        return make_error("malformed tensor record");
    auto storage = decode_storage(p, p.at(t.items[0]));
    if (!storage) return storage.error();
    auto shape = int_tuple(p, p.at(t.items[2]), "size");
    if (!shape) return shape.error();
    auto stride = int_tuple(p, p.at(t.items[3]), "stride");
    if (!stride) return stride.error();
    if (shape->size() != stride->size()) return make_error("size and stride differ in length");

    const auto entry = m_entries.find(m_prefix + "data/" + storage->key);
    if (entry == m_entries.end())
        return make_error("storage " + bytes::printable(storage->key) +
                          " is missing from the archive");
    const std::uint64_t elt = dtype_size(storage->dtype);
    const auto offset = static_cast<std::uint64_t>(p.at(t.items[1]).integer);

    // Highest element index the tensor touches, and whether the layout is plain row-major.
    std::uint64_t numel = 1, last = offset, expected_stride = 1;
    bool contiguous = true;
    bool ok = true;
    for (std::size_t d = shape->size(); d-- > 0;) {
        const auto n = static_cast<std::uint64_t>((*shape)[d]);
        const auto s = static_cast<std::uint64_t>((*stride)[d]);
        ok = ok && mul_checked(numel, n, numel);
        if (n > 1) {
            std::uint64_t reach = 0;
            ok = ok && mul_checked(n - 1, s, reach) && add_checked(last, reach, last);
            contiguous = contiguous && s == expected_stride;
        }
        ok = ok && mul_checked(expected_stride, n == 0 ? 1 : n, expected_stride);
    }
    std::uint64_t needed = 0, nbytes = 0;
    std::uint64_t end = 0;  // one past the last element touched
    ok = ok && add_checked(last, 1, end) && mul_checked(end, elt, needed) &&
         mul_checked(numel, elt, nbytes);
    if (!ok) return make_error("tensor size overflows");
    if (numel == 0) needed = 0;
    if (needed > entry->second->size)
        return make_error("storage " + bytes::printable(storage->key) + " holds " +
                          std::to_string(entry->second->size) + " bytes, tensor needs " +
                          std::to_string(needed));

    TensorView view;
    view.name = name;
    view.dtype = storage->dtype;
    view.shape = std::move(*shape);
    view.nbytes = static_cast<std::size_t>(nbytes);
    const std::byte* base = m_bytes.data() + entry->second->data_offset;
    if (contiguous || numel == 0) {
        view.data = base + (numel == 0 ? 0 : offset * elt);
    } else {
        // Overlapping strides could make a tiny file expand without bound, so all copies
        // together may not exceed the file's size.
        if (nbytes > m_bytes.size() - m_copied)
            return make_error("non-contiguous tensor of " + std::to_string(nbytes) +
                              " bytes is larger than the file allows");
        m_copied += nbytes;
        table.owned_copies.push_back(
            gather(base + offset * elt, view.shape, *stride, static_cast<std::size_t>(elt), numel));
        view.data = table.owned_copies.back().data();
    }
    table.tensors.push_back(std::move(view));
    return {};
}

// The record prefix: the top folder holding data.pkl ("archive/", or the file stem in torch 2).
Result<std::string> find_prefix(const std::vector<ZipEntry>& entries) {
    std::string prefix;
    int found = 0;
    for (const ZipEntry& e : entries) {
        const std::string_view n = e.name;
        if (n.size() > 9 && n.ends_with("/data.pkl") && n.find('/') == n.size() - 9) {
            prefix = std::string(n.substr(0, n.size() - 8));
            ++found;
        }
    }
    if (found == 0) return make_error("no data.pkl in the zip archive (not a PyTorch checkpoint)");
    if (found > 1) return make_error("several data.pkl records in one archive");
    return prefix;
}

}  // namespace

Result<TensorTable> parse_pth(std::span<const std::byte> bytes) {
    auto entries = read_zip_entries(bytes);
    if (!entries) return entries.error();
    auto prefix = find_prefix(*entries);
    if (!prefix) return prefix.error();

    const ZipEntry* pickle = nullptr;
    for (const ZipEntry& e : *entries) {
        if (e.name == *prefix + "data.pkl") pickle = &e;
        if (e.name == *prefix + "byteorder") {
            const std::string_view order(
                reinterpret_cast<const char*>(bytes.data()) + e.data_offset,
                static_cast<std::size_t>(e.size));
            if (order != "little" && order != "little\n")
                return make_error("byte order '" + std::string(order.substr(0, 16)) +
                                  "' is not supported (only little-endian)");
        }
    }
    auto program = run_pickle(bytes.subspan(static_cast<std::size_t>(pickle->data_offset),
                                            static_cast<std::size_t>(pickle->size)));
    if (!program) return program.error();

    const PickleValue& root = program->at(program->root);
    if (root.kind != PickleKind::dict)
        return make_error("data.pkl does not hold a dict of tensors");
    PthBuilder builder(bytes, *prefix, *entries);
    for (std::size_t i = 0; i + 1 < root.items.size(); i += 2) {
        const PickleValue& key = program->at(root.items[i]);
        const PickleValue& value = program->at(root.items[i + 1]);
        if (key.kind != PickleKind::string)
            return make_error("data.pkl: a dict key is not a string");
        if (value.kind != PickleKind::tensor)
            return make_error(bytes::printable(key.text) +
                              ": not a tensor (only a flat dict of tensors is supported)");
        auto added = builder.add(*program, key.text, value);
        if (!added) return with_context(bytes::printable(key.text), added.error());
    }
    return std::move(builder.table);
}

}  // namespace lectern
