// SHA-256 for the document store (private to the engine): the model fingerprint a store is tied
// to, computed over the checkpoint's tensors rather than the file so that re-saving the same
// weights in another container or order gives the same fingerprint. OpenSSL does the hashing.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

namespace lectern {

class ModelFile;

// Incremental SHA-256; hex() finishes the digest (lower-case, 64 characters).
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    void update(std::span<const std::byte> bytes);
    void update(const void* data, std::size_t n);
    std::string hex();

private:
    struct Ctx;
    std::unique_ptr<Ctx> m_ctx;
};

// SHA-256 over every tensor in name order: for each, its name, dtype name, shape and bytes, each
// length-prefixed so that no two different tensor lists hash the same byte stream.
std::string tensor_fingerprint(const ModelFile& file);

}  // namespace lectern
