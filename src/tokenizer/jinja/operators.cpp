// Operator semantics: ints stay ints (overflow is an error), / is true division, // and % floor
// like Python, + joins strings and lists, comparisons follow Python's ordering rules.
#include "tokenizer/jinja/operators.h"

#include <cmath>

#include "tokenizer/jinja/error.h"
#include "tokenizer/jinja/text_util.h"

namespace autoglm::jinja {
namespace {

[[noreturn]] void fail_operands(const char* op, const Value& a, const Value& b, int line) {
    fail(line, std::string("unsupported operand type(s) for ") + op + ": '" + type_name(a) +
                   "' and '" + type_name(b) + "'");
}

const char* op_symbol(Op op) {
    switch (op) {
        case Op::kAdd:
            return "+";
        case Op::kSub:
            return "-";
        case Op::kMul:
            return "*";
        case Op::kDiv:
            return "/";
        case Op::kFloorDiv:
            return "//";
        case Op::kMod:
            return "%";
        case Op::kPow:
            return "**";
        default:
            return "?";
    }
}

Value int_op(Op op, int64_t x, int64_t y, int line) {
    int64_t r = 0;
    bool overflow = false;
    switch (op) {
        case Op::kAdd:
            overflow = __builtin_add_overflow(x, y, &r);
            break;
        case Op::kSub:
            overflow = __builtin_sub_overflow(x, y, &r);
            break;
        case Op::kMul:
            overflow = __builtin_mul_overflow(x, y, &r);
            break;
        case Op::kDiv:
            if (y == 0) fail(line, "division by zero");
            return Value::floating(static_cast<double>(x) / static_cast<double>(y));
        case Op::kFloorDiv:
        case Op::kMod: {
            if (y == 0) fail(line, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) fail(line, "integer overflow");
            int64_t q = x / y;
            int64_t m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) {
                --q;
                m += y;
            }
            return Value::integer(op == Op::kFloorDiv ? q : m);
        }
        case Op::kPow: {
            if (y < 0) return Value::floating(std::pow(static_cast<double>(x), y));
            r = 1;
            for (int64_t i = 0; i < y && !overflow; ++i) {
                overflow = __builtin_mul_overflow(r, x, &r);
                if (r == 0 || r == 1) break;
            }
            if (x == -1) r = (y % 2 == 0) ? 1 : -1;
            break;
        }
        default:
            break;
    }
    if (overflow) fail(line, "integer overflow");
    return Value::integer(r);
}

Value float_op(Op op, double x, double y, int line) {
    switch (op) {
        case Op::kAdd:
            return Value::floating(x + y);
        case Op::kSub:
            return Value::floating(x - y);
        case Op::kMul:
            return Value::floating(x * y);
        case Op::kDiv:
            if (y == 0.0) fail(line, "float division by zero");
            return Value::floating(x / y);
        case Op::kFloorDiv:
        case Op::kMod: {
            // Python's float divmod.
            if (y == 0.0) fail(line, "float modulo by zero");
            double m = std::fmod(x, y);
            double q = (x - m) / y;
            if (m != 0.0 && ((y < 0) != (m < 0))) {
                m += y;
                q -= 1.0;
            }
            if (op == Op::kMod) return Value::floating(m != 0.0 ? m : std::copysign(0.0, y));
            double floor_q = std::floor(q);
            if (q - floor_q > 0.5) floor_q += 1.0;
            return Value::floating(q != 0.0 ? floor_q : std::copysign(0.0, x / y));
        }
        case Op::kPow:
            return Value::floating(std::pow(x, y));
        default:
            return Value::floating(0.0);
    }
}

Value repeat(const Value& seq, int64_t times, int line) {
    if (times <= 0) return seq.is_string() ? Value::string("") : Value::list({});
    const auto n = static_cast<size_t>(times);
    if (seq.is_string()) {
        const std::string& s = seq.as_string();
        if (!s.empty() && n > kMaxStringBytes / s.size()) fail(line, "string too large");
        std::string out;
        out.reserve(s.size() * n);
        for (size_t i = 0; i < n; ++i) out += s;
        return Value::string(std::move(out));
    }
    const ValueList& items = seq.as_list();
    if (!items.empty() && n > kMaxListItems / items.size()) fail(line, "list too large");
    ValueList out;
    for (size_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
    return seq.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

Value add_sequences(const Value& a, const Value& b, int line) {
    if (a.is_string() && b.is_string()) {
        check_string_size(a.as_string().size() + b.as_string().size(), line);
        return Value::string(a.as_string() + b.as_string());
    }
    if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
        if (a.as_list().size() + b.as_list().size() > kMaxListItems) fail(line, "list too large");
        ValueList out = a.as_list();
        out.insert(out.end(), b.as_list().begin(), b.as_list().end());
        return a.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
    }
    fail_operands("+", a, b, line);
}

// Three-way comparison for <, <=, >, >= (numbers, strings, lists); fails on other types.
int order(const Value& a, const Value& b, const char* op, int line) {
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) {
            return a.as_float() < b.as_float() ? -1 : a.as_float() > b.as_float() ? 1 : 0;
        }
        return a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int() ? 1 : 0;
    }
    if (a.is_string() && b.is_string()) {
        const int c = a.as_string().compare(b.as_string());  // byte order == code point order
        return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    if (a.is_list() && b.is_list()) {
        const ValueList& x = a.as_list();
        const ValueList& y = b.as_list();
        for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
            if (!values_equal(x[i], y[i])) return order(x[i], y[i], op, line);
        }
        return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
    }
    if (a.is_undefined()) fail_undefined(a, line);
    if (b.is_undefined()) fail_undefined(b, line);
    fail(line, std::string("'") + op + "' not supported between instances of '" + type_name(a) +
                   "' and '" + type_name(b) + "'");
}

}  // namespace

