// Value construction, JSON conversion and the Python-compatible truthiness, equality and
// str()/repr() used when templates compare and print values.
#include "tokenizer/jinja/value.h"

#include <algorithm>

#include "tokenizer/jinja/error.h"
#include "tokenizer/jinja/text_util.h"

namespace autoglm::jinja {
namespace {

const std::string& empty_string() {
    static const std::string kEmpty;
    return kEmpty;
}

void append_repr(std::string& out, const Value& v);

void append_list_repr(std::string& out, const ValueList& items, bool tuple) {
    out += tuple ? '(' : '[';
    for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += ", ";
        append_repr(out, items[i]);
    }
    if (tuple && items.size() == 1) out += ',';
    out += tuple ? ')' : ']';
}

void append_dict_repr(std::string& out, const ValueDict& dict) {
    out += '{';
    bool first = true;
    for (const auto& [key, value] : dict) {
        if (!first) out += ", ";
        first = false;
        out += python_string_repr(key);
        out += ": ";
        append_repr(out, value);
    }
    out += '}';
}

void append_repr(std::string& out, const Value& v) {
    switch (v.kind()) {
        case ValueKind::kUndefined:
            out += "Undefined";
            return;
        case ValueKind::kString:
            out += python_string_repr(v.as_string());
            return;
        case ValueKind::kList:
            append_list_repr(out, v.as_list(), v.is_tuple());
            return;
        case ValueKind::kDict:
            append_dict_repr(out, v.as_dict());
            return;
        case ValueKind::kNamespace:
            out += "<Namespace ";
            append_dict_repr(out, v.as_dict());
            out += '>';
            return;
        default:
            out += to_output_string(v);
            return;
    }
}

bool dicts_equal(const ValueDict& a, const ValueDict& b) {
    if (a.size() != b.size()) return false;
    for (const auto& [key, value] : a) {
        const Value* other = b.find(key);
        if (other == nullptr || !values_equal(value, *other)) return false;
    }
    return true;
}

}  // namespace

Value Value::undefined(std::string hint) {
    Value v;
    v.str_ = std::make_shared<const std::string>(std::move(hint));
    return v;
}

Value Value::none() {
    Value v;
    v.kind_ = ValueKind::kNone;
    return v;
}

Value Value::boolean(bool b) {
    Value v;
    v.kind_ = ValueKind::kBool;
    v.bool_ = b;
    return v;
}

Value Value::integer(int64_t i) {
    Value v;
    v.kind_ = ValueKind::kInt;
    v.int_ = i;
    return v;
}

Value Value::floating(double d) {
    Value v;
    v.kind_ = ValueKind::kFloat;
    v.float_ = d;
    return v;
}

Value Value::string(std::string s) {
    Value v;
    v.kind_ = ValueKind::kString;
    v.str_ = std::make_shared<const std::string>(std::move(s));
    return v;
}

Value Value::list(ValueList items) {
    Value v;
    v.kind_ = ValueKind::kList;
    v.depth_ = 1;
    for (const Value& item : items) v.depth_ = std::max(v.depth_, item.depth_ + 1);
    if (v.depth_ > kMaxValueDepth) fail(0, "value nested too deeply");
    v.list_ = std::make_shared<const ValueList>(std::move(items));
    return v;
}

Value Value::dict(ValueDict entries) {
    Value v;
    v.kind_ = ValueKind::kDict;
    v.depth_ = 1;
    for (const auto& entry : entries) v.depth_ = std::max(v.depth_, entry.second.depth_ + 1);
    if (v.depth_ > kMaxValueDepth) fail(0, "value nested too deeply");
    v.dict_ = std::make_shared<ValueDict>(std::move(entries));
    return v;
}

Value Value::make_namespace(ValueDict entries) {
    Value v = dict(std::move(entries));
    v.kind_ = ValueKind::kNamespace;
    return v;
}

Value Value::tuple(ValueList items) {
    Value v = list(std::move(items));
    v.tuple_ = true;
    return v;
}

Value Value::from_json(const nlohmann::ordered_json& j) {
    return from_json_at(j, 0);
}
Value Value::from_json(const nlohmann::json& j) {
    return from_json_at(j, 0);
}

