// Methods on str and dict values (`s.strip()`, `d.items()`, ...) and the global functions
// range, namespace, dict, raise_exception and strftime_now.
#include <algorithm>
#include <ctime>
#include <set>

#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/error.h"
#include "tokenizer/jinja/operators.h"
#include "tokenizer/jinja/text_util.h"

namespace autoglm::jinja {
namespace {

// Ranges are capped like jinja2's sandbox (MAX_RANGE).
constexpr int64_t kMaxRange = 100000;

const std::set<std::string, std::less<>> kStringMethods = {
    "capitalize", "endswith", "find",  "join",       "lower", "lstrip",
    "replace",    "rstrip",   "split", "startswith", "strip", "upper"};
const std::set<std::string, std::less<>> kDictMethods = {"get", "items", "keys", "values"};
const std::set<std::string, std::less<>> kFunctions = {"dict", "namespace", "raise_exception",
                                                       "range", "strftime_now"};

std::string string_arg(const CallArgs& args, size_t i, std::string_view method, int line) {
    const Value* v = args.get(i, "");
    if (v == nullptr || !v->is_string()) {
        fail(line, "method '" + std::string(method) + "' expects a string argument");
    }
    return v->as_string();
}

bool affix_matches(const std::string& s, const Value& affix, bool prefix, int line) {
    if (affix.is_list()) {
        return std::any_of(affix.as_list().begin(), affix.as_list().end(),
                           [&](const Value& a) { return affix_matches(s, a, prefix, line); });
    }
    if (!affix.is_string()) fail(line, "startswith/endswith expect a string or a tuple");
    const std::string& a = affix.as_string();
    if (a.size() > s.size()) return false;
    return prefix ? s.compare(0, a.size(), a) == 0
                  : s.compare(s.size() - a.size(), a.size(), a) == 0;
}

Value strip_method(const std::string& s, const CallArgs& args, StripSide side, int line) {
    args.check(1, {}, "strip", line);
    const Value* chars = args.get(0, "");
    if (chars == nullptr || chars->is_none()) return Value::string(python_strip(s, side));
    const std::string set = string_arg(args, 0, "strip", line);
    return Value::string(python_strip(s, side, &set));
}

Value split_method(const std::string& s, const CallArgs& args, int line) {
    args.check(2, {"sep", "maxsplit"}, "split", line);
    const Value* sep = args.get(0, "sep");
    const Value* max_split = args.get(1, "maxsplit");
    std::string separator;
    if (sep && !sep->is_none()) {
        separator = to_output_string(*sep);
        if (separator.empty()) fail(line, "empty separator");
    }
    const bool has_sep = sep && !sep->is_none();
    ValueList out;
    for (auto& part :
         python_split(s, has_sep ? &separator : nullptr, max_split ? max_split->as_int() : -1)) {
        out.push_back(Value::string(std::move(part)));
    }
    return Value::list(std::move(out));
}

Value string_method(const std::string& s, const std::string& name, const CallArgs& args, int line) {
    if (name == "strip") return strip_method(s, args, StripSide::kBoth, line);
    if (name == "lstrip") return strip_method(s, args, StripSide::kLeft, line);
    if (name == "rstrip") return strip_method(s, args, StripSide::kRight, line);
    if (name == "split") return split_method(s, args, line);
    if (name == "upper" || name == "lower" || name == "capitalize") {
        args.check(0, {}, name, line);
        return apply_filter(name, Value::string(s), args, line);
    }
    if (name == "startswith" || name == "endswith") {
        args.check(1, {}, name, line);
        if (args.positional.size() != 1) fail(line, name + "() takes exactly one argument");
        return Value::boolean(affix_matches(s, args.positional[0], name == "startswith", line));
    }
    if (name == "replace") {
        args.check(3, {}, name, line);
        const Value* count = args.get(2, "");
        const std::string out =
            python_replace(s, string_arg(args, 0, name, line), string_arg(args, 1, name, line),
                           count ? count->as_int() : -1);
        check_string_size(out.size(), line);
        return Value::string(out);
    }
    if (name == "find") {
        args.check(1, {}, name, line);
        const size_t at = s.find(string_arg(args, 0, name, line));
        return Value::integer(
            at == std::string::npos ? -1 : static_cast<int64_t>(utf8_length(s.substr(0, at))));
    }
    // join
    args.check(1, {}, name, line);
    CallArgs join_args;
    join_args.positional.push_back(Value::string(s));
    const Value* items = args.get(0, "");
    if (items == nullptr) fail(line, "join() takes exactly one argument");
    return apply_filter("join", *items, join_args, line);
}

Value dict_method(const ValueDict& dict, const std::string& name, const CallArgs& args, int line) {
    if (name == "get") {
        args.check(2, {}, name, line);
        if (args.positional.empty()) fail(line, "get() needs a key");
        const Value& key = args.positional[0];
        const Value* found = key.is_string() ? dict.find(key.as_string()) : nullptr;
        if (found) return *found;
        return args.positional.size() > 1 ? args.positional[1] : Value::none();
    }
    args.check(0, {}, name, line);
    ValueList out;
    for (const auto& [key, value] : dict) {
        if (name == "items") {
            out.push_back(Value::tuple({Value::string(key), value}));
        } else {
            out.push_back(name == "keys" ? Value::string(key) : value);
        }
    }
    return Value::list(std::move(out));
}

Value range_function(const CallArgs& args, int line) {
    args.check(3, {}, "range", line);
    std::vector<int64_t> bounds;
    for (const Value& v : args.positional) {
        if (!v.is_int() && !v.is_bool())
            fail(line, "range() expects integers, got " + type_name(v));
        bounds.push_back(v.as_int());
    }
    if (bounds.empty()) fail(line, "range expected at least 1 argument");
    const int64_t start = bounds.size() > 1 ? bounds[0] : 0;
    const int64_t stop = bounds.size() > 1 ? bounds[1] : bounds[0];
    const int64_t step = bounds.size() > 2 ? bounds[2] : 1;
    if (step == 0) fail(line, "range() arg 3 must not be zero");
    ValueList out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop;) {
        if (static_cast<int64_t>(out.size()) >= kMaxRange) {
            fail(line, "range too big, maximum size is " + std::to_string(kMaxRange));
        }
        out.push_back(Value::integer(i));
        if (__builtin_add_overflow(i, step, &i)) break;
    }
    return Value::list(std::move(out));
}

Value namespace_function(const CallArgs& args, int line, bool as_namespace) {
    ValueDict entries;
    if (args.positional.size() > 1) fail(line, "expected at most 1 positional argument");
    if (!args.positional.empty()) {
        if (!args.positional[0].is_dict()) fail(line, "expected a mapping argument");
        entries = args.positional[0].as_dict();
    }
    for (const auto& [key, value] : args.keyword) entries.set(key, value);
    return as_namespace ? Value::make_namespace(std::move(entries))
                        : Value::dict(std::move(entries));
}

Value strftime_now(const CallArgs& args, int line) {
    args.check(1, {}, "strftime_now", line);
    const std::string format = string_arg(args, 0, "strftime_now", line);
    if (format.size() > 256) fail(line, "strftime_now: format too long");
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    char buf[1024];
    const size_t n = format.empty() ? 0 : std::strftime(buf, sizeof(buf), format.c_str(), &local);
    return Value::string(std::string(buf, n));
}

}  // namespace

