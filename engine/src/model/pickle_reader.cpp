// The pickle VM behind parse_pth. It implements the opcodes torch.save emits (protocol 2, plus
// the protocol 4 ones a re-pickled file may use) and nothing that could execute code: globals
// resolve only against a fixed allow-list and REDUCE only "calls" those.
#include "model/pickle_reader.h"

#include <array>
#include <bit>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <unordered_map>

#include "model/byte_reader.h"

namespace lectern {

namespace {

// Bounds that no real checkpoint comes near (a 40-layer model has ~1,200 tensors) but that keep
// hostile input from exhausting memory faster than it is read.
constexpr std::size_t max_stack = 1u << 20;
constexpr std::size_t max_marks = 1u << 16;
constexpr std::size_t max_memo = 1u << 20;
constexpr std::size_t max_values = 1u << 22;

constexpr std::array<std::string_view, 20> allowed_globals = {
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_parameter",
    "torch.FloatStorage",
    "torch.HalfStorage",
    "torch.BFloat16Storage",
    // Storage types we recognise only to report "unsupported dtype" with the tensor's name.
    "torch.DoubleStorage",
    "torch.LongStorage",
    "torch.IntStorage",
    "torch.ShortStorage",
    "torch.CharStorage",
    "torch.ByteStorage",
    "torch.BoolStorage",
    "torch.ComplexFloatStorage",
    "torch.ComplexDoubleStorage",
    "torch.QInt8Storage",
    "torch.QUInt8Storage",
    "torch.QInt32Storage",
    "torch.Float8_e4m3fnStorage",
};

class Machine {
  public:
    explicit Machine(std::span<const std::byte> in) : m_in(in) {}
    Result<PickleProgram> run();

  private:
    Result<void> step(std::uint8_t op);
    Error fail(const std::string& what) const {
        return make_error("pickle: " + what + " at offset " + std::to_string(m_op_offset));
    }
    bool take(std::uint64_t n, std::uint64_t& where) {
        if (!bytes::fits(m_in.size(), m_pos, n)) return false;
        where = m_pos;
        m_pos += n;
        return true;
    }
    Result<std::uint64_t> uint_arg(int n);
    Result<void> push_text(PickleKind kind, std::uint64_t len);
    Result<void> push_int(std::uint64_t len);
    std::uint32_t make(PickleValue v) {
        m_values.push_back(std::move(v));
        return static_cast<std::uint32_t>(m_values.size() - 1);
    }
    Result<void> push(std::uint32_t v) {
        if (m_stack.size() >= max_stack) return fail("stack too deep");
        m_stack.push_back(v);
        return {};
    }
    Result<std::uint32_t> pop() {
        if (m_stack.size() <= m_stack_floor()) return fail("stack underflow");
        const std::uint32_t v = m_stack.back();
        m_stack.pop_back();
        return v;
    }
    std::size_t m_stack_floor() const { return m_marks.empty() ? 0 : m_marks.back(); }
    // Pop everything above the topmost mark, and the mark.
    Result<std::vector<std::uint32_t>> pop_mark();
    Result<void> add_global(std::string module, std::string_view name);
    Result<void> reduce();
    Result<void> memo_put(std::uint64_t key);
    Result<void> memo_get(std::uint64_t key);

