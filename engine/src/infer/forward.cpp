// forward placeholder (replaced by the RWKV-7 / RWKV-X forward pass).
#include "lectern/inference.h"

namespace lectern {

Result<void> forward(State&, std::span<const token_id>, bool, std::vector<float>&) {
    return make_error("inference is not implemented yet");
}

}  // namespace lectern
