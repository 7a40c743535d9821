// A restricted unpickler for PyTorch state_dicts (the data.pkl inside a torch.save zip).
//
// It is a pickle *interpreter*, never an executor: the only globals it resolves are the ones a
// state_dict uses, each mapped to a fixed meaning here, and every other GLOBAL / STACK_GLOBAL is
// an error, before anything could be called:
//   collections.OrderedDict          -> an empty dict (REDUCE with no arguments)
//   torch._utils._rebuild_tensor_v2  -> (storage, offset, size, stride, requires_grad, hooks[, meta])
//   torch._utils._rebuild_parameter  -> (tensor, requires_grad, hooks): the tensor itself
//   torch.<T>Storage                 -> the element type of a storage persistent id
// Persistent ids (BINPERSID) must be ('storage', <T>Storage, key, location, numel): the tensor's
// bytes are the zip entry `<archive>/data/<key>`. BUILD on a dict (OrderedDict's `_metadata`) is
// accepted and ignored. Opcodes are those of protocols 2-4 that build plain data; NEWOBJ, INST,
// OBJ, EXT*, PERSID (text) and the like are refused.
// Resources are bounded: objects live in one arena (so deep nesting is no recursion, cycles are no
// leak), memo indices are looked up in a map (a huge index is no huge allocation), and the arena
// and stack have caps.
// Opcode facts: CPython Lib/pickletools.py.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../error.hpp"
#include "element_type.hpp"

namespace quant::io {

struct pickled_tensor {
    std::string name;
    element_type dtype = element_type::f32;
    std::string storage_key;  // zip entry <archive>/data/<key>
    std::uint64_t offset = 0;  // in elements
    std::vector<std::uint64_t> shape, stride;
};

namespace detail {

class unpickler {
public:
    static constexpr std::size_t max_objects = std::size_t{1} << 22;
    static constexpr std::size_t max_stack = std::size_t{1} << 20;

    unpickler(std::span<const std::byte> data, std::string path) : in_(data), path_(std::move(path)) {}

    std::vector<pickled_tensor> state_dict() {
        const std::uint32_t root = run();
        if (objs_[root].type == kind::tensor) fail("the pickle holds a single tensor, not a state_dict");
        expect(objs_[root].type == kind::dict, root, "the top-level object (a state_dict)");
        std::vector<pickled_tensor> out;
        for (std::size_t i = 0; i + 1 < objs_[root].items.size(); i += 2) {
            const obj& k = objs_[objs_[root].items[i]];
            const std::uint32_t v = objs_[root].items[i + 1];
            if (k.type != kind::string) fail("a state_dict key is not a string");
            if (objs_[v].type != kind::tensor) fail("state_dict entry '", k.text, "' is not a tensor");
            const obj& t = objs_[v];
            const obj& s = objs_[t.items[0]];
            pickled_tensor p;
            p.name = k.text;
            p.dtype = static_cast<element_type>(s.integer);
            p.storage_key = s.text;
            p.offset = static_cast<std::uint64_t>(t.integer);
            for (std::size_t d = 1; d < t.items.size(); d += 2) {
                p.shape.push_back(static_cast<std::uint64_t>(objs_[t.items[d]].integer));
                p.stride.push_back(static_cast<std::uint64_t>(objs_[t.items[d + 1]].integer));
            }
            out.push_back(std::move(p));
        }
        return out;
    }

private:
    enum class kind : std::uint8_t { none, boolean, integer, floating, string, bytes, tuple, list, dict, global, storage, tensor };
    enum class global : std::uint8_t { ordered_dict, rebuild_tensor_v2, rebuild_parameter, storage_type };
    // one object; containers hold arena indices (dict: key, value, key, value, ...)
    struct obj {
        kind type;
        std::int64_t integer = 0;          // integer, boolean; global: which; storage: element type; tensor: offset
        std::int64_t extra = 0;            // global storage_type: its element type
        std::string text;                  // string, bytes; storage: key
        std::vector<std::uint32_t> items;  // tuple, list, dict (k, v, k, v, ...); tensor: storage, (size, stride)...
        explicit obj(kind k) : type(k) {}
    };

    template <class... P>
    [[noreturn]] void fail(P&&... parts) const {
        quant::detail::fail(path_, ": pickle: ", std::forward<P>(parts)..., " (at byte ", op_at_, ")");
    }
    void expect(bool ok, const char* what) const {
        if (!ok) fail(what);
    }
    void expect(bool ok, std::uint32_t, const char* what) const {
        if (!ok) fail(what, " has the wrong type");
    }

