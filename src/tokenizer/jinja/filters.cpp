// The built-in filters (`value | name(args)`), following jinja2's definitions and Hugging
// Face's tojson override; map/select/reject return lists where jinja2 returns generators.
#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>

#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/error.h"
#include "tokenizer/jinja/json_dump.h"
#include "tokenizer/jinja/operators.h"
#include "tokenizer/jinja/text_util.h"

namespace autoglm::jinja {
namespace {

using FilterFn = std::function<Value(const Value&, const CallArgs&, int)>;

Value length_filter(const Value& v, const CallArgs& args, int line) {
    args.check(0, {}, "length", line);
    switch (v.kind()) {
        case ValueKind::kUndefined:
            return Value::integer(0);
        case ValueKind::kString:
            return Value::integer(static_cast<int64_t>(utf8_length(v.as_string())));
        case ValueKind::kList:
            return Value::integer(static_cast<int64_t>(v.as_list().size()));
        case ValueKind::kDict:
            return Value::integer(static_cast<int64_t>(v.as_dict().size()));
        default:
            fail(line, "object of type '" + type_name(v) + "' has no len()");
    }
}

Value default_filter(const Value& v, const CallArgs& args, int line) {
    args.check(2, {"default_value", "boolean"}, "default", line);
    const Value* fallback = args.get(0, "default_value");
    const Value* boolean = args.get(1, "boolean");
    const bool use_fallback = v.is_undefined() || (boolean && is_truthy(*boolean) && !is_truthy(v));
    if (!use_fallback) return v;
    return fallback ? *fallback : Value::string("");
}

Value first_or_last(const Value& v, const CallArgs& args, int line, bool first) {
    args.check(0, {}, first ? "first" : "last", line);
    const ValueList items = iterate(v, line);
    if (items.empty()) return Value::undefined("no first item, sequence was empty");
    return first ? items.front() : items.back();
}

Value join_filter(const Value& v, const CallArgs& args, int line) {
    args.check(2, {"d", "attribute"}, "join", line);
    const Value* sep = args.get(0, "d");
    const Value* attribute = args.get(1, "attribute");
    const std::string separator = sep ? to_output_string(*sep) : "";
    std::string out;
    bool first = true;
    for (const Value& item : iterate(v, line)) {
        if (!first) out += separator;
        first = false;
        out += to_output_string(attribute ? get_item(item, *attribute, line) : item);
        check_string_size(out.size(), line);
    }
    return Value::string(std::move(out));
}

Value replace_filter(const Value& v, const CallArgs& args, int line) {
    args.check(3, {"old", "new", "count"}, "replace", line);
    const Value* from = args.get(0, "old");
    const Value* to = args.get(1, "new");
    const Value* count = args.get(2, "count");
    if (!from || !to) fail(line, "filter 'replace' needs 'old' and 'new'");
    const std::string result =
        python_replace(to_output_string(v), to_output_string(*from), to_output_string(*to),
                       count && !count->is_none() ? count->as_int() : -1);
    check_string_size(result.size(), line);
    return Value::string(result);
}

Value items_filter(const Value& v, const CallArgs& args, int line) {
    args.check(0, {}, "items", line);
    if (v.is_undefined()) return Value::list({});
    if (!v.is_dict()) fail(line, "can only get item pairs from a mapping");
    ValueList pairs;
    for (const auto& [key, value] : v.as_dict()) {
        pairs.push_back(Value::tuple({Value::string(key), value}));
    }
    return Value::list(std::move(pairs));
}

Value trim_filter(const Value& v, const CallArgs& args, int line) {
    args.check(1, {"chars"}, "trim", line);
    const Value* chars = args.get(0, "chars");
    std::string set;
    if (chars && !chars->is_none()) set = to_output_string(*chars);
    const bool use_set = chars && !chars->is_none();
    return Value::string(
        python_strip(to_output_string(v), StripSide::kBoth, use_set ? &set : nullptr));
}

std::optional<std::string> json_indent(const Value* indent, int line) {
    if (indent == nullptr || indent->is_none()) return std::nullopt;
    if (indent->is_string()) return indent->as_string();
    if (indent->is_int())
        return std::string(
            static_cast<size_t>(std::max<int64_t>(0, std::min<int64_t>(indent->as_int(), 64))),
            ' ');
    fail(line, "tojson: indent must be an int, a string or None");
}

Value tojson_filter(const Value& v, const CallArgs& args, int line) {
    args.check(4, {"ensure_ascii", "indent", "separators", "sort_keys"}, "tojson", line);
    JsonDumpOptions options;
    if (const Value* a = args.get(0, "ensure_ascii")) options.ensure_ascii = is_truthy(*a);
    options.indent = json_indent(args.get(1, "indent"), line);
    // Python uses "," instead of ", " when an indent is given.
    if (options.indent) options.item_separator.resize(1);
    const Value* separators = args.get(2, "separators");
    if (separators && !separators->is_none()) {
        const ValueList& pair = separators->as_list();
        if (!separators->is_list() || pair.size() != 2 || !pair[0].is_string() ||
            !pair[1].is_string()) {
            fail(line, "tojson: separators must be a pair of strings");
        }
        options.item_separator = pair[0].as_string();
        options.key_separator = pair[1].as_string();
    }
    if (const Value* s = args.get(3, "sort_keys")) options.sort_keys = is_truthy(*s);
    return Value::string(json_dumps(v, options, line));
}

Value list_filter(const Value& v, const CallArgs& args, int line) {
    args.check(0, {}, "list", line);
    return Value::list(iterate(v, line));
}

Value reverse_filter(const Value& v, const CallArgs& args, int line) {
    args.check(0, {}, "reverse", line);
    if (v.is_string()) {
        std::u32string cps = utf8_decode(v.as_string());
        std::reverse(cps.begin(), cps.end());
        return Value::string(utf8_encode(cps));
    }
    ValueList items = iterate(v, line);
    std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
}

Value int_filter(const Value& v, const CallArgs& args, int line) {
    args.check(1, {"default"}, "int", line);
    const Value* fallback = args.get(0, "default");
    if (v.is_int() || v.is_bool()) return Value::integer(v.as_int());
    if (v.is_float() && v.as_float() > -9.2e18 && v.as_float() < 9.2e18) {
        return Value::integer(static_cast<int64_t>(v.as_float()));
    }
    if (v.is_string()) {
        const std::string s = python_strip(v.as_string(), StripSide::kBoth);
        char* end = nullptr;
        const long long i = std::strtoll(s.c_str(), &end, 10);
        if (!s.empty() && end == s.c_str() + s.size()) return Value::integer(i);
    }
    return fallback ? *fallback : Value::integer(0);
}

Value float_filter(const Value& v, const CallArgs& args, int line) {
    args.check(1, {"default"}, "float", line);
    const Value* fallback = args.get(0, "default");
    if (v.is_number()) return Value::floating(v.as_float());
    if (v.is_string()) {
        const std::string s = python_strip(v.as_string(), StripSide::kBoth);
        char* end = nullptr;
        const double d = std::strtod(s.c_str(), &end);
        if (!s.empty() && end == s.c_str() + s.size()) return Value::floating(d);
    }
    return fallback ? *fallback : Value::floating(0.0);
}

Value abs_filter(const Value& v, const CallArgs& args, int line) {
    args.check(0, {}, "abs", line);
    if (v.is_float()) return Value::floating(std::abs(v.as_float()));
    if (!v.is_number()) fail(line, "bad operand type for abs(): '" + type_name(v) + "'");
    return v.as_int() < 0 ? unary_op(Op::kNeg, v, line) : Value::integer(v.as_int());
}

Value capitalize_filter(const Value& v, const CallArgs& args, int line) {
    args.check(0, {}, "capitalize", line);
    std::string s = ascii_lower(to_output_string(v));
    if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
    return Value::string(std::move(s));
}

// select/reject(test, args...) and selectattr/rejectattr(attribute, test, args...).
Value select_filter(const Value& v, const CallArgs& args, int line, bool by_attribute, bool keep) {
    size_t next = 0;
    const Value* attribute = nullptr;
    if (by_attribute) {
        if (args.positional.empty()) fail(line, "selectattr/rejectattr need an attribute");
        attribute = &args.positional[next++];
    }
    std::string test = "truthy";
    if (next < args.positional.size()) test = to_output_string(args.positional[next++]);
    if (test != "truthy" && !is_known_test(test)) fail(line, "unknown test '" + test + "'");
    CallArgs test_args;
    test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(next),
                                args.positional.end());
    ValueList out;
    for (const Value& item : iterate(v, line)) {
        const Value subject = attribute ? get_item(item, *attribute, line) : item;
        const bool pass =
            test == "truthy" ? is_truthy(subject) : apply_test(test, subject, test_args, line);
        if (pass == keep) out.push_back(item);
    }
    return Value::list(std::move(out));
}

Value map_filter(const Value& v, const CallArgs& args, int line) {
    ValueList out;
    if (const Value* attribute = args.get(99, "attribute")) {
        const Value* fallback = args.get(99, "default");
        for (const Value& item : iterate(v, line)) {
            Value got = get_item(item, *attribute, line);
            out.push_back(got.is_undefined() && fallback ? *fallback : got);
        }
        return Value::list(std::move(out));
    }
    if (args.positional.empty()) fail(line, "map needs a filter name or attribute=");
    const std::string filter = to_output_string(args.positional[0]);
    if (!is_known_filter(filter)) fail(line, "unknown filter '" + filter + "'");
    CallArgs rest;
    rest.positional.assign(args.positional.begin() + 1, args.positional.end());
    for (const Value& item : iterate(v, line))
        out.push_back(apply_filter(filter, item, rest, line));
    return Value::list(std::move(out));
}

const std::map<std::string, FilterFn, std::less<>>& filter_table() {
    static const std::map<std::string, FilterFn, std::less<>> kTable = {
        {"abs", abs_filter},
        {"capitalize", capitalize_filter},
        {"count", length_filter},
        {"d", default_filter},
        {"default", default_filter},
        {"first",
         [](const Value& v, const CallArgs& a, int l) { return first_or_last(v, a, l, true); }},
        {"float", float_filter},
        {"int", int_filter},
        {"items", items_filter},
        {"join", join_filter},
        {"last",
         [](const Value& v, const CallArgs& a, int l) { return first_or_last(v, a, l, false); }},
        {"length", length_filter},
        {"list", list_filter},
        {"lower",
         [](const Value& v, const CallArgs& a, int l) {
             a.check(0, {}, "lower", l);
             return Value::string(ascii_lower(to_output_string(v)));
         }},
        {"map", map_filter},
        {"reject", [](const Value& v, const CallArgs& a,
                      int l) { return select_filter(v, a, l, false, false); }},
        {"rejectattr", [](const Value& v, const CallArgs& a,
                          int l) { return select_filter(v, a, l, true, false); }},
        {"replace", replace_filter},
        {"reverse", reverse_filter},
        {"safe",
         [](const Value& v, const CallArgs& a, int l) {
             a.check(0, {}, "safe", l);
             return v;
         }},
        {"select", [](const Value& v, const CallArgs& a,
                      int l) { return select_filter(v, a, l, false, true); }},
        {"selectattr", [](const Value& v, const CallArgs& a,
                          int l) { return select_filter(v, a, l, true, true); }},
        {"string",
         [](const Value& v, const CallArgs& a, int l) {
             a.check(0, {}, "string", l);
             return Value::string(to_output_string(v));
         }},
        {"tojson", tojson_filter},
        {"trim", trim_filter},
        {"upper",
         [](const Value& v, const CallArgs& a, int l) {
             a.check(0, {}, "upper", l);
             return Value::string(ascii_upper(to_output_string(v)));
         }},
    };
    return kTable;
}

}  // namespace

const Value* CallArgs::get(size_t index, std::string_view name) const {
    if (index < positional.size()) return &positional[index];
    for (const auto& [key, value] : keyword) {
        if (key == name) return &value;
    }
    return nullptr;
}

void CallArgs::check(size_t max_positional, const std::vector<std::string_view>& names,
                     std::string_view callee, int line) const {
    if (positional.size() > max_positional) {
        fail(line, cat({"too many arguments for '", callee, "'"}));
    }
    for (const auto& entry : keyword) {
        if (std::find(names.begin(), names.end(), entry.first) == names.end()) {
            fail(line,
                 cat({"'", callee, "' got an unexpected keyword argument '", entry.first, "'"}));
        }
    }
}

bool is_known_filter(std::string_view name) {
    return filter_table().count(name) > 0;
}

Value apply_filter(const std::string& name, const Value& input, const CallArgs& args, int line) {
    const auto& table = filter_table();
    const auto it = table.find(name);
    if (it == table.end()) fail(line, "unknown filter '" + name + "'");
    return it->second(input, args, line);
}

}  // namespace autoglm::jinja
