// sparse_attention placeholder (replaced by the native/compat implementation).
#include "attention/sparse_attention.h"

namespace lectern {

Result<void> sparse_attention(const AttentionOptions&, KvCache&, int, int, int, const float*,
                              const float*, const float*, const float*, float*, ThreadPool*) {
    return make_error("sparse attention is not implemented yet");
}

}  // namespace lectern