    std::uint32_t make(kind k) {
        if (objs_.size() >= max_objects) fail("more than ", max_objects, " objects");
        objs_.emplace_back(k);
        return static_cast<std::uint32_t>(objs_.size() - 1);
    }
    std::uint32_t make_int(std::int64_t v) {
        const auto i = make(kind::integer);
        objs_[i].integer = v;
        return i;
    }
    void push(std::uint32_t i) {
        if (stack_.size() >= max_stack) fail("stack deeper than ", max_stack);
        stack_.push_back(i);
    }
    std::uint32_t pop() {
        if (stack_.size() <= floor()) fail("stack underflow");
        const auto v = stack_.back();
        stack_.pop_back();
        return v;
    }
    std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
    std::vector<std::uint32_t> pop_mark() {
        if (marks_.empty()) fail("no MARK");
        std::vector<std::uint32_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
        stack_.resize(marks_.back());
        marks_.pop_back();
        return items;
    }
    std::uint32_t top() {
        if (stack_.size() <= floor()) fail("stack underflow");
        return stack_.back();
    }

    std::uint64_t read_le(std::size_t n) {
        if (in_.size() - pos_ < n) fail("truncated");
        std::uint64_t v = 0;
        for (std::size_t i = n; i-- > 0;) v = (v << 8) | std::to_integer<std::uint64_t>(in_[pos_ + i]);
        pos_ += n;
        return v;
    }
    std::string read_bytes(std::uint64_t n) {
        if (in_.size() - pos_ < n) fail("truncated (a string of ", n, " bytes)");
        std::string s(reinterpret_cast<const char*>(in_.data() + pos_), static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return s;
    }
    std::string read_line() {
        std::size_t e = pos_;
        while (e < in_.size() && in_[e] != std::byte{'\n'}) ++e;
        if (e == in_.size()) fail("truncated (a GLOBAL without newline)");
        std::string s(reinterpret_cast<const char*>(in_.data() + pos_), e - pos_);
        pos_ = e + 1;
        return s;
    }
    std::uint32_t make_string(kind k, std::string s) {
        const auto i = make(k);
        objs_[i].text = std::move(s);
        return i;
    }
    std::uint32_t make_tuple(std::vector<std::uint32_t> items) {
        const auto i = make(kind::tuple);
        objs_[i].items = std::move(items);
        return i;
    }

    std::uint32_t resolve_global(const std::string& module, const std::string& name) {
        static const std::pair<std::string_view, element_type> storages[] = {
            {"DoubleStorage", element_type::f64}, {"FloatStorage", element_type::f32},
            {"HalfStorage", element_type::f16},   {"BFloat16Storage", element_type::bf16},
            {"LongStorage", element_type::i64},   {"IntStorage", element_type::i32},
            {"ShortStorage", element_type::i16},  {"CharStorage", element_type::i8},
            {"ByteStorage", element_type::u8},    {"BoolStorage", element_type::boolean}};
        auto which = global::storage_type;
        element_type type = element_type::u8;
        bool known = true;
        if (module == "collections" && name == "OrderedDict") which = global::ordered_dict;
        else if (module == "torch._utils" && name == "_rebuild_tensor_v2") which = global::rebuild_tensor_v2;
        else if (module == "torch._utils" && name == "_rebuild_parameter") which = global::rebuild_parameter;
        else {
            known = false;
            if (module == "torch")
                for (const auto& [n, t] : storages)
                    if (name == n) {
                        known = true;
                        type = t;
                    }
        }
        if (known) {  // created last: make() may grow the arena that module/name point into
            const auto g = make(kind::global);
            objs_[g].integer = static_cast<int>(which);
            objs_[g].extra = static_cast<int>(type);
            return g;
        }
        fail("global '", module, ".", name, "' is not allowed (only what a state_dict needs)");
    }

    bool is(std::uint32_t i, kind k) const { return objs_[i].type == k; }
    bool is_global(std::uint32_t i, global g) const {
        return is(i, kind::global) && objs_[i].integer == static_cast<int>(g);
    }
    std::int64_t int_arg(std::uint32_t i, const char* what) const {
        if (!is(i, kind::integer)) fail(what, " is not an integer");
        return objs_[i].integer;
    }

    std::uint32_t reduce(std::uint32_t callable, std::uint32_t args) {
        if (!is(args, kind::tuple)) fail("REDUCE arguments are not a tuple");
        const std::vector<std::uint32_t> a = objs_[args].items;  // a copy: make() may grow the arena
        if (is_global(callable, global::ordered_dict)) {
            if (!a.empty()) fail("OrderedDict with arguments");
            return make(kind::dict);
        }
        if (is_global(callable, global::rebuild_parameter)) {
            if (a.size() != 3 || !is(a[0], kind::tensor)) fail("_rebuild_parameter needs (tensor, requires_grad, hooks)");
            return a[0];
        }
        if (!is_global(callable, global::rebuild_tensor_v2)) fail("REDUCE of a callable that is not allowed");
        if (a.size() != 6 && a.size() != 7) fail("_rebuild_tensor_v2 takes 6 or 7 arguments, got ", a.size());
        if (!is(a[0], kind::storage)) fail("_rebuild_tensor_v2: the first argument is not a storage");
        const std::int64_t offset = int_arg(a[1], "_rebuild_tensor_v2 offset");
        if (!is(a[2], kind::tuple) || !is(a[3], kind::tuple)) fail("_rebuild_tensor_v2: size and stride must be tuples");
        const std::vector<std::uint32_t> size = objs_[a[2]].items, stride = objs_[a[3]].items;
        if (size.size() != stride.size()) fail("_rebuild_tensor_v2: size and stride differ in length");
        if (size.size() > 16) fail("_rebuild_tensor_v2: more than 16 dims");
        if (offset < 0) fail("_rebuild_tensor_v2: negative storage offset");
        std::vector<std::uint32_t> items{a[0]};
        for (std::size_t d = 0; d < size.size(); ++d) {
            if (int_arg(size[d], "a tensor dim") < 0 || int_arg(stride[d], "a tensor stride") < 0)
                fail("_rebuild_tensor_v2: negative dim or stride");
            items.push_back(size[d]);
            items.push_back(stride[d]);
        }
        const auto t = make(kind::tensor);
        objs_[t].integer = offset;
        objs_[t].items = std::move(items);
        return t;
    }

    // (make() may grow the arena: copy what is needed out of it before creating objects)
    std::uint32_t persistent_load(std::uint32_t pid) {
        const std::vector<std::uint32_t> p = objs_[pid].items;
        if (!is(pid, kind::tuple) || p.size() != 5 || !is(p[0], kind::string) || objs_[p[0]].text != "storage")
            fail("persistent id is not ('storage', type, key, location, numel)");
        if (!is_global(p[1], global::storage_type)) fail("persistent id: unknown storage type");
        if (!is(p[2], kind::string)) fail("persistent id: the storage key is not a string");
        std::string key = objs_[p[2]].text;
        const std::int64_t type = objs_[p[1]].extra;
        const auto s = make(kind::storage);
        objs_[s].integer = type;
        objs_[s].text = std::move(key);
        return s;
    }

    void set_items(std::uint32_t dict, const std::vector<std::uint32_t>& kv) {
        if (!is(dict, kind::dict)) fail("SETITEM(S) on something that is not a dict");
        if (kv.size() % 2) fail("SETITEMS with an odd number of items");
        auto& items = objs_[dict].items;
        items.insert(items.end(), kv.begin(), kv.end());
    }
    void append(std::uint32_t list, const std::vector<std::uint32_t>& v) {
        if (!is(list, kind::list)) fail("APPEND(S) on something that is not a list");
        auto& items = objs_[list].items;
        items.insert(items.end(), v.begin(), v.end());
    }
    void memo_put(std::uint64_t idx) {
        if (memo_.size() >= max_objects) fail("memo too large");
        memo_[idx] = top();
    }
    std::uint32_t memo_get(std::uint64_t idx) {
        const auto it = memo_.find(idx);
        if (it == memo_.end()) fail("memo index ", idx, " is not defined");
        return it->second;
    }

    std::uint32_t run() {
        while (true) {
            op_at_ = pos_;
            if (pos_ >= in_.size()) fail("truncated (no STOP)");
            const auto op = std::to_integer<unsigned char>(in_[pos_++]);
            switch (op) {
                case 0x80: read_le(1); break;  // PROTO
                case 0x95: read_le(8); break;  // FRAME: framing is only a hint
                case '.': {                    // STOP
                    const auto v = pop();
                    if (!marks_.empty()) fail("STOP inside a MARK");
                    return v;
                }
                case '(': marks_.push_back(stack_.size()); break;
                case '}': push(make(kind::dict)); break;
                case ']': push(make(kind::list)); break;
                case ')': push(make_tuple({})); break;
                case 't': push(make_tuple(pop_mark())); break;
                case 0x85: { auto a = pop(); push(make_tuple({a})); break; }
                case 0x86: { auto b = pop(), a = pop(); push(make_tuple({a, b})); break; }
                case 0x87: { auto c = pop(), b = pop(), a = pop(); push(make_tuple({a, b, c})); break; }
                case 'N': push(make(kind::none)); break;
                case 0x88:
                case 0x89: {
                    const auto b = make(kind::boolean);
                    objs_[b].integer = op == 0x88;
                    push(b);
                    break;
                }
                case 'K': push(make_int(static_cast<std::int64_t>(read_le(1)))); break;
                case 'M': push(make_int(static_cast<std::int64_t>(read_le(2)))); break;
                case 'J': push(make_int(static_cast<std::int32_t>(read_le(4)))); break;
                case 0x8a: {  // LONG1: n bytes, little-endian two's complement
                    const auto n = read_le(1);
                    if (n > 8) fail("LONG1 of ", n, " bytes does not fit 64 bits");
                    std::uint64_t v = n ? read_le(n) : 0;
                    if (n && n < 8 && (v >> (8 * n - 1)) & 1u) v |= ~std::uint64_t{0} << (8 * n);  // sign-extend
                    push(make_int(static_cast<std::int64_t>(v)));
                    break;
                }
                case 'G':  // BINFLOAT: 8 bytes; no float matters in a state_dict
                    read_le(8);
                    push(make(kind::floating));
                    break;
                case 'X': push(make_string(kind::string, read_bytes(read_le(4)))); break;
                case 0x8c: push(make_string(kind::string, read_bytes(read_le(1)))); break;
                case 0x8d: push(make_string(kind::string, read_bytes(read_le(8)))); break;
                case 'T': push(make_string(kind::string, read_bytes(read_le(4)))); break;
                case 'U': push(make_string(kind::string, read_bytes(read_le(1)))); break;
                case 'B': push(make_string(kind::bytes, read_bytes(read_le(4)))); break;
                case 'C': push(make_string(kind::bytes, read_bytes(read_le(1)))); break;
                case 'q': memo_put(read_le(1)); break;
                case 'r': memo_put(read_le(4)); break;
                case 0x94: memo_put(memo_.size()); break;  // MEMOIZE
                case 'h': push(memo_get(read_le(1))); break;
                case 'j': push(memo_get(read_le(4))); break;
                case 'c': {
                    const std::string module = read_line();
                    const std::string name = read_line();
                    push(resolve_global(module, name));
                    break;
                }
                case 0x93: {  // STACK_GLOBAL
                    const auto n = pop(), m = pop();
                    if (!is(n, kind::string) || !is(m, kind::string)) fail("STACK_GLOBAL needs two strings");
                    const std::string module = objs_[m].text, name = objs_[n].text;
                    push(resolve_global(module, name));
                    break;
                }
                case 'Q': push(persistent_load(pop())); break;
                case 'R': {
                    const auto args = pop(), callable = pop();
                    push(reduce(callable, args));
                    break;
                }
                case 'b': {  // BUILD: only a dict's instance state (OrderedDict._metadata), ignored
                    pop();
                    if (!is(top(), kind::dict)) fail("BUILD on something that is not a dict");
                    break;
                }
                case 's': {
                    const auto v = pop(), k = pop();
                    set_items(top(), {k, v});
                    break;
                }
                case 'u': {
                    auto kv = pop_mark();
                    set_items(top(), kv);
                    break;
                }
                case 'a': {
                    const auto v = pop();
                    append(top(), {v});
                    break;
                }
                case 'e': {
                    auto v = pop_mark();
                    append(top(), v);
                    break;
                }
                case '0': pop(); break;                 // POP
                case '1': pop_mark(); break;            // POP_MARK
                case '2': push(top()); break;           // DUP
                default: fail("opcode 0x", hex(op), " is not allowed");
            }
        }
    }
    static std::string hex(unsigned v) {
        const char* d = "0123456789abcdef";
        return {d[(v >> 4) & 15], d[v & 15]};
    }

    std::span<const std::byte> in_;
    std::string path_;
    std::size_t pos_ = 0, op_at_ = 0;
    std::vector<obj> objs_;
    std::vector<std::uint32_t> stack_;
    std::vector<std::size_t> marks_;
    std::unordered_map<std::uint64_t, std::uint32_t> memo_;
};

}  // namespace detail

// The tensors of a pickled state_dict, in pickle order; `path` names the file in errors.
inline std::vector<pickled_tensor> unpickle_state_dict(std::span<const std::byte> pickle, const std::string& path) {
    return detail::unpickler(pickle, path).state_dict();
}

}  // namespace quant::io
