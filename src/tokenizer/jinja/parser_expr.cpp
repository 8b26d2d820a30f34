// Expression parsing with jinja2's precedence: conditional < or < and < not < comparisons <
// + - < ~ < * / // % < ** < unary < primary with postfix, filters and tests.
#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/error.h"
#include "tokenizer/jinja/parser.h"

namespace autoglm::jinja {
namespace {

ExprPtr make(ExprKind kind, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    return e;
}

// Left-associative binary levels from loosest to tightest (jinja2's math1, concat, math2, pow).
const std::vector<std::vector<std::string_view>> kLevels = {
    {"+", "-"}, {"~"}, {"*", "/", "//", "%"}, {"**"}};

Op binary_op_for(std::string_view text) {
    if (text == "+") return Op::kAdd;
    if (text == "-") return Op::kSub;
    if (text == "~") return Op::kConcat;
    if (text == "*") return Op::kMul;
    if (text == "/") return Op::kDiv;
    if (text == "//") return Op::kFloorDiv;
    if (text == "%") return Op::kMod;
    return Op::kPow;
}

Op compare_op_for(std::string_view text) {
    if (text == "==") return Op::kEq;
    if (text == "!=") return Op::kNe;
    if (text == "<") return Op::kLt;
    if (text == "<=") return Op::kLe;
    if (text == ">") return Op::kGt;
    return Op::kGe;
}

bool is_compare_op(const Token& t) {
    if (t.kind != TokenKind::kOperator) return false;
    return t.text == "==" || t.text == "!=" || t.text == "<" || t.text == "<=" || t.text == ">" ||
           t.text == ">=";
}

ExprPtr binary(ExprKind kind, Op op, ExprPtr left, ExprPtr right, int line) {
    ExprPtr e = make(kind, line);
    e->op = op;
    e->children.push_back(std::move(left));
    e->children.push_back(std::move(right));
    return e;
}

}  // namespace

ExprPtr Parser::finish(ExprPtr node) const {
    int depth = 0;
    auto visit = [&depth](const ExprPtr& child) {
        if (child) depth = std::max(depth, child->depth);
    };
    for (const auto& c : node->children) visit(c);
    for (const auto& c : node->args) visit(c);
    for (const auto& kv : node->kwargs) visit(kv.second);
    node->depth = depth + 1;
    if (node->depth > kMaxExprDepth) fail(node->line, "expression nested too deeply");
    return node;
}

ExprPtr Parser::parse_expression(bool with_condition) {
    NestingGuard guard(*this, peek().line);
    ExprPtr node = parse_or();
    while (with_condition && at_name("if")) {
        const int line = next().line;
        ExprPtr cond = make(ExprKind::kCondition, line);
        cond->children.push_back(parse_or());
        cond->children.push_back(std::move(node));
        cond->children.push_back(accept_name("else") ? parse_expression() : nullptr);
        node = finish(std::move(cond));
    }
    return node;
}

ExprPtr Parser::parse_or() {
    ExprPtr node = parse_and();
    while (at_name("or")) {
        const int line = next().line;
        node = finish(binary(ExprKind::kOr, Op::kAdd, std::move(node), parse_and(), line));
    }
    return node;
}

ExprPtr Parser::parse_and() {
    ExprPtr node = parse_not();
    while (at_name("and")) {
        const int line = next().line;
        node = finish(binary(ExprKind::kAnd, Op::kAdd, std::move(node), parse_not(), line));
    }
    return node;
}

ExprPtr Parser::parse_not() {
    if (!at_name("not")) return parse_compare();
    NestingGuard guard(*this, peek().line);
    ExprPtr node = make(ExprKind::kUnary, next().line);
    node->op = Op::kNot;
    node->children.push_back(parse_not());
    return finish(std::move(node));
}

ExprPtr Parser::parse_compare() {
    ExprPtr first = parse_binary(0);
    if (!is_compare_op(peek()) && !at_name("in") &&
        !(at_name("not") && peek(1).kind == TokenKind::kName && peek(1).text == "in")) {
        return first;
    }
    ExprPtr node = make(ExprKind::kCompare, first->line);
    node->children.push_back(std::move(first));
    while (true) {
        if (is_compare_op(peek())) {
            node->ops.push_back(compare_op_for(next().text));
        } else if (accept_name("in")) {
            node->ops.push_back(Op::kIn);
        } else if (at_name("not") && peek(1).kind == TokenKind::kName && peek(1).text == "in") {
            next();
            next();
            node->ops.push_back(Op::kNotIn);
        } else {
            break;
        }
        node->children.push_back(parse_binary(0));
    }
    return finish(std::move(node));
}

ExprPtr Parser::parse_binary(int level) {
    if (level == static_cast<int>(kLevels.size())) return parse_unary(true);
    ExprPtr node = parse_binary(level + 1);
    while (true) {
        const auto& ops = kLevels[static_cast<size_t>(level)];
        const bool match = peek().kind == TokenKind::kOperator &&
                           std::find(ops.begin(), ops.end(), peek().text) != ops.end();
        if (!match) return node;
        const Token op = next();
        node = finish(binary(ExprKind::kBinary, binary_op_for(op.text), std::move(node),
                             parse_binary(level + 1), op.line));
    }
}

ExprPtr Parser::parse_unary(bool with_filter) {
    NestingGuard guard(*this, peek().line);
    ExprPtr node;
    if (at_op("-") || at_op("+")) {
        const Token op = next();
        node = make(ExprKind::kUnary, op.line);
        node->op = op.text == "-" ? Op::kNeg : Op::kPos;
        node->children.push_back(parse_unary(false));
        node = finish(std::move(node));
    } else {
        node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (!with_filter) return node;
    return parse_filter_chain(std::move(node));
}

ExprPtr Parser::parse_primary() {
    const Token token = next();
    ExprPtr node = make(ExprKind::kLiteral, token.line);
    switch (token.kind) {
        case TokenKind::kName:
            if (token.text == "true" || token.text == "True") {
                node->literal = Value::boolean(true);
            } else if (token.text == "false" || token.text == "False") {
                node->literal = Value::boolean(false);
            } else if (token.text == "none" || token.text == "None") {
                node->literal = Value::none();
            } else {
                node->kind = ExprKind::kName;
                node->name = token.text;
                if (token.text == "loop") ++loop_references_;
            }
            return node;
        case TokenKind::kString: {
            std::string text = token.text;
            while (peek().kind == TokenKind::kString) text += next().text;
            node->literal = Value::string(std::move(text));
            return node;
        }
        case TokenKind::kInteger: {
            errno = 0;
            const long long v = std::strtoll(token.text.c_str(), nullptr, 10);
            if (errno == ERANGE) fail(token.line, "integer literal too large");
            node->literal = Value::integer(v);
            return node;
        }
        case TokenKind::kFloat:
            node->literal = Value::floating(std::strtod(token.text.c_str(), nullptr));
            return node;
        default:
            break;
    }
    if (token.kind == TokenKind::kOperator) {
        if (token.text == "(") return parse_sequence(")", token.line);
        if (token.text == "[") return parse_sequence("]", token.line);
        if (token.text == "{") return parse_dict(token.line);
    }
    --pos_;
    unexpected(token, "an expression");
}

// After '(' or '['; a parenthesized single expression without a comma is just that expression.
ExprPtr Parser::parse_sequence(std::string_view close, int line) {
    ExprPtr node = make(ExprKind::kList, line);
    bool saw_comma = false;
    while (!accept_op(close)) {
        if (!node->children.empty()) {
            expect_op(",");
            saw_comma = true;
            if (accept_op(close)) break;
        }
        node->children.push_back(parse_expression());
    }
    if (close == ")" && node->children.size() == 1 && !saw_comma) {
        return std::move(node->children[0]);
    }
    if (close == ")") node->name = "tuple";
    return finish(std::move(node));
}

ExprPtr Parser::parse_dict(int line) {
    ExprPtr node = make(ExprKind::kDict, line);
    while (!accept_op("}")) {
        if (!node->children.empty()) {
            expect_op(",");
            if (accept_op("}")) break;
        }
        node->children.push_back(parse_expression());
        expect_op(":");
        node->children.push_back(parse_expression());
    }
    return finish(std::move(node));
}

ExprPtr Parser::parse_postfix(ExprPtr node) {
    while (true) {
        if (at_op(".")) {
            const int line = next().line;
            const Token attr = next();
            if (attr.kind == TokenKind::kInteger) {
                ExprPtr index = make(ExprKind::kLiteral, line);
                index->literal = Value::integer(std::strtoll(attr.text.c_str(), nullptr, 10));
                node = finish(binary(ExprKind::kSubscript, Op::kAdd, std::move(node),
                                     std::move(index), line));
                continue;
            }
            if (attr.kind != TokenKind::kName) unexpected(attr, "an attribute name");
            ExprPtr access = make(ExprKind::kAttribute, line);
            access->name = attr.text;
            access->children.push_back(std::move(node));
            node = finish(std::move(access));
        } else if (at_op("[")) {
            node = parse_subscript(std::move(node), next().line);
        } else if (at_op("(")) {
            node = parse_call(std::move(node));
        } else {
            return node;
        }
    }
}

// After '[': either x[index] or x[start:stop:step].
ExprPtr Parser::parse_subscript(ExprPtr node, int line) {
    ExprPtr parts[3];
    if (!at_op(":")) {
        parts[0] = parse_expression();
        if (accept_op("]")) {
            return finish(
                binary(ExprKind::kSubscript, Op::kAdd, std::move(node), std::move(parts[0]), line));
        }
    }
    expect_op(":");
    if (!at_op("]") && !at_op(":")) parts[1] = parse_expression();
    if (accept_op(":") && !at_op("]")) parts[2] = parse_expression();
    expect_op("]");
    ExprPtr slice = make(ExprKind::kSlice, line);
    slice->children.push_back(std::move(node));
    for (auto& part : parts) slice->children.push_back(std::move(part));
    return finish(std::move(slice));
}

ExprPtr Parser::parse_filter_chain(ExprPtr node) {
    while (true) {
        if (at_op("|")) {
            const int line = next().line;
            ExprPtr filter = make(ExprKind::kFilter, line);
            filter->name = expect_name();
            if (!is_known_filter(filter->name)) {
                fail(line, "unknown filter '" + filter->name + "'");
            }
            filter->children.push_back(std::move(node));
            if (at_op("(")) parse_call_args(*filter);
            node = finish(std::move(filter));
        } else if (at_name("is")) {
            node = parse_test(std::move(node));
        } else if (at_op("(")) {
            node = parse_call(std::move(node));
        } else {
            return node;
        }
    }
}

ExprPtr Parser::parse_test(ExprPtr node) {
    const int line = next().line;  // is
    ExprPtr test = make(ExprKind::kTest, line);
    test->negated = accept_name("not");
    test->name = expect_name();
    if (!is_known_test(test->name)) fail(line, "unknown test '" + test->name + "'");
    test->children.push_back(std::move(node));
    const Token& t = peek();
    if (at_op("(")) {
        parse_call_args(*test);
    } else if ((t.kind == TokenKind::kName && t.text != "else" && t.text != "or" &&
                t.text != "and" && t.text != "is") ||
               t.kind == TokenKind::kString || t.kind == TokenKind::kInteger ||
               t.kind == TokenKind::kFloat || at_op("[") || at_op("{")) {
        test->args.push_back(parse_postfix(parse_primary()));
    }
    return finish(std::move(test));
}

ExprPtr Parser::parse_call(ExprPtr callee) {
    const int line = peek().line;
    ExprPtr call;
    if (callee->kind == ExprKind::kName) {
        call = make(ExprKind::kCall, line);
        call->name = callee->name;
        called_names_.emplace_back(call->name, line);
    } else if (callee->kind == ExprKind::kAttribute) {
        call = make(ExprKind::kMethodCall, line);
        call->name = callee->name;
        if (!is_known_method(call->name)) fail(line, "unknown method '" + call->name + "'");
        call->children.push_back(std::move(callee->children[0]));
    } else {
        fail(line, "only named functions and methods can be called");
    }
    parse_call_args(*call);
    return finish(std::move(call));
}

void Parser::parse_call_args(Expr& call) {
    expect_op("(");
    while (!accept_op(")")) {
        if (!call.args.empty() || !call.kwargs.empty()) {
            expect_op(",");
            if (accept_op(")")) break;
        }
        if (at_op("*") || at_op("**")) fail(peek().line, "unsupported: *args / **kwargs");
        if (peek().kind == TokenKind::kName && peek(1).kind == TokenKind::kOperator &&
            peek(1).text == "=") {
            std::string key = next().text;
            next();
            call.kwargs.emplace_back(std::move(key), parse_expression());
        } else {
            if (!call.kwargs.empty()) fail(peek().line, "positional argument after keyword");
            call.args.push_back(parse_expression());
        }
    }
}

}  // namespace autoglm::jinja
