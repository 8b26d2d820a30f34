// Walks the syntax tree against a context and produces the output text: scopes (per-iteration
// loop scopes, macro frames), macros, loop controls and the resource limits.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/value.h"

namespace autoglm::jinja {

struct RenderLimits {
    int64_t max_steps = 2'000'000;               // expression evaluations + loop iterations
    size_t max_output_bytes = size_t{64} << 20;  // per output buffer
    int max_call_depth = 32;                     // nested macro calls
};

class Renderer {
  public:
    Renderer(const RenderLimits& limits, ValueDict globals);
    // Throws TemplateError.
    std::string render(const Body& body);

  private:
    enum class Flow { kNormal, kBreak, kContinue };

    // Statements (renderer.cpp).
    Flow render_body(const Body& body);
    Flow render_node(const Node& node);
    void render_for(const Node& node);
    void render_set(const Node& node);
    ValueList filter_loop_items(const Node& node, ValueList items);
    void assign(const std::vector<std::string>& targets, const Value& value, int line);
    Value call_macro(const Node& macro, const CallArgs& args, int line);
    std::string capture(const Body& body);
    void emit(const std::string& text, int line);
    void step(int line);

    // Expressions (eval_expr.cpp).
    Value eval(const Expr& e);
    Value eval_name(const Expr& e) const;
    Value eval_collection(const Expr& e);
    Value eval_slice(const Expr& e);
    Value eval_compare(const Expr& e);
    Value eval_condition(const Expr& e);
    Value eval_call(const Expr& e);
    CallArgs eval_args(const Expr& e);

    const RenderLimits& limits_;
    std::vector<ValueDict> scopes_;  // scopes_[0]: context and top-level assignments
    size_t frame_base_ = 1;          // lookups walk scopes_[frame_base_..], then scopes_[0]
    std::unordered_map<std::string, const Node*> macros_;
    std::string* out_ = nullptr;
    int64_t steps_ = 0;
    int call_depth_ = 0;
};

}  // namespace autoglm::jinja
