// KvCache placeholder (replaced by the chunked implementation).
#include "attention/sparse_attention.h"

namespace lectern {

struct KvCache::Impl {
    int n_embd = 0;
    int n_head = 0;
    AttentionOptions options;
};

KvCache::KvCache(int n_embd, int n_head, const AttentionOptions& options)
    : m_impl(std::make_unique<Impl>(Impl{n_embd, n_head, options})) {}
KvCache::KvCache(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
KvCache::KvCache(KvCache&&) noexcept = default;
KvCache& KvCache::operator=(KvCache&&) noexcept = default;
KvCache::~KvCache() = default;

KvCache KvCache::fork() const { return KvCache(std::make_unique<Impl>(*m_impl)); }
std::int64_t KvCache::rows() const { return 0; }
void KvCache::serialize(std::vector<std::byte>&) const {}
Result<KvCache> KvCache::deserialize(std::span<const std::byte>, int n_embd, int n_head,
                                     const AttentionOptions& options) {
    return KvCache(n_embd, n_head, options);
}

}  // namespace lectern
