// The RWKV World tokenizer (spec §4.2-4.4): greedy longest match over a byte vocabulary, walked
// in a double-array trie. Parsing the vocabulary text lives in world_vocab.cpp.
// Checked by tests/tokenizer/tst_world_tokenizer.cpp (spec vectors, round trips, a naive
// longest-match oracle).
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <new>
#include <sstream>

#include "core/native_path.h"
#include "lectern/tokenizer.h"
#include "tokenizer/world_vocab.h"

namespace lectern {
namespace {

// Double-array trie over token bytes: the child of state s on byte c is t = base[s] + c, and it
// exists iff check[t] == s. A transition is one 12-byte slot read, which is what makes greedy
// matching fast: a 256-ary pointer trie over 65K tokens would be hundreds of MB of mostly
// empty arrays, while this is about 2.5 MB for the real vocabulary.
class DoubleArrayTrie {
  public:
    void build(const world::Vocab& vocab);

    // Length of the longest token that is a prefix of [p, end), and its id. Returns 0 when no
    // token matches (cannot happen for a validated vocabulary: every byte is a token).
    std::size_t longest_match(const unsigned char* p, const unsigned char* end,
                              token_id& id) const {
        const Slot* slots = m_slots.data();
        std::int32_t s = 0;
        std::size_t best = 0;
        for (const unsigned char* q = p; q != end; ++q) {
            const std::int32_t t = slots[s].base + *q;
            if (slots[t].check != s) break;
            s = t;
            if (slots[t].value != 0) {  // id 0 is never a vocabulary token, so 0 = "no token"
                id = slots[t].value;
                best = static_cast<std::size_t>(q - p) + 1;
            }
        }
        return best;
    }

  private:
    struct Slot {
        std::int32_t base;
        std::int32_t check;  // parent state; free_check / dead_check for slots no state owns
        token_id value;      // id of the token ending here, or 0
    };
    static constexpr std::int32_t free_check = -1;
    static constexpr std::int32_t dead_check = -2;

    // Build-time list of free slots, doubly linked through index 0 (the root, never free).
    struct FreeList {
        std::vector<std::int32_t> next{0}, prev{0};
    };

    void grow(FreeList& free, std::size_t new_size);
    void take(FreeList& free, std::int32_t slot);
    std::int32_t find_base(FreeList& free, const std::vector<unsigned char>& labels);

    std::vector<Slot> m_slots;
};

void DoubleArrayTrie::grow(FreeList& free, std::size_t new_size) {
    const std::size_t old_size = m_slots.size();
    if (new_size <= old_size) return;
    m_slots.resize(new_size, Slot{0, free_check, 0});
    free.next.resize(new_size);
    free.prev.resize(new_size);
    for (std::size_t i = old_size; i < new_size; ++i) {  // append to the tail of the ring
        const auto slot = static_cast<std::int32_t>(i);
        const std::int32_t tail = free.prev[0];
        free.next[tail] = slot;
        free.prev[slot] = tail;
        free.next[slot] = 0;
        free.prev[0] = slot;
    }
}

void DoubleArrayTrie::take(FreeList& free, std::int32_t slot) {
    free.next[free.prev[slot]] = free.next[slot];
    free.prev[free.next[slot]] = free.prev[slot];
}

// First-fit: the lowest base whose slots for every label are free. Most states have one child
// and fill the first hole, so the free list stays short and building takes milliseconds.
std::int32_t DoubleArrayTrie::find_base(FreeList& free, const std::vector<unsigned char>& labels) {
    std::int32_t p = free.next[0];
    for (;;) {
        if (p == 0) {  // ran out of free slots: add a block and try its first slot
            const auto old_size = static_cast<std::int32_t>(m_slots.size());
            grow(free, m_slots.size() + 512);
            p = old_size;
        }
        const std::int32_t b = p - labels.front();
        const bool fits =
            b >= 1 && std::all_of(labels.begin() + 1, labels.end(), [&](unsigned char c) {
                const auto t = static_cast<std::size_t>(b) + c;
                return t >= m_slots.size() || m_slots[t].check == free_check;
            });
        if (fits) {
            grow(free, static_cast<std::size_t>(b) + labels.back() + 1);
            return b;
        }
        p = free.next[p];
    }
}

void DoubleArrayTrie::build(const world::Vocab& vocab) {
    m_slots.clear();
    FreeList free;
    m_slots.push_back(Slot{0, dead_check, 0});  // the root
    grow(free, 257);

    // A state covers the sorted keys [lo, hi) that share its first `depth` bytes.
    struct Work {
        std::int32_t state;
        std::uint32_t lo, hi, depth;
    };
    const auto key = [&](std::uint32_t k) { return vocab.token(vocab.entries[vocab.by_bytes[k]]); };
    std::vector<Work> stack{{0, 0, static_cast<std::uint32_t>(vocab.by_bytes.size()), 0}};
    std::vector<std::int32_t> leaves;
    std::vector<unsigned char> labels;
    std::vector<std::uint32_t> starts;
    std::int32_t max_base = 0;
    while (!stack.empty()) {
        const Work w = stack.back();
        stack.pop_back();
        std::uint32_t lo = w.lo;
        if (key(lo).size() == w.depth) {  // the key equal to the prefix sorts first
            m_slots[w.state].value = vocab.entries[vocab.by_bytes[lo]].id;
            ++lo;
        }
        if (lo == w.hi) {
            leaves.push_back(w.state);
            continue;
        }
        labels.clear();
        starts.clear();
        for (std::uint32_t k = lo; k < w.hi; ++k) {
            const auto c = static_cast<unsigned char>(key(k)[w.depth]);
            if (labels.empty() || c != labels.back()) {
                labels.push_back(c);
                starts.push_back(k);
            }
        }
        starts.push_back(w.hi);
        const std::int32_t b = find_base(free, labels);
        m_slots[w.state].base = b;
        max_base = std::max(max_base, b);
        for (std::size_t i = 0; i < labels.size(); ++i) {
            const std::int32_t t = b + labels[i];
            take(free, t);
            m_slots[t].check = w.state;
            stack.push_back({t, starts[i], starts[i + 1], w.depth + 1});
        }
    }

    // Every base + 255 must be inside the array so the walk needs no bounds check. Leaves point
    // at a trailing block that no state owns, so every transition out of a leaf fails.
    grow(free, static_cast<std::size_t>(max_base) + 256);
    const auto dead_base = static_cast<std::int32_t>(m_slots.size());
    m_slots.resize(m_slots.size() + 256, Slot{0, dead_check, 0});
    for (const std::int32_t leaf : leaves) m_slots[leaf].base = dead_base;
    m_slots.shrink_to_fit();
}

class WorldTokenizer final : public Tokenizer {
  public:
    explicit WorldTokenizer(world::Vocab vocab) {
        m_trie.build(vocab);
        m_spans.assign(static_cast<std::size_t>(vocab.entries.back().id) + 1, Span{0, 0});
        for (const world::VocabEntry& e : vocab.entries) m_spans[e.id] = Span{e.offset, e.length};
        m_bytes = std::move(vocab.bytes);
    }

