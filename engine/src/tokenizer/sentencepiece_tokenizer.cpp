// SentencePiece backend: wraps libsentencepiece for models that ship a tokenizer.model.
//
// Byte conventions (checked by tests/tokenizer/tst_sentencepiece_tokenizer.cpp):
// * token_bytes(id) of a normal piece is the piece with every U+2581 "▁" meta-space turned back
//   into a space; it keeps a leading space, so streaming concatenation of token_bytes through a
//   Utf8StreamDecoder gives the text with at most one extra space at the very beginning (the
//   "dummy prefix" the model adds when encoding).
// * Byte-fallback pieces <0xNN> give that one raw byte (possibly part of a multi-byte character;
//   Utf8StreamDecoder joins them).
// * Control pieces (<s>, </s>, <pad>, ...) and the unknown piece <unk> give no bytes. The
//   library's DecodeIds shows <unk> as " ⁇ "; we give nothing so that no invented text enters a
//   document. With byte fallback (the usual case) encode never produces <unk>.
// * decode_bytes of a whole sequence equals the library's DecodeIds for normal text: when the
//   model strips the dummy prefix on decode (add_dummy_prefix or remove_extra_whitespaces), the
//   leading space of the first piece that has bytes is dropped if that piece is a normal piece
//   starting with "▁". Only that one space is dropped. Unlike DecodeIds, invalid UTF-8 made of
//   byte pieces stays raw (decode_bytes returns bytes; see Utf8StreamDecoder).
#include <new>

#include <sentencepiece_processor.h>

#include "lectern/tokenizer.h"

namespace lectern {
namespace {

constexpr std::string_view meta_space = "\xE2\x96\x81";  // U+2581

// The library's messages may span lines; engine errors are one line.
std::string one_line(std::string s) {
    for (char& c : s) {
        if (c == '\n' || c == '\r') c = ' ';
    }
    return s;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

std::string replace_meta_spaces(std::string_view piece) {
    std::string out;
    out.reserve(piece.size());
    for (std::size_t i = 0; i < piece.size();) {
        if (piece.substr(i, meta_space.size()) == meta_space) {
            out.push_back(' ');
            i += meta_space.size();
        } else {
            out.push_back(piece[i++]);
        }
    }
    return out;
}

class SentencePieceTokenizer final : public Tokenizer {
  public:
    // Loads the model; an error message on failure, empty on success.
    std::string load(const std::string& model_path) {
        const sentencepiece::util::Status status = m_processor.Load(model_path);
        if (!status.ok()) return one_line(status.ToString());
        const int size = m_processor.GetPieceSize();
        if (size <= 0) return "model has no pieces";

        // Precomputed so token_bytes is a table lookup and never touches the library.
        m_bytes.resize(static_cast<std::size_t>(size));
        m_leading_space.assign(static_cast<std::size_t>(size), false);
        int probe = -1;  // a normal piece that starts with the meta-space
        for (int id = 0; id < size; ++id) {
            const std::string& piece = m_processor.IdToPiece(id);
            std::string& bytes = m_bytes[static_cast<std::size_t>(id)];
            if (m_processor.IsControl(id) || m_processor.IsUnknown(id)) continue;  // no bytes
            if (m_processor.IsByte(id) && piece.size() == 6 && piece.starts_with("<0x") &&
                piece[5] == '>' && hex_value(piece[3]) >= 0 && hex_value(piece[4]) >= 0) {
                bytes.push_back(static_cast<char>(hex_value(piece[3]) * 16 + hex_value(piece[4])));
                continue;
            }
            bytes = replace_meta_spaces(piece);
            if (std::string_view(piece).starts_with(meta_space)) {
                m_leading_space[static_cast<std::size_t>(id)] = true;
                if (probe < 0) probe = id;
            }
        }
        // Whether DecodeIds drops the dummy-prefix space depends on normalizer flags that the
        // public header does not expose; ask the library once instead.
        if (probe >= 0) m_strip_first_space = !m_processor.DecodeIds({probe}).starts_with(' ');
        return {};
    }

    std::string_view kind() const override { return "sentencepiece"; }
    std::size_t vocab_size() const override { return m_bytes.size(); }

    std::vector<token_id> encode(std::string_view text) const override {
        std::vector<int> ids;
        if (!m_processor.Encode(text, &ids).ok()) return {};
        return std::vector<token_id>(ids.begin(), ids.end());
    }

    Result<std::string> token_bytes(token_id id) const override {
        if (id >= m_bytes.size()) {
            return make_error("token id " + std::to_string(id) +
                              " is not in the vocabulary (size " + std::to_string(m_bytes.size()) +
                              ")");
        }
        return m_bytes[id];
    }

  protected:
    void adjust_decoded(const std::vector<token_id>& ids, std::string& bytes) const override {
        if (!m_strip_first_space) return;
        for (const token_id id : ids) {
            if (id >= m_bytes.size() || m_bytes[id].empty()) continue;
            // The first piece with bytes: it sits at the start of `bytes`.
            if (m_leading_space[id]) bytes.erase(0, 1);
            return;
        }
    }

  private:
    sentencepiece::SentencePieceProcessor m_processor;
    std::vector<std::string> m_bytes;   // token_bytes by id
    std::vector<bool> m_leading_space;  // normal piece starting with the meta-space
    bool m_strip_first_space = false;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> load_sentencepiece_tokenizer(const std::string& model_path) {
    try {
        auto tokenizer = std::make_unique<SentencePieceTokenizer>();
        const std::string error = tokenizer->load(model_path);
        if (!error.empty()) return make_error(model_path + ": " + error);
        return std::unique_ptr<Tokenizer>(std::move(tokenizer));
    } catch (const std::exception& e) {  // bad_alloc, or anything the library lets through
        return make_error(model_path + ": " + one_line(e.what()));
    }
}

}  // namespace lectern
