// Expression evaluation: names through the scope chain, literals and collections, operators
// with short-circuiting and/or, chained comparisons, filters, tests and calls.
#include "tokenizer/jinja/error.h"
#include "tokenizer/jinja/operators.h"
#include "tokenizer/jinja/renderer.h"

namespace autoglm::jinja {

Value Renderer::eval(const Expr& e) {
    step(e.line);
    switch (e.kind) {
        case ExprKind::kLiteral:
            return e.literal;
        case ExprKind::kName:
            return eval_name(e);
        case ExprKind::kList:
        case ExprKind::kDict:
            return eval_collection(e);
        case ExprKind::kAttribute:
            return get_attribute(eval(*e.children[0]), e.name, e.line);
        case ExprKind::kSubscript:
            return get_item(eval(*e.children[0]), eval(*e.children[1]), e.line);
        case ExprKind::kSlice:
            return eval_slice(e);
        case ExprKind::kUnary:
            return unary_op(e.op, eval(*e.children[0]), e.line);
        case ExprKind::kBinary:
            return binary_op(e.op, eval(*e.children[0]), eval(*e.children[1]), e.line);
        case ExprKind::kAnd: {
            Value left = eval(*e.children[0]);
            return is_truthy(left) ? eval(*e.children[1]) : left;
        }
        case ExprKind::kOr: {
            Value left = eval(*e.children[0]);
            return is_truthy(left) ? left : eval(*e.children[1]);
        }
        case ExprKind::kCompare:
            return eval_compare(e);
        case ExprKind::kCondition:
            return eval_condition(e);
        case ExprKind::kFilter:
            return apply_filter(e.name, eval(*e.children[0]), eval_args(e), e.line);
        case ExprKind::kTest: {
            const Value subject = eval(*e.children[0]);
            return Value::boolean(apply_test(e.name, subject, eval_args(e), e.line) != e.negated);
        }
        case ExprKind::kCall:
            return eval_call(e);
        case ExprKind::kMethodCall:
            return call_method(eval(*e.children[0]), e.name, eval_args(e), e.line);
    }
    fail(e.line, "unknown expression");
}

Value Renderer::eval_name(const Expr& e) const {
    for (size_t i = scopes_.size(); i > frame_base_; --i) {
        if (const Value* v = scopes_[i - 1].find(e.name)) return *v;
    }
    if (const Value* v = scopes_[0].find(e.name)) return *v;
    return Value::undefined("'" + e.name + "' is undefined");
}

Value Renderer::eval_collection(const Expr& e) {
    if (e.kind == ExprKind::kList) {
        ValueList items;
        items.reserve(e.children.size());
        for (const ExprPtr& child : e.children) items.push_back(eval(*child));
        return e.name == "tuple" ? Value::tuple(std::move(items)) : Value::list(std::move(items));
    }
    ValueDict entries;
    for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
        const Value key = eval(*e.children[i]);
        if (!key.is_string()) fail(e.line, "unsupported: dict keys must be strings");
        entries.set(key.as_string(), eval(*e.children[i + 1]));
    }
    return Value::dict(std::move(entries));
}

Value Renderer::eval_slice(const Expr& e) {
    const Value object = eval(*e.children[0]);
    Value parts[3];
    const Value* present[3] = {nullptr, nullptr, nullptr};
    for (size_t i = 0; i < 3; ++i) {
        if (e.children[i + 1]) {
            parts[i] = eval(*e.children[i + 1]);
            present[i] = &parts[i];
        }
    }
    return get_slice(object, present[0], present[1], present[2], e.line);
}

Value Renderer::eval_compare(const Expr& e) {
    Value left = eval(*e.children[0]);
    for (size_t i = 0; i < e.ops.size(); ++i) {
        Value right = eval(*e.children[i + 1]);
        if (!compare_op(e.ops[i], left, right, e.line)) return Value::boolean(false);
        left = std::move(right);
    }
    return Value::boolean(true);
}

Value Renderer::eval_condition(const Expr& e) {
    if (is_truthy(eval(*e.children[0]))) return eval(*e.children[1]);
    if (e.children[2]) return eval(*e.children[2]);
    return Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                            " evaluated to false and no else section was defined");
}

Value Renderer::eval_call(const Expr& e) {
    CallArgs args = eval_args(e);
    const auto macro = macros_.find(e.name);
    if (macro != macros_.end()) return call_macro(*macro->second, args, e.line);
    if (is_known_function(e.name)) return call_function(e.name, args, e.line);
    fail(e.line, "'" + e.name + "' is undefined");
}

CallArgs Renderer::eval_args(const Expr& e) {
    CallArgs args;
    args.positional.reserve(e.args.size());
    for (const ExprPtr& arg : e.args) args.positional.push_back(eval(*arg));
    for (const auto& [key, arg] : e.kwargs) args.keyword.emplace_back(key, eval(*arg));
    return args;
}

}  // namespace autoglm::jinja
