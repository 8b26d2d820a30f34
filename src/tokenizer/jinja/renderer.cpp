// Statement execution: text and output, if, for (loop variables, filters, else, break and
// continue), set (plain, unpacking, namespace attribute, block capture) and macros.
#include "tokenizer/jinja/renderer.h"

#include "tokenizer/jinja/error.h"
#include "tokenizer/jinja/operators.h"

namespace autoglm::jinja {
namespace {

bool contains_namespace(const Value& v) {
    if (v.is_namespace()) return true;
    if (v.is_list()) {
        for (const Value& item : v.as_list()) {
            if (contains_namespace(item)) return true;
        }
    } else if (v.is_dict()) {
        for (const auto& entry : v.as_dict()) {
            if (contains_namespace(entry.second)) return true;
        }
    }
    return false;
}

ValueDict loop_info(const ValueList& items, size_t i) {
    const auto n = static_cast<int64_t>(items.size());
    const auto index = static_cast<int64_t>(i);
    ValueDict loop;
    loop.set("index", Value::integer(index + 1));
    loop.set("index0", Value::integer(index));
    loop.set("revindex", Value::integer(n - index));
    loop.set("revindex0", Value::integer(n - index - 1));
    loop.set("first", Value::boolean(i == 0));
    loop.set("last", Value::boolean(index == n - 1));
    loop.set("length", Value::integer(n));
    loop.set("depth", Value::integer(1));
    loop.set("depth0", Value::integer(0));
    if (i > 0) loop.set("previtem", items[i - 1]);
    if (index + 1 < n) loop.set("nextitem", items[i + 1]);
    return loop;
}

}  // namespace

Renderer::Renderer(const RenderLimits& limits, ValueDict globals) : limits_(limits) {
    scopes_.push_back(std::move(globals));
}

std::string Renderer::render(const Body& body) {
    std::string out;
    out_ = &out;
    render_body(body);
    return out;
}

void Renderer::step(int line) {
    if (++steps_ > limits_.max_steps) fail(line, "template exceeded its evaluation step limit");
}

void Renderer::emit(const std::string& text, int line) {
    if (out_->size() + text.size() > limits_.max_output_bytes) {
        fail(line,
             "template output exceeds " + std::to_string(limits_.max_output_bytes) + " bytes");
    }
    out_->append(text);
}

Renderer::Flow Renderer::render_body(const Body& body) {
    for (const Node& node : body) {
        const Flow flow = render_node(node);
        if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
}

Renderer::Flow Renderer::render_node(const Node& node) {
    step(node.line);
    switch (node.kind) {
        case NodeKind::kText:
            emit(node.text, node.line);
            break;
        case NodeKind::kOutput:
            emit(to_output_string(eval(*node.expr)), node.line);
            break;
        case NodeKind::kIf:
            for (const auto& [condition, body] : node.branches) {
                if (condition == nullptr || is_truthy(eval(*condition))) return render_body(body);
            }
            break;
        case NodeKind::kFor:
            render_for(node);
            break;
        case NodeKind::kSet:
            render_set(node);
            break;
        case NodeKind::kMacro:
            macros_[node.text] = &node;
            break;
        case NodeKind::kBreak:
            return Flow::kBreak;
        case NodeKind::kContinue:
            return Flow::kContinue;
        case NodeKind::kScope:
            return render_body(node.body);
    }
    return Flow::kNormal;
}

ValueList Renderer::filter_loop_items(const Node& node, ValueList items) {
    ValueList kept;
    for (const Value& item : items) {
        step(node.line);
        scopes_.emplace_back();
        assign(node.targets, item, node.line);
        const bool keep = is_truthy(eval(*node.filter));
        scopes_.pop_back();
        if (keep) kept.push_back(item);
    }
    return kept;
}

void Renderer::render_for(const Node& node) {
    const Value sequence = eval(*node.expr);
    ValueList materialized;
    const ValueList* items = &sequence.as_list();  // lists are iterated in place
    if (!sequence.is_list() || node.filter) {
        materialized = iterate(sequence, node.line);
        if (node.filter) materialized = filter_loop_items(node, std::move(materialized));
        items = &materialized;
    }
    if (items->empty()) {
        render_body(node.else_body);
        return;
    }
    scopes_.emplace_back();
    for (size_t i = 0; i < items->size(); ++i) {
        step(node.line);
        scopes_.back().clear();  // each iteration starts with a fresh scope, as in jinja2
        assign(node.targets, (*items)[i], node.line);
        if (node.uses_loop) scopes_.back().set("loop", Value::dict(loop_info(*items, i)));
        if (render_body(node.body) == Flow::kBreak) break;
    }
    scopes_.pop_back();
}

void Renderer::assign(const std::vector<std::string>& targets, const Value& value, int line) {
    if (targets.size() == 1) {
        scopes_.back().set(targets[0], value);
        return;
    }
    const ValueList parts = iterate(value, line);
    if (parts.size() != targets.size()) {
        fail(line, std::string(parts.size() > targets.size() ? "too many" : "not enough") +
                       " values to unpack (expected " + std::to_string(targets.size()) + ", got " +
                       std::to_string(parts.size()) + ")");
    }
    for (size_t i = 0; i < targets.size(); ++i) scopes_.back().set(targets[i], parts[i]);
}

void Renderer::render_set(const Node& node) {
    if (!node.body.empty() || !node.expr) {
        scopes_.back().set(node.targets[0], Value::string(capture(node.body)));
        return;
    }
    Value value = eval(*node.expr);
    if (node.attribute.empty()) {
        assign(node.targets, value, node.line);
        return;
    }
    Expr name_expr;
    name_expr.kind = ExprKind::kName;
    name_expr.name = node.targets[0];
    name_expr.line = node.line;
    const Value target = eval_name(name_expr);
    if (!target.is_namespace()) fail(node.line, "cannot assign attribute on non-namespace object");
    // Keeps namespaces acyclic, so printing and comparing values always terminates.
    if (contains_namespace(value)) fail(node.line, "unsupported: a namespace inside a namespace");
    target.namespace_entries().set(node.attribute, std::move(value));
}

std::string Renderer::capture(const Body& body) {
    std::string buffer;
    std::string* saved = out_;
    out_ = &buffer;
    render_body(body);
    out_ = saved;
    return buffer;
}

Value Renderer::call_macro(const Node& macro, const CallArgs& args, int line) {
    if (call_depth_ >= limits_.max_call_depth) fail(line, "maximum macro call depth exceeded");
    if (args.positional.size() > macro.params.size()) {
        fail(line, "macro '" + macro.text + "' takes " + std::to_string(macro.params.size()) +
                       " arguments");
    }
    for (const auto& [key, value] : args.keyword) {
        bool found = false;
        for (const MacroParam& p : macro.params) found = found || p.name == key;
        if (!found) fail(line, "macro '" + macro.text + "' has no argument '" + key + "'");
    }
    scopes_.emplace_back();
    const size_t saved_base = frame_base_;
    frame_base_ = scopes_.size() - 1;
    for (size_t i = 0; i < macro.params.size(); ++i) {
        const MacroParam& p = macro.params[i];
        const Value* given = args.get(i, p.name);
        Value value = given             ? *given
                      : p.default_value ? eval(*p.default_value)
                                        : Value::undefined("'" + p.name + "' is undefined");
        scopes_.back().set(p.name, std::move(value));
    }
    ++call_depth_;
    std::string output = capture(macro.body);
    --call_depth_;
    frame_base_ = saved_base;
    scopes_.pop_back();
    return Value::string(std::move(output));
}

}  // namespace autoglm::jinja
