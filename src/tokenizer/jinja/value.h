// The dynamic value of the template language: undefined, none, bool, int, float, string, list,
// insertion-ordered dict and namespace, with Python's truthiness, equality, str() and repr().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace autoglm::jinja {

// Containers nest at most this deep (JSON input and values built by templates alike), which
// bounds every recursive walk over a value.
inline constexpr int kMaxValueDepth = 256;

enum class ValueKind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kNamespace };

class Value;
class ValueDict;
using ValueList = std::vector<Value>;

// Strings, lists and dicts are shared and immutable once built, so copying a Value is O(1).
// A namespace is the one mutable container (`{% set ns.x = ... %}`).
class Value {
  public:
    Value() = default;  // undefined

    static Value undefined(std::string hint = "");
    static Value none();
    static Value boolean(bool b);
    static Value integer(int64_t i);
    static Value floating(double d);
    static Value string(std::string s);
    static Value list(ValueList items);
    static Value dict(ValueDict entries);
    static Value make_namespace(ValueDict entries);
    // Throws TemplateError when `j` nests deeper than kMaxValueDepth. Objects keep their key
    // order with ordered_json; nlohmann::json has already sorted them.
    static Value from_json(const nlohmann::ordered_json& j);
    static Value from_json(const nlohmann::json& j);

    // A list that prints as a Python tuple: (a, b) literals and the pairs of items().
    static Value tuple(ValueList items);

    ValueKind kind() const { return kind_; }
    bool is_tuple() const { return tuple_; }
    bool is_undefined() const { return kind_ == ValueKind::kUndefined; }
    bool is_none() const { return kind_ == ValueKind::kNone; }
    bool is_bool() const { return kind_ == ValueKind::kBool; }
    bool is_int() const { return kind_ == ValueKind::kInt; }
    bool is_float() const { return kind_ == ValueKind::kFloat; }
    bool is_number() const { return is_int() || is_float() || is_bool(); }
    bool is_string() const { return kind_ == ValueKind::kString; }
    bool is_list() const { return kind_ == ValueKind::kList; }
    bool is_dict() const { return kind_ == ValueKind::kDict; }
    bool is_namespace() const { return kind_ == ValueKind::kNamespace; }

    int depth() const { return depth_; }  // 0 for scalars
    bool as_bool() const { return bool_; }
    // Bools count as ints (Python: True + 1 == 2).
    int64_t as_int() const { return is_bool() ? static_cast<int64_t>(bool_) : int_; }
    double as_float() const { return is_float() ? float_ : static_cast<double>(as_int()); }
    const std::string& as_string() const;
    const ValueList& as_list() const;
    const ValueDict& as_dict() const;  // dict or namespace
    ValueDict& namespace_entries() const;
    // For undefined values: what was looked up, for error messages.
    const std::string& undefined_hint() const { return as_string(); }

  private:
    template <typename Json>
    static Value from_json_at(const Json& j, int depth);

    ValueKind kind_ = ValueKind::kUndefined;
    int depth_ = 0;
    bool tuple_ = false;
    bool bool_ = false;
    int64_t int_ = 0;
    double float_ = 0.0;
    std::shared_ptr<const std::string> str_;
    std::shared_ptr<const ValueList> list_;
    std::shared_ptr<ValueDict> dict_;
};

// String keys in insertion order (Python dict order); replacing a key keeps its position.
class ValueDict {
  public:
    using Entry = std::pair<std::string, Value>;
    const Value* find(std::string_view key) const;
    void set(const std::string& key, Value value);
    void clear() {
        entries_.clear();
        index_.clear();
    }
    size_t size() const { return entries_.size(); }
    bool empty() const { return entries_.empty(); }
    std::vector<Entry>::const_iterator begin() const { return entries_.begin(); }
    std::vector<Entry>::const_iterator end() const { return entries_.end(); }

  private:
    std::vector<Entry> entries_;
    std::unordered_map<std::string, size_t> index_;
};

bool is_truthy(const Value& v);
bool values_equal(const Value& a, const Value& b);
// Python's type name of the value ('int', 'str', 'NoneType', ...), for error messages.
std::string type_name(const Value& v);
// Python str(v) as jinja2 renders it in `{{ }}`: undefined -> "", None -> "None", lists as repr.
std::string to_output_string(const Value& v);
// Python repr(v).
std::string to_repr(const Value& v);

}  // namespace autoglm::jinja
