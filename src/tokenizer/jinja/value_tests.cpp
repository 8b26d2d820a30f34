// The built-in tests (`value is name(args)`), with jinja2's definitions: numbers include bools,
// undefined counts as iterable and as a sequence, mappings are dicts only.
#include <functional>
#include <map>

#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/error.h"
#include "tokenizer/jinja/operators.h"

namespace autoglm::jinja {
namespace {

using TestFn = std::function<bool(const Value&, const CallArgs&, int)>;

const Value& one_arg(const CallArgs& args, std::string_view test, int line) {
    args.check(1, {}, test, line);
    if (args.positional.size() != 1)
        fail(line, "test '" + std::string(test) + "' needs 1 argument");
    return args.positional[0];
}

TestFn unary(std::function<bool(const Value&)> fn) {
    return [fn = std::move(fn)](const Value& v, const CallArgs& args, int line) {
        args.check(0, {}, "test", line);
        return fn(v);
    };
}

TestFn comparison(Op op, std::string_view name) {
    return [op, name](const Value& v, const CallArgs& args, int line) {
        return compare_op(op, v, one_arg(args, name, line), line);
    };
}

bool is_integer(const Value& v) {
    return v.is_int();
}

int64_t int_operand(const Value& v, std::string_view test, int line) {
    if (!v.is_int() && !v.is_bool()) {
        fail(line, "test '" + std::string(test) + "' expects an integer, got " + type_name(v));
    }
    return v.as_int();
}

const std::map<std::string, TestFn, std::less<>>& test_table() {
    static const std::map<std::string, TestFn, std::less<>> kTable = {
        {"boolean", unary([](const Value& v) { return v.is_bool(); })},
        {"defined", unary([](const Value& v) { return !v.is_undefined(); })},
        {"divisibleby",
         [](const Value& v, const CallArgs& a, int l) {
             const int64_t d = int_operand(one_arg(a, "divisibleby", l), "divisibleby", l);
             if (d == 0) fail(l, "integer division or modulo by zero");
             return int_operand(v, "divisibleby", l) % d == 0;
         }},
        {"eq", comparison(Op::kEq, "eq")},
        {"equalto", comparison(Op::kEq, "equalto")},
        {"==", comparison(Op::kEq, "==")},
        {"even",
         [](const Value& v, const CallArgs& a, int l) {
             a.check(0, {}, "even", l);
             return int_operand(v, "even", l) % 2 == 0;
         }},
        {"false", unary([](const Value& v) { return v.is_bool() && !v.as_bool(); })},
        {"float", unary([](const Value& v) { return v.is_float(); })},
        {"ge", comparison(Op::kGe, "ge")},
        {"gt", comparison(Op::kGt, "gt")},
        {"greaterthan", comparison(Op::kGt, "greaterthan")},
        {"in", [](const Value& v, const CallArgs& a,
                  int l) { return contains(one_arg(a, "in", l), v, l); }},
        {"integer", unary(is_integer)},
        {"iterable", unary([](const Value& v) {
             return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
         })},
        {"le", comparison(Op::kLe, "le")},
        {"lessthan", comparison(Op::kLt, "lessthan")},
        {"lt", comparison(Op::kLt, "lt")},
        {"mapping", unary([](const Value& v) { return v.is_dict(); })},
        {"ne", comparison(Op::kNe, "ne")},
        {"none", unary([](const Value& v) { return v.is_none(); })},
        {"number", unary([](const Value& v) { return v.is_number(); })},
        {"odd",
         [](const Value& v, const CallArgs& a, int l) {
             a.check(0, {}, "odd", l);
             return int_operand(v, "odd", l) % 2 != 0;
         }},
        {"sameas",
         [](const Value& v, const CallArgs& a, int l) {
             const Value& other = one_arg(a, "sameas", l);
             return v.kind() == other.kind() && values_equal(v, other);
         }},
        {"sequence", unary([](const Value& v) {
             return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
         })},
        {"string", unary([](const Value& v) { return v.is_string(); })},
        {"true", unary([](const Value& v) { return v.is_bool() && v.as_bool(); })},
        {"undefined", unary([](const Value& v) { return v.is_undefined(); })},
    };
    return kTable;
}

}  // namespace

bool is_known_test(std::string_view name) {
    return test_table().count(name) > 0;
}

bool apply_test(const std::string& name, const Value& input, const CallArgs& args, int line) {
    const auto& table = test_table();
    const auto it = table.find(name);
    if (it == table.end()) fail(line, "unknown test '" + name + "'");
    return it->second(input, args, line);
}

}  // namespace autoglm::jinja
