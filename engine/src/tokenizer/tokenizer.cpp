// Tokenizer: the parts shared by every backend (sequence decoding on top of token_bytes).
#include <new>

#include "lectern/tokenizer.h"

namespace lectern {

Result<std::string> Tokenizer::decode_bytes(const std::vector<token_id>& ids) const {
    try {
        std::string out;
        for (std::size_t i = 0; i < ids.size(); ++i) {
            Result<std::string> bytes = token_bytes(ids[i]);
            if (!bytes) return with_context("decode: token " + std::to_string(i), bytes.error());
            out.append(*bytes);
        }
        adjust_decoded(ids, out);
        return out;
    } catch (const std::bad_alloc&) {
        return make_error("decode: out of memory");
    }
}

void Tokenizer::adjust_decoded(const std::vector<token_id>&, std::string&) const {}

}  // namespace lectern