void fail_undefined(const Value& v, int line) {
    const std::string& hint = v.undefined_hint();
    fail(line, hint.empty() ? "undefined value" : hint);
}

void check_string_size(size_t bytes, int line) {
    if (bytes > kMaxStringBytes) fail(line, "string too large");
}

Value binary_op(Op op, const Value& a, const Value& b, int line) {
    if (op == Op::kConcat) {
        if (a.is_string() && b.is_string()) {
            check_string_size(a.as_string().size() + b.as_string().size(), line);
        }
        std::string out = to_output_string(a);
        out += to_output_string(b);
        check_string_size(out.size(), line);
        return Value::string(std::move(out));
    }
    if (a.is_undefined()) fail_undefined(a, line);
    if (b.is_undefined()) fail_undefined(b, line);
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) return float_op(op, a.as_float(), b.as_float(), line);
        return int_op(op, a.as_int(), b.as_int(), line);
    }
    if (op == Op::kAdd) return add_sequences(a, b, line);
    if (op == Op::kMul) {
        if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) {
            return repeat(a, b.as_int(), line);
        }
        if ((b.is_string() || b.is_list()) && (a.is_int() || a.is_bool())) {
            return repeat(b, a.as_int(), line);
        }
    }
    if (op == Op::kMod && a.is_string()) fail(line, "unsupported: '%' string formatting");
    fail_operands(op_symbol(op), a, b, line);
}

Value unary_op(Op op, const Value& a, int line) {
    if (op == Op::kNot) return Value::boolean(!is_truthy(a));
    if (a.is_undefined()) fail_undefined(a, line);
    if (!a.is_number()) {
        fail(line, std::string("bad operand type for unary ") + (op == Op::kNeg ? "-" : "+") +
                       ": '" + type_name(a) + "'");
    }
    if (op == Op::kPos) return a.is_bool() ? Value::integer(a.as_int()) : a;
    if (a.is_float()) return Value::floating(-a.as_float());
    if (a.as_int() == INT64_MIN) fail(line, "integer overflow");
    return Value::integer(-a.as_int());
}

bool compare_op(Op op, const Value& a, const Value& b, int line) {
    switch (op) {
        case Op::kEq:
            return values_equal(a, b);
        case Op::kNe:
            return !values_equal(a, b);
        case Op::kIn:
            return contains(b, a, line);
        case Op::kNotIn:
            return !contains(b, a, line);
        case Op::kLt:
            return order(a, b, "<", line) < 0;
        case Op::kLe:
            return order(a, b, "<=", line) <= 0;
        case Op::kGt:
            return order(a, b, ">", line) > 0;
        case Op::kGe:
            return order(a, b, ">=", line) >= 0;
        default:
            return false;
    }
}

bool contains(const Value& container, const Value& item, int line) {
    switch (container.kind()) {
        case ValueKind::kUndefined:
            return false;
        case ValueKind::kString:
            if (!item.is_string()) {
                fail(line, "'in <string>' requires string as left operand, not " + type_name(item));
            }
            return container.as_string().find(item.as_string()) != std::string::npos;
        case ValueKind::kList:
            for (const Value& v : container.as_list()) {
                if (values_equal(v, item)) return true;
            }
            return false;
        case ValueKind::kDict:
            return item.is_string() && container.as_dict().find(item.as_string()) != nullptr;
        default:
            fail(line, "argument of type '" + type_name(container) + "' is not iterable");
    }
}