template <typename Json>
Value Value::from_json_at(const Json& j, int depth) {
    if (depth > kMaxValueDepth) fail(0, "context nested too deeply");
    switch (j.type()) {
        case nlohmann::detail::value_t::boolean:
            return boolean(j.template get<bool>());
        case nlohmann::detail::value_t::number_integer:
            return integer(j.template get<int64_t>());
        case nlohmann::detail::value_t::number_unsigned: {
            const auto u = j.template get<uint64_t>();
            if (u <= static_cast<uint64_t>(INT64_MAX)) return integer(static_cast<int64_t>(u));
            return floating(static_cast<double>(u));
        }
        case nlohmann::detail::value_t::number_float:
            return floating(j.template get<double>());
        case nlohmann::detail::value_t::string:
            return string(j.template get<std::string>());
        case nlohmann::detail::value_t::array: {
            ValueList items;
            items.reserve(j.size());
            for (const auto& item : j) items.push_back(from_json_at(item, depth + 1));
            return list(std::move(items));
        }
        case nlohmann::detail::value_t::object: {
            ValueDict entries;
            for (const auto& [key, item] : j.items())
                entries.set(key, from_json_at(item, depth + 1));
            return dict(std::move(entries));
        }
        default:
            return none();  // null, binary, discarded
    }
}

const std::string& Value::as_string() const {
    return str_ ? *str_ : empty_string();
}

const ValueList& Value::as_list() const {
    static const ValueList kEmpty;
    return list_ ? *list_ : kEmpty;
}

const ValueDict& Value::as_dict() const {
    static const ValueDict kEmpty;
    return dict_ ? *dict_ : kEmpty;
}

ValueDict& Value::namespace_entries() const {
    return *dict_;
}

const Value* ValueDict::find(std::string_view key) const {
    const auto it = index_.find(std::string(key));
    return it == index_.end() ? nullptr : &entries_[it->second].second;
}

void ValueDict::set(const std::string& key, Value value) {
    const auto it = index_.find(key);
    if (it != index_.end()) {
        entries_[it->second].second = std::move(value);
        return;
    }
    index_.emplace(key, entries_.size());
    entries_.emplace_back(key, std::move(value));
}

bool is_truthy(const Value& v) {
    switch (v.kind()) {
        case ValueKind::kUndefined:
        case ValueKind::kNone:
            return false;
        case ValueKind::kBool:
            return v.as_bool();
        case ValueKind::kInt:
            return v.as_int() != 0;
        case ValueKind::kFloat:
            return v.as_float() != 0.0;
        case ValueKind::kString:
            return !v.as_string().empty();
        case ValueKind::kList:
            return !v.as_list().empty();
        case ValueKind::kDict:
            return !v.as_dict().empty();
        case ValueKind::kNamespace:
            return true;
    }
    return false;
}

bool values_equal(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) return a.as_float() == b.as_float();
        return a.as_int() == b.as_int();
    }
    if (a.kind() != b.kind()) return false;
    switch (a.kind()) {
        case ValueKind::kUndefined:
        case ValueKind::kNone:
            return true;
        case ValueKind::kString:
            return a.as_string() == b.as_string();
        case ValueKind::kList: {
            if (a.is_tuple() != b.is_tuple()) return false;
            const ValueList& x = a.as_list();
            const ValueList& y = b.as_list();
            if (x.size() != y.size()) return false;
            for (size_t i = 0; i < x.size(); ++i) {
                if (!values_equal(x[i], y[i])) return false;
            }
            return true;
        }
        case ValueKind::kDict:
            return dicts_equal(a.as_dict(), b.as_dict());
        case ValueKind::kNamespace:
            return &a.namespace_entries() == &b.namespace_entries();
        default:
            return false;
    }
}

std::string type_name(const Value& v) {
    switch (v.kind()) {
        case ValueKind::kUndefined:
            return "Undefined";
        case ValueKind::kNone:
            return "NoneType";
        case ValueKind::kBool:
            return "bool";
        case ValueKind::kInt:
            return "int";
        case ValueKind::kFloat:
            return "float";
        case ValueKind::kString:
            return "str";
        case ValueKind::kList:
            return "list";
        case ValueKind::kDict:
            return "dict";
        case ValueKind::kNamespace:
            return "Namespace";
    }
    return "object";
}

std::string to_output_string(const Value& v) {
    switch (v.kind()) {
        case ValueKind::kUndefined:
            return "";
        case ValueKind::kNone:
            return "None";
        case ValueKind::kBool:
            return v.as_bool() ? "True" : "False";
        case ValueKind::kInt:
            return std::to_string(v.as_int());
        case ValueKind::kFloat:
            return python_float_repr(v.as_float());
        case ValueKind::kString:
            return v.as_string();
        default:
            return to_repr(v);
    }
}

std::string to_repr(const Value& v) {
    std::string out;
    append_repr(out, v);
    return out;
}

}  // namespace autoglm::jinja