bool is_known_method(std::string_view name) {
    return kStringMethods.count(name) > 0 || kDictMethods.count(name) > 0;
}

bool is_known_function(std::string_view name) {
    return kFunctions.count(name) > 0;
}

Value call_method(const Value& object, const std::string& name, const CallArgs& args, int line) {
    if (object.is_undefined()) fail_undefined(object, line);
    if (object.is_string() && kStringMethods.count(name) > 0) {
        return string_method(object.as_string(), name, args, line);
    }
    if (object.is_dict() && kDictMethods.count(name) > 0) {
        return dict_method(object.as_dict(), name, args, line);
    }
    fail(line, "'" + type_name(object) + "' object has no method '" + name + "'");
}

Value call_function(const std::string& name, const CallArgs& args, int line) {
    if (name == "range") return range_function(args, line);
    if (name == "namespace") return namespace_function(args, line, true);
    if (name == "dict") return namespace_function(args, line, false);
    if (name == "strftime_now") return strftime_now(args, line);
    if (name == "raise_exception") {
        args.check(1, {}, name, line);
        fail(line, args.positional.empty() ? "raise_exception() called"
                                           : to_output_string(args.positional[0]));
    }
    fail(line, "unknown function '" + name + "'");
}

}  // namespace autoglm::jinja
