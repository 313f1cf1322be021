// Reading model checkpoints without Python: PyTorch `.pth` (torch.save zip + pickle) and
// safetensors. Weights are memory-mapped and handed out as views; nothing is copied unless a
// tensor is stored non-contiguously.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lectern/dtype.h"
#include "lectern/result.h"

namespace lectern {

enum class ModelFormat : std::uint8_t { pth, safetensors };
std::string_view model_format_name(ModelFormat f);  // "pth", "safetensors"

// A read-only view of one tensor in row-major (C) order. `data` stays valid while the ModelFile
// that produced it is alive.
struct TensorView {
    std::string name;
    DType dtype = DType::f32;
    std::vector<std::int64_t> shape;
    const std::byte* data = nullptr;
    std::size_t nbytes = 0;

    std::int64_t numel() const;
    std::string shape_string() const;  // "[768,64]"
};

class ModelFile {
public:
    ModelFile(ModelFile&&) noexcept;
    ModelFile& operator=(ModelFile&&) noexcept;
    ~ModelFile();

    // Open and fully validate the container (every tensor's bytes lie inside the file, sizes are
    // consistent, names are unique). The format is detected from the content, not the extension.
    static Result<ModelFile> open(const std::string& path);
    // A file with no tensors, for models built in memory (Model::random); path() is `name`.
    static ModelFile in_memory(const std::string& name);

    ModelFormat format() const;
    const std::string& path() const;
    std::uint64_t file_size() const;
    // Tensors in file order.
    const std::vector<TensorView>& tensors() const;
    // nullptr when absent.
    const TensorView* find(std::string_view name) const;

    struct Impl;

private:
    explicit ModelFile(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

// Tensors parsed from a container held in memory. Views point into the container bytes, or into
// `owned_copies` for tensors that had to be made contiguous (moving the table keeps them valid).
struct TensorTable {
    std::vector<TensorView> tensors;
    std::vector<std::vector<std::byte>> owned_copies;
};

// Parsers over bytes already in memory, used by ModelFile::open and by the fuzzers. The bytes must
// outlive the returned views. Every failure is a one-line Error; no input makes them crash.
Result<TensorTable> parse_pth(std::span<const std::byte> bytes);
Result<TensorTable> parse_safetensors(std::span<const std::byte> bytes);

}  // namespace lectern
