// Builds the syntax tree from tokens (jinja2's grammar and operator precedence) and rejects
// unknown tags, filters, tests, functions and methods with the line they appear on.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/lexer.h"

namespace autoglm::jinja {

// Bounds on the tree so hostile templates cannot exhaust the stack while parsing or rendering.
inline constexpr int kMaxNesting = 200;    // parser recursion (blocks, parentheses, unary ops)
inline constexpr int kMaxExprDepth = 256;  // depth of one expression tree (long a|f|g... chains)

class Parser {
  public:
    explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}
    // Throws TemplateError.
    Body parse();

  private:
    // Statements (parser.cpp).
    Body parse_body(const std::vector<std::string_view>& ends, std::string* found,
                    std::string_view opener, int opener_line);
    void parse_statement(Body& out);
    Node parse_for(int line);
    Node parse_if(int line);
    Node parse_set(int line);
    Node parse_macro(int line);
    Node parse_scope(int line, std::string_view end);
    void validate_calls() const;

    // Expressions (parser_expr.cpp).
    ExprPtr parse_expression(bool with_condition = true);
    ExprPtr parse_or();
    ExprPtr parse_and();
    ExprPtr parse_not();
    ExprPtr parse_compare();
    ExprPtr parse_binary(int level);
    ExprPtr parse_unary(bool with_filter);
    ExprPtr parse_primary();
    ExprPtr parse_sequence(std::string_view close, int line);
    ExprPtr parse_dict(int line);
    ExprPtr parse_postfix(ExprPtr node);
    ExprPtr parse_subscript(ExprPtr node, int line);
    ExprPtr parse_filter_chain(ExprPtr node);
    ExprPtr parse_test(ExprPtr node);
    ExprPtr parse_call(ExprPtr callee);
    void parse_call_args(Expr& call);
    ExprPtr finish(ExprPtr node) const;  // checks the tree depth

    // Tokens.
    const Token& peek(size_t ahead = 0) const;
    Token next();
    bool at_op(std::string_view op) const;
    bool at_name(std::string_view name) const;
    bool accept_op(std::string_view op);
    bool accept_name(std::string_view name);
    void expect_op(std::string_view op);
    std::string expect_name();
    void expect_block_end();
    [[noreturn]] void unexpected(const Token& token, std::string_view wanted) const;

    std::vector<Token> tokens_;
    size_t pos_ = 0;
    int nesting_ = 0;
    int loop_depth_ = 0;
    int loop_references_ = 0;  // `loop` names seen so far
    std::vector<std::string> macro_names_;
    std::vector<std::pair<std::string, int>> called_names_;
    friend class NestingGuard;
};

[[noreturn]] void fail_too_deep(int line);

// Counts parser recursion; fails past kMaxNesting.
class NestingGuard {
  public:
    NestingGuard(Parser& parser, int line) : parser_(parser) {
        if (++parser_.nesting_ > kMaxNesting) fail_too_deep(line);
    }
    ~NestingGuard() { --parser_.nesting_; }
    NestingGuard(const NestingGuard&) = delete;
    NestingGuard& operator=(const NestingGuard&) = delete;

  private:
    Parser& parser_;
};

}  // namespace autoglm::jinja
