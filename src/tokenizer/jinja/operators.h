// Python semantics of the template operators: arithmetic, comparison, membership, iteration,
// attribute/item access and slicing, with jinja2's undefined rules.
#pragma once

#include <string>

#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/value.h"

namespace autoglm::jinja {

// Largest string or list any single operation may build.
inline constexpr size_t kMaxStringBytes = size_t{64} << 20;
inline constexpr size_t kMaxListItems = size_t{1} << 20;

[[noreturn]] void fail_undefined(const Value& v, int line);
void check_string_size(size_t bytes, int line);

Value binary_op(Op op, const Value& a, const Value& b, int line);
Value unary_op(Op op, const Value& a, int line);
bool compare_op(Op op, const Value& a, const Value& b, int line);
bool contains(const Value& container, const Value& item, int line);
// Python iteration: list items, dict keys, string code points; undefined yields nothing.
ValueList iterate(const Value& v, int line);
// obj.name: dict key or namespace attribute; missing -> undefined; undefined obj -> error.
Value get_attribute(const Value& obj, const std::string& name, int line);
// obj[key]: dict key, list/string index (negative from the end); missing -> undefined.
Value get_item(const Value& obj, const Value& key, int line);
// obj[start:stop:step] over lists and strings; null parts are absent.
Value get_slice(const Value& obj, const Value* start, const Value* stop, const Value* step,
                int line);

}  // namespace autoglm::jinja
