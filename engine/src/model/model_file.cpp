// ModelFile: maps a checkpoint, detects its container from the bytes (never the extension) and
// keeps the parsed tensor table together with the mapping its views point into.
#include "lectern/model_file.h"

#include <algorithm>
#include <unordered_map>

#include "core/mapped_file.h"
#include "model/byte_reader.h"

namespace lectern {

std::int64_t TensorView::numel() const {
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;
    return n;
}

std::string TensorView::shape_string() const {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i > 0) s += ',';
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

std::string_view model_format_name(ModelFormat f) {
    return f == ModelFormat::pth ? "pth" : "safetensors";
}

struct ModelFile::Impl {
    MappedFile file;
    std::string path;
    ModelFormat format = ModelFormat::pth;
    TensorTable table;
    std::unordered_map<std::string, std::size_t> index;
};

ModelFile::ModelFile(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
ModelFile::ModelFile(ModelFile&&) noexcept = default;
ModelFile& ModelFile::operator=(ModelFile&&) noexcept = default;
ModelFile::~ModelFile() = default;

namespace {

std::string basename_of(const std::string& path) {
    const std::size_t slash = path.find_last_of("/\\");
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

Result<ModelFormat> detect_format(std::span<const std::byte> b) {
    const std::string_view head = bytes::chars(b, 0, std::min<std::size_t>(b.size(), 16));
    if (head.starts_with(std::string_view("PK\x03\x04", 4)) ||
        head.starts_with(std::string_view("PK\x05\x06", 4)))
        return ModelFormat::pth;
    // Checked before the legacy pickle test: a header length of 0x2?80 also starts with 0x80.
    if (b.size() >= 9) {
        const std::uint64_t header = bytes::le<8>(b, 0);
        if (header >= 2 && header <= b.size() - 8 && head[8] == '{')
            return ModelFormat::safetensors;
    }
    // torch.save before 1.6 wrote a bare pickle stream (protocol 2) starting with a magic number.
    if (head.size() >= 2 && head[0] == '\x80' && head[1] >= 2 && head[1] <= 5)
        return make_error(
            "legacy (pre-1.6) PyTorch format is not supported; re-save with torch.save");
    return make_error("not a model file (neither a PyTorch zip checkpoint nor safetensors)");
}

}  // namespace

ModelFile ModelFile::in_memory(const std::string& name) {
    auto impl = std::make_unique<Impl>();
    impl->path = name;
    return ModelFile(std::move(impl));
}

Result<ModelFile> ModelFile::open(const std::string& path) {
    auto mapped = MappedFile::open(path);
    if (!mapped) return mapped.error();
    const std::string name = basename_of(path);

    auto impl = std::make_unique<Impl>();
    impl->file = std::move(*mapped);
    impl->path = path;
    const auto bytes = impl->file.bytes();
    auto format = detect_format(bytes);
    if (!format) return with_context(name, format.error());
    impl->format = *format;

    auto table = *format == ModelFormat::pth ? parse_pth(bytes) : parse_safetensors(bytes);
    if (!table) return with_context(name, table.error());
    impl->table = std::move(*table);
    for (std::size_t i = 0; i < impl->table.tensors.size(); ++i) {
        if (!impl->index.emplace(impl->table.tensors[i].name, i).second)
            return make_error(name + ": duplicate tensor name " +
                              bytes::printable(impl->table.tensors[i].name));
    }
    return ModelFile(std::move(impl));
}

ModelFormat ModelFile::format() const {
    return m_impl->format;
}
const std::string& ModelFile::path() const {
    return m_impl->path;
}
std::uint64_t ModelFile::file_size() const {
    return m_impl->file.size();
}
const std::vector<TensorView>& ModelFile::tensors() const {
    return m_impl->table.tensors;
}

const TensorView* ModelFile::find(std::string_view name) const {
    const auto it = m_impl->index.find(std::string(name));
    return it == m_impl->index.end() ? nullptr : &m_impl->table.tensors[it->second];
}

}  // namespace lectern
