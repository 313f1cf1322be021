// Sha256 over OpenSSL's EVP interface, and the tensor fingerprint of a model file.
#include "store/sha256.h"

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

#include <openssl/evp.h>

#include "lectern/model_file.h"

namespace lectern {

struct Sha256::Ctx {
    EVP_MD_CTX* md = nullptr;
};

Sha256::Sha256() : m_ctx(std::make_unique<Ctx>()) {
    m_ctx->md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(m_ctx->md, EVP_sha256(), nullptr);
}

Sha256::~Sha256() { EVP_MD_CTX_free(m_ctx->md); }

void Sha256::update(std::span<const std::byte> bytes) { update(bytes.data(), bytes.size()); }

void Sha256::update(const void* data, std::size_t n) {
    if (n > 0) EVP_DigestUpdate(m_ctx->md, data, n);
}

std::string Sha256::hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(m_ctx->md, digest, &len);
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(std::size_t(len) * 2);
    for (unsigned i = 0; i < len; ++i) {
        out.push_back(digits[digest[i] >> 4]);
        out.push_back(digits[digest[i] & 15]);
    }
    return out;
}

std::string tensor_fingerprint(const ModelFile& file) {
    std::vector<const TensorView*> order;
    for (const TensorView& t : file.tensors()) order.push_back(&t);
    std::sort(order.begin(), order.end(),
              [](const TensorView* a, const TensorView* b) { return a->name < b->name; });
    Sha256 sha;
    const auto put_u64 = [&](std::uint64_t v) { sha.update(&v, sizeof v); };
    const auto put_text = [&](std::string_view s) {
        put_u64(s.size());
        sha.update(s.data(), s.size());
    };
    put_u64(order.size());
    for (const TensorView* t : order) {
        put_text(t->name);
        put_text(dtype_name(t->dtype));
        put_u64(t->shape.size());
        for (std::int64_t d : t->shape) put_u64(std::uint64_t(d));
        put_u64(t->nbytes);
        sha.update(t->data, t->nbytes);
    }
    return sha.hex();
}

}  // namespace lectern
