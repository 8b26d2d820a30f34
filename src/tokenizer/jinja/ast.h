// The syntax tree the parser builds and the renderer walks: expressions and statements.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja/value.h"

namespace autoglm::jinja {

enum class ExprKind {
    kLiteral,    // literal
    kName,       // name
    kList,       // children: items; name "tuple" for (a, b)
    kDict,       // children: key0, value0, key1, value1, ...
    kAttribute,  // children[0].name
    kSubscript,  // children[0][children[1]]
    kSlice,      // children[0][c1:c2:c3]; absent parts are null
    kUnary,      // op children[0]
    kBinary,     // children[0] op children[1]
    kAnd,
    kOr,
    kCompare,     // children[0] ops[0] children[1] ops[1] children[2] ...
    kCondition,   // children[1] if children[0] else children[2] (else may be null)
    kFilter,      // name(children[0], args..., kwargs...)
    kTest,        // children[0] is [not] name(args...)
    kCall,        // name(args..., kwargs...): a global function or macro
    kMethodCall,  // children[0].name(args..., kwargs...)
};

enum class Op {
    kAdd,
    kSub,
    kMul,
    kDiv,
    kFloorDiv,
    kMod,
    kPow,
    kConcat,  // binary
    kNeg,
    kPos,
    kNot,  // unary
    kEq,
    kNe,
    kLt,
    kLe,
    kGt,
    kGe,
    kIn,
    kNotIn,  // compare
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
    ExprKind kind = ExprKind::kLiteral;
    int line = 0;
    int depth = 1;  // height of this subtree, bounded by the parser
    Value literal;
    std::string name;
    Op op = Op::kAdd;
    bool negated = false;  // `is not`
    std::vector<Op> ops;   // kCompare
    std::vector<ExprPtr> children;
    std::vector<ExprPtr> args;
    std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

enum class NodeKind {
    kText,    // text
    kOutput,  // {{ expr }}
    kIf,      // branches (cond, body); a null cond is the else branch
    kFor,     // for targets in expr [if filter]: body [else else_body]
    kSet,     // set targets = expr, or set target.attr = expr, or block set (body)
    kMacro,   // macro name(params) body
    kBreak,
    kContinue,
    kScope,  // a block rendered as is ({% generation %})
};

struct Node;
using Body = std::vector<Node>;

struct MacroParam {
    std::string name;
    ExprPtr default_value;  // may be null
};

struct Node {
    NodeKind kind = NodeKind::kText;
    int line = 0;
    std::string text;
    std::vector<std::string> targets;
    std::string attribute;  // set ns.attribute
    ExprPtr expr;
    ExprPtr filter;
    std::vector<std::pair<ExprPtr, Body>> branches;
    Body body;
    Body else_body;
    std::vector<MacroParam> params;
    bool uses_loop = false;  // kFor: the body mentions `loop`, so loop variables are built
};

}  // namespace autoglm::jinja