    std::string_view kind() const override { return "world"; }
    std::size_t vocab_size() const override { return m_spans.size(); }

    std::vector<token_id> encode(std::string_view text) const override {
        std::vector<token_id> ids;
        ids.reserve(text.size() / 4 + 16);  // English averages about 4 bytes per token
        const auto* p = reinterpret_cast<const unsigned char*>(text.data());
        const unsigned char* const end = p + text.size();
        while (p != end) {
            token_id id = 0;
            const std::size_t n = m_trie.longest_match(p, end, id);
            if (n == 0) break;  // unreachable: parse_vocab_text guarantees all 256 single bytes
            ids.push_back(id);
            p += n;
        }
        return ids;
    }

    Result<std::string> token_bytes(token_id id) const override {
        if (id == 0) return std::string();  // end-of-document decodes to nothing (spec §4.4)
        if (id >= m_spans.size() || m_spans[id].length == 0) {
            return make_error("token id " + std::to_string(id) +
                              " is not in the vocabulary (size " + std::to_string(m_spans.size()) +
                              ")");
        }
        return m_bytes.substr(m_spans[id].offset, m_spans[id].length);
    }

  private:
    struct Span {
        std::uint32_t offset;
        std::uint32_t length;  // 0: no token has this id
    };
    std::string m_bytes;
    std::vector<Span> m_spans;  // indexed by id
    DoubleArrayTrie m_trie;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> parse_world_vocab(std::string_view vocab_text) {
    try {
        Result<world::Vocab> vocab = world::parse_vocab_text(vocab_text);
        if (!vocab) return vocab.error();
        return std::unique_ptr<Tokenizer>(std::make_unique<WorldTokenizer>(std::move(*vocab)));
    } catch (const std::bad_alloc&) {
        return make_error("vocab: out of memory");
    }
}

Result<std::unique_ptr<Tokenizer>> load_world_tokenizer(const std::string& vocab_path) {
    try {
        std::ifstream file(native_path(vocab_path), std::ios::binary);
        if (!file) return make_error(vocab_path + ": cannot open: " + std::strerror(errno));
        std::ostringstream text;
        text << file.rdbuf();
        if (file.bad()) return make_error(vocab_path + ": read error");
        Result<std::unique_ptr<Tokenizer>> tokenizer = parse_world_vocab(text.view());
        if (!tokenizer) return with_context(vocab_path, tokenizer.error());
        return tokenizer;
    } catch (const std::bad_alloc&) {
        return make_error(vocab_path + ": out of memory");
    }
}

}  // namespace lectern