ValueList iterate(const Value& v, int line) {
    switch (v.kind()) {
        case ValueKind::kUndefined:
            return {};
        case ValueKind::kList:
            return v.as_list();
        case ValueKind::kDict: {
            ValueList keys;
            for (const auto& entry : v.as_dict()) keys.push_back(Value::string(entry.first));
            return keys;
        }
        case ValueKind::kString: {
            ValueList chars;
            std::string buf;
            for (char32_t cp : utf8_decode(v.as_string())) {
                buf.clear();
                append_utf8(buf, cp);
                chars.push_back(Value::string(buf));
            }
            return chars;
        }
        default:
            fail(line, "'" + type_name(v) + "' object is not iterable");
    }
}

Value get_attribute(const Value& obj, const std::string& name, int line) {
    if (obj.is_undefined()) fail_undefined(obj, line);
    if (obj.is_dict() || obj.is_namespace()) {
        if (const Value* found = obj.as_dict().find(name)) return *found;
        return Value::undefined("'" + std::string(obj.is_dict() ? "dict object" : "Namespace") +
                                "' has no attribute '" + name + "'");
    }
    return Value::undefined("'" + type_name(obj) + " object' has no attribute '" + name + "'");
}

Value get_item(const Value& obj, const Value& key, int line) {
    if (obj.is_undefined()) fail_undefined(obj, line);
    if ((obj.is_dict() || obj.is_namespace()) && key.is_string()) {
        return get_attribute(obj, key.as_string(), line);
    }
    if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
        const bool is_list = obj.is_list();
        std::u32string cps;
        if (!is_list) cps = utf8_decode(obj.as_string());
        const auto size = static_cast<int64_t>(is_list ? obj.as_list().size() : cps.size());
        int64_t i = key.as_int();
        if (i < 0) i += size;
        if (i >= 0 && i < size) {
            if (is_list) return obj.as_list()[static_cast<size_t>(i)];
            return Value::string(
                utf8_encode(std::u32string_view(cps).substr(static_cast<size_t>(i), 1)));
        }
    }
    return Value::undefined("'" + type_name(obj) + " object' has no element " + to_repr(key));
}

namespace {

int64_t slice_bound(const Value* v, int64_t fallback, int line) {
    if (v == nullptr || v->is_none()) return fallback;
    if (!v->is_int() && !v->is_bool()) {
        fail(line, "slice indices must be integers or None, not " + type_name(*v));
    }
    return v->as_int();
}

int64_t clamp_index(int64_t i, int64_t size, int64_t step) {
    if (i < 0) {
        i += size;
        if (i < 0) i = step < 0 ? -1 : 0;
    } else if (i >= size) {
        i = step < 0 ? size - 1 : size;
    }
    return i;
}

}  // namespace

Value get_slice(const Value& obj, const Value* start, const Value* stop, const Value* step,
                int line) {
    if (obj.is_undefined()) fail_undefined(obj, line);
    const int64_t stride = slice_bound(step, 1, line);
    if (stride == 0) fail(line, "slice step cannot be zero");
    const bool is_list = obj.is_list();
    if (!is_list && !obj.is_string()) {
        fail(line, "'" + type_name(obj) + "' object is not subscriptable");
    }
    std::u32string cps;
    if (!is_list) cps = utf8_decode(obj.as_string());
    const auto size = static_cast<int64_t>(is_list ? obj.as_list().size() : cps.size());
    int64_t i = clamp_index(slice_bound(start, stride < 0 ? INT64_MAX : 0, line), size, stride);
    const int64_t end =
        clamp_index(slice_bound(stop, stride < 0 ? INT64_MIN + 1 : INT64_MAX, line), size, stride);
    ValueList items;
    std::u32string chars;
    while (stride > 0 ? i < end : i > end) {
        if (is_list) {
            items.push_back(obj.as_list()[static_cast<size_t>(i)]);
        } else {
            chars.push_back(cps[static_cast<size_t>(i)]);
        }
        if (__builtin_add_overflow(i, stride, &i)) break;
    }
    if (!is_list) return Value::string(utf8_encode(chars));
    return obj.is_tuple() ? Value::tuple(std::move(items)) : Value::list(std::move(items));
}

}  // namespace autoglm::jinja