    std::span<const std::byte> m_in;
    std::uint64_t m_pos = 0;
    std::uint64_t m_op_offset = 0;
    bool m_stopped = false;
    std::vector<PickleValue> m_values;
    std::vector<std::uint32_t> m_stack;
    std::vector<std::size_t> m_marks;
    std::unordered_map<std::uint64_t, std::uint32_t> m_memo;
};

Result<std::uint64_t> Machine::uint_arg(int n) {
    std::uint64_t at = 0;
    if (!take(static_cast<std::uint64_t>(n), at)) return fail("truncated argument");
    switch (n) {
        case 1:
            return bytes::le<1>(m_in, at);
        case 2:
            return bytes::le<2>(m_in, at);
        case 4:
            return bytes::le<4>(m_in, at);
        default:
            return bytes::le<8>(m_in, at);
    }
}

Result<void> Machine::push_text(PickleKind kind, std::uint64_t len) {
    std::uint64_t at = 0;
    if (!take(len, at)) return fail("string of " + std::to_string(len) + " bytes overruns input");
    PickleValue v;
    v.kind = kind;
    v.text = std::string(bytes::chars(m_in, at, len));
    return push(make(std::move(v)));
}

// LONG1/LONG4: little-endian two's complement of `len` bytes; we only need int64.
Result<void> Machine::push_int(std::uint64_t len) {
    if (len > 8) return fail("integer wider than 64 bits");
    std::uint64_t at = 0;
    if (!take(len, at)) return fail("truncated integer");
    std::uint64_t u = 0;
    for (std::uint64_t i = len; i-- > 0;)
        u = (u << 8) | std::to_integer<std::uint64_t>(m_in[at + i]);
    if (len > 0 && len < 8 && (std::to_integer<unsigned>(m_in[at + len - 1]) & 0x80u))
        u |= ~std::uint64_t(0) << (8 * len);  // sign-extend
    PickleValue v;
    v.kind = PickleKind::integer;
    v.integer = static_cast<std::int64_t>(u);
    return push(make(std::move(v)));
}

Result<std::vector<std::uint32_t>> Machine::pop_mark() {
    if (m_marks.empty()) return fail("no MARK on the stack");
    const std::size_t mark = m_marks.back();
    m_marks.pop_back();
    std::vector<std::uint32_t> items(m_stack.begin() + static_cast<std::ptrdiff_t>(mark),
                                     m_stack.end());
    m_stack.resize(mark);
    return items;
}

Result<void> Machine::add_global(std::string module, std::string_view name) {
    std::string full = std::move(module);
    full += '.';
    full += name;
    for (std::string_view allowed : allowed_globals) {
        if (full == allowed) {
            PickleValue v;
            v.kind = PickleKind::global;
            v.text = std::move(full);
            return push(make(std::move(v)));
        }
    }
    return make_error("unsupported pickle global " + bytes::printable(full));
}

// REDUCE and NEWOBJ: "call" an allow-listed global on a tuple of arguments.
Result<void> Machine::reduce() {
    auto args = pop();
    if (!args) return args.error();
    auto callable = pop();
    if (!callable) return callable.error();
    if (m_values[*args].kind != PickleKind::tuple) return fail("REDUCE arguments are not a tuple");
    const PickleValue& fn = m_values[*callable];
    if (fn.kind != PickleKind::global) return fail("REDUCE on a value that is not a global");
    const std::vector<std::uint32_t> arg_items = m_values[*args].items;
    PickleValue v;
    if (fn.text == "collections.OrderedDict") {
        if (!arg_items.empty()) return fail("OrderedDict with arguments is not supported");
        v.kind = PickleKind::dict;
    } else if (fn.text == "torch._utils._rebuild_tensor_v2" ||
               fn.text == "torch._utils._rebuild_tensor") {
        v.kind = PickleKind::tensor;
        v.items = arg_items;
    } else if (fn.text == "torch._utils._rebuild_parameter") {
        // A saved nn.Parameter: (data, requires_grad, backward_hooks) -> the data tensor.
        if (arg_items.empty()) return fail("_rebuild_parameter without arguments");
        return push(arg_items[0]);
    } else {
        return fail(fn.text + " cannot be called");
    }
    return push(make(std::move(v)));
}

Result<void> Machine::memo_put(std::uint64_t key) {
    if (m_stack.size() <= m_stack_floor()) return fail("memoize with an empty stack");
    if (m_memo.size() >= max_memo && !m_memo.count(key)) return fail("memo too large");
    m_memo[key] = m_stack.back();
    return {};
}

Result<void> Machine::memo_get(std::uint64_t key) {
    const auto it = m_memo.find(key);
    if (it == m_memo.end()) return fail("memo key " + std::to_string(key) + " not found");
    return push(it->second);
}

Result<PickleProgram> Machine::run() {
    while (!m_stopped) {
        m_op_offset = m_pos;
        if (m_pos >= m_in.size()) return fail("truncated (no STOP)");
        const auto op = std::to_integer<std::uint8_t>(m_in[m_pos++]);
        if (m_values.size() >= max_values) return fail("too many values");
        auto r = step(op);
        if (!r) return r.error();
    }
    if (m_stack.empty()) return fail("STOP with an empty stack");
    PickleProgram program;
    program.root = m_stack.back();
    program.values = std::move(m_values);
    return program;
}

Result<void> Machine::step(std::uint8_t op) {
    PickleValue v;
    switch (op) {
        case 0x80: {  // PROTO
            auto p = uint_arg(1);
            if (!p) return p.error();
            if (*p > 5) return fail("unsupported pickle protocol " + std::to_string(*p));
            return {};
        }
        case 0x95: {  // FRAME: framing is only a read-ahead hint, the opcodes simply continue
            auto n = uint_arg(8);
            return n ? Result<void>{} : Result<void>{n.error()};
        }
        case '.':  // STOP
            m_stopped = true;
            return {};
        case '(':  // MARK
            if (m_marks.size() >= max_marks) return fail("too many MARKs");
            m_marks.push_back(m_stack.size());
            return {};
        case '0': {  // POP
            auto x = pop();
            return x ? Result<void>{} : Result<void>{x.error()};
        }
        case '1': {  // POP_MARK
            auto x = pop_mark();
            return x ? Result<void>{} : Result<void>{x.error()};
        }
        case '}':  // EMPTY_DICT
            v.kind = PickleKind::dict;
            return push(make(std::move(v)));
        case ']':  // EMPTY_LIST
            v.kind = PickleKind::list;
            return push(make(std::move(v)));
        case ')':  // EMPTY_TUPLE
            v.kind = PickleKind::tuple;
            return push(make(std::move(v)));
        case 'N':  // NONE
            return push(make(std::move(v)));
        case 0x88:  // NEWTRUE
        case 0x89:  // NEWFALSE
            v.kind = PickleKind::boolean;
            v.integer = op == 0x88;
            return push(make(std::move(v)));
        case 't':    // TUPLE
        case 'l':    // LIST
        case 'd': {  // DICT
            auto items = pop_mark();
            if (!items) return items.error();
            if (op == 'd' && items->size() % 2 != 0) return fail("DICT with an odd item count");
            v.kind = op == 't'   ? PickleKind::tuple
                     : op == 'l' ? PickleKind::list
                                 : PickleKind::dict;
            v.items = std::move(*items);
            return push(make(std::move(v)));
        }
        case 0x85:    // TUPLE1
        case 0x86:    // TUPLE2
        case 0x87: {  // TUPLE3
            const std::size_t n = op - 0x84u;
            if (m_stack.size() < m_stack_floor() + n) return fail("stack underflow");
            v.kind = PickleKind::tuple;
            v.items.assign(m_stack.end() - static_cast<std::ptrdiff_t>(n), m_stack.end());
            m_stack.resize(m_stack.size() - n);
            return push(make(std::move(v)));
        }
        case 'J':    // BININT
        case 'K':    // BININT1
        case 'M': {  // BININT2
            auto x = uint_arg(op == 'J' ? 4 : op == 'K' ? 1 : 2);
            if (!x) return x.error();
            v.kind = PickleKind::integer;
            v.integer =
                op == 'J' ? std::int64_t(std::int32_t(std::uint32_t(*x))) : std::int64_t(*x);
            return push(make(std::move(v)));
        }
        case 0x8a:    // LONG1
        case 0x8b: {  // LONG4
            auto n = uint_arg(op == 0x8a ? 1 : 4);
            if (!n) return n.error();
            return push_int(*n);
        }
        case 'G': {  // BINFLOAT: big-endian IEEE double
            std::uint64_t at = 0;
            if (!take(8, at)) return fail("truncated float");
            std::uint64_t u = 0;
            for (int i = 0; i < 8; ++i) u = (u << 8) | std::to_integer<std::uint64_t>(m_in[at + i]);
            v.kind = PickleKind::floating;
            v.floating = std::bit_cast<double>(u);
            return push(make(std::move(v)));
        }
        case 'X':     // BINUNICODE
        case 0x8c:    // SHORT_BINUNICODE
        case 0x8d:    // BINUNICODE8
        case 'B':     // BINBYTES
        case 'C':     // SHORT_BINBYTES
        case 0x8e: {  // BINBYTES8
            const int width = (op == 0x8c || op == 'C') ? 1 : (op == 0x8d || op == 0x8e) ? 8 : 4;
            auto n = uint_arg(width);
            if (!n) return n.error();
            const bool text = op == 'X' || op == 0x8c || op == 0x8d;
            return push_text(text ? PickleKind::string : PickleKind::bytes, *n);
        }
        case 'c': {  // GLOBAL: "module\nname\n"
            std::string_view rest = bytes::chars(m_in, m_pos, m_in.size() - m_pos);
            const std::size_t nl1 = rest.find('\n');
            const std::size_t nl2 = nl1 == rest.npos ? rest.npos : rest.find('\n', nl1 + 1);
            if (nl2 == rest.npos) return fail("truncated GLOBAL");
            m_pos += nl2 + 1;
            return add_global(std::string(rest.substr(0, nl1)),
                              rest.substr(nl1 + 1, nl2 - nl1 - 1));
        }
        case 0x93: {  // STACK_GLOBAL
            auto name = pop();
            if (!name) return name.error();
            auto module = pop();
            if (!module) return module.error();
            if (m_values[*name].kind != PickleKind::string ||
                m_values[*module].kind != PickleKind::string)
                return fail("STACK_GLOBAL needs two strings");
            return add_global(m_values[*module].text, m_values[*name].text);
        }
        case 'Q': {  // BINPERSID
            auto pid = pop();
            if (!pid) return pid.error();
            v.kind = PickleKind::persid;
            v.items.push_back(*pid);
            return push(make(std::move(v)));
        }
        case 'R':   // REDUCE
        case 0x81:  // NEWOBJ
            return reduce();
        case 'b': {  // BUILD: only OrderedDict's _metadata uses it; the state is not needed
            auto state = pop();
            if (!state) return state.error();
            if (m_stack.size() <= m_stack_floor()) return fail("BUILD with an empty stack");
            return {};
        }
        case 's':    // SETITEM
        case 'u':    // SETITEMS
        case 'a':    // APPEND
        case 'e': {  // APPENDS
            std::vector<std::uint32_t> items;
            if (op == 's' || op == 'a') {
                const std::size_t n = op == 's' ? 2 : 1;
                if (m_stack.size() < m_stack_floor() + n) return fail("stack underflow");
                items.assign(m_stack.end() - static_cast<std::ptrdiff_t>(n), m_stack.end());
                m_stack.resize(m_stack.size() - n);
            } else {
                auto popped = pop_mark();
                if (!popped) return popped.error();
                items = std::move(*popped);
            }
            if (m_stack.size() <= m_stack_floor()) return fail("no container on the stack");
            PickleValue& target = m_values[m_stack.back()];
            const bool dict_op = op == 's' || op == 'u';
            if (target.kind != (dict_op ? PickleKind::dict : PickleKind::list))
                return fail(dict_op ? "SETITEM on a non-dict" : "APPEND on a non-list");
            if (dict_op && items.size() % 2 != 0) return fail("SETITEMS with an odd item count");
            target.items.insert(target.items.end(), items.begin(), items.end());
            return {};
        }
        case 'q':    // BINPUT
        case 'r': {  // LONG_BINPUT
            auto key = uint_arg(op == 'q' ? 1 : 4);
            if (!key) return key.error();
            return memo_put(*key);
        }
        case 0x94:  // MEMOIZE
            return memo_put(m_memo.size());
        case 'h':    // BINGET
        case 'j': {  // LONG_BINGET
            auto key = uint_arg(op == 'h' ? 1 : 4);
            if (!key) return key.error();
            return memo_get(*key);
        }
        default: {
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02X", op);
            return fail(std::string("unknown opcode ") + hex);
        }
    }
}

}  // namespace

Result<PickleProgram> run_pickle(std::span<const std::byte> bytes) {
    Machine machine(bytes);
    return machine.run();
}

}  // namespace lectern
