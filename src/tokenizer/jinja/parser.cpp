// Statement parsing: template text, {{ }} output and the {% %} tags (for, if, set, macro,
// break/continue, generation), plus the post-parse check that every called name exists.
#include "tokenizer/jinja/parser.h"

#include <algorithm>

#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/error.h"

namespace autoglm::jinja {

namespace {

constexpr std::string_view kUnsupportedTags[] = {
    "block", "extends",    "include", "import",    "from",     "call",    "filter",    "with",
    "do",    "autoescape", "trans",   "pluralize", "endblock", "endcall", "endfilter", "endwith"};

std::string join_quoted(const std::vector<std::string_view>& names) {
    std::string out;
    for (size_t i = 0; i < names.size(); ++i) {
        if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
        out += "'" + std::string(names[i]) + "'";
    }
    return out;
}

}  // namespace

void fail_too_deep(int line) {
    fail(line, "template nesting too deep");
}

Body Parser::parse() {
    std::string found;
    Body body = parse_body({}, &found, "", 0);
    validate_calls();
    return body;
}

Body Parser::parse_body(const std::vector<std::string_view>& ends, std::string* found,
                        std::string_view opener, int opener_line) {
    Body body;
    while (true) {
        const Token& token = peek();
        if (token.kind == TokenKind::kEof) {
            if (ends.empty()) return body;
            fail(token.line, "unexpected end of template, expected " + join_quoted(ends) +
                                 " to close '" + std::string(opener) + "' from line " +
                                 std::to_string(opener_line));
        }
        if (token.kind == TokenKind::kData) {
            body.push_back(Node{.kind = NodeKind::kText, .line = token.line, .text = token.text});
            next();
        } else if (token.kind == TokenKind::kVarBegin) {
            next();
            Node node{.kind = NodeKind::kOutput, .line = token.line};
            node.expr = parse_expression();
            if (peek().kind != TokenKind::kVarEnd) unexpected(peek(), "'}}'");
            next();
            body.push_back(std::move(node));
        } else if (token.kind == TokenKind::kBlockBegin) {
            const Token& tag = peek(1);
            if (tag.kind == TokenKind::kName &&
                std::find(ends.begin(), ends.end(), tag.text) != ends.end()) {
                next();
                *found = next().text;
                return body;
            }
            parse_statement(body);
        } else {
            unexpected(token, "template text or a tag");
        }
    }
}

void Parser::parse_statement(Body& out) {
    const int line = next().line;  // {%
    NestingGuard guard(*this, line);
    if (peek().kind != TokenKind::kName) unexpected(peek(), "a tag name");
    const std::string tag = next().text;
    if (tag == "for") return out.push_back(parse_for(line));
    if (tag == "if") return out.push_back(parse_if(line));
    if (tag == "set") return out.push_back(parse_set(line));
    if (tag == "macro") return out.push_back(parse_macro(line));
    if (tag == "generation") return out.push_back(parse_scope(line, "endgeneration"));
    if (tag == "break" || tag == "continue") {
        if (loop_depth_ == 0) fail(line, "'" + tag + "' outside of a loop");
        expect_block_end();
        return out.push_back(
            Node{.kind = tag == "break" ? NodeKind::kBreak : NodeKind::kContinue, .line = line});
    }
    for (std::string_view unsupported : kUnsupportedTags) {
        if (tag == unsupported) fail(line, "unsupported tag '" + tag + "'");
    }
    fail(line, "unknown tag '" + tag + "'");
}

Node Parser::parse_for(int line) {
    Node node{.kind = NodeKind::kFor, .line = line};
    do {
        node.targets.push_back(expect_name());
    } while (accept_op(","));
    if (!accept_name("in")) unexpected(peek(), "'in'");
    node.expr = parse_expression(/*with_condition=*/false);
    if (accept_name("if")) node.filter = parse_expression();
    if (at_name("recursive")) fail(line, "unsupported: recursive for loops");
    expect_block_end();
    std::string found;
    ++loop_depth_;
    const int references_before = loop_references_;
    node.body = parse_body({"endfor", "else"}, &found, "for", line);
    node.uses_loop = loop_references_ != references_before;
    --loop_depth_;
    expect_block_end();
    if (found == "else") {
        node.else_body = parse_body({"endfor"}, &found, "for", line);
        expect_block_end();
    }
    return node;
}

Node Parser::parse_if(int line) {
    Node node{.kind = NodeKind::kIf, .line = line};
    ExprPtr condition = parse_expression();
    while (true) {
        expect_block_end();
        std::string found;
        Body body = parse_body({"elif", "else", "endif"}, &found, "if", line);
        node.branches.emplace_back(std::move(condition), std::move(body));
        if (found == "endif") break;
        if (found == "else") {
            expect_block_end();
            node.branches.emplace_back(nullptr, parse_body({"endif"}, &found, "if", line));
            break;
        }
        condition = parse_expression();  // elif
    }
    expect_block_end();
    return node;
}

Node Parser::parse_set(int line) {
    Node node{.kind = NodeKind::kSet, .line = line};
    node.targets.push_back(expect_name());
    if (accept_op(".")) {
        node.attribute = expect_name();
    } else {
        while (accept_op(",")) node.targets.push_back(expect_name());
    }
    if (accept_op("=")) {
        node.expr = parse_expression();
        if (at_op(",")) {
            auto tuple = std::make_unique<Expr>();
            tuple->kind = ExprKind::kList;
            tuple->name = "tuple";
            tuple->line = line;
            tuple->children.push_back(std::move(node.expr));
            while (accept_op(",")) tuple->children.push_back(parse_expression());
            node.expr = finish(std::move(tuple));
        }
        expect_block_end();
        return node;
    }
    if (node.targets.size() != 1 || !node.attribute.empty()) unexpected(peek(), "'='");
    if (at_op("|")) fail(line, "unsupported: filtered block set");
    expect_block_end();
    std::string found;
    node.body = parse_body({"endset"}, &found, "set", line);
    expect_block_end();
    return node;
}

Node Parser::parse_macro(int line) {
    Node node{.kind = NodeKind::kMacro, .line = line};
    node.text = expect_name();
    expect_op("(");
    while (!accept_op(")")) {
        if (!node.params.empty()) expect_op(",");
        if (at_op(")")) continue;  // trailing comma
        MacroParam param{.name = expect_name(), .default_value = nullptr};
        if (accept_op("=")) param.default_value = parse_expression();
        node.params.push_back(std::move(param));
    }
    expect_block_end();
    macro_names_.push_back(node.text);
    const int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    std::string found;
    node.body = parse_body({"endmacro"}, &found, "macro", line);
    loop_depth_ = saved_loop_depth;
    if (peek().kind == TokenKind::kName && peek().text == node.text) next();
    expect_block_end();
    return node;
}

Node Parser::parse_scope(int line, std::string_view end) {
    expect_block_end();
    Node node{.kind = NodeKind::kScope, .line = line};
    std::string found;
    node.body = parse_body({end}, &found, "generation", line);
    expect_block_end();
    return node;
}

void Parser::validate_calls() const {
    for (const auto& [name, line] : called_names_) {
        const bool is_macro =
            std::find(macro_names_.begin(), macro_names_.end(), name) != macro_names_.end();
        if (!is_macro && !is_known_function(name)) fail(line, "unknown function '" + name + "'");
    }
}

const Token& Parser::peek(size_t ahead) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
}

Token Parser::next() {
    Token token = peek();
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return token;
}

bool Parser::at_op(std::string_view op) const {
    return peek().kind == TokenKind::kOperator && peek().text == op;
}

bool Parser::at_name(std::string_view name) const {
    return peek().kind == TokenKind::kName && peek().text == name;
}

bool Parser::accept_op(std::string_view op) {
    if (!at_op(op)) return false;
    next();
    return true;
}

bool Parser::accept_name(std::string_view name) {
    if (!at_name(name)) return false;
    next();
    return true;
}

void Parser::expect_op(std::string_view op) {
    if (!accept_op(op)) unexpected(peek(), "'" + std::string(op) + "'");
}

std::string Parser::expect_name() {
    if (peek().kind != TokenKind::kName) unexpected(peek(), "a name");
    return next().text;
}

void Parser::expect_block_end() {
    if (peek().kind != TokenKind::kBlockEnd) unexpected(peek(), "'%}'");
    next();
}

void Parser::unexpected(const Token& token, std::string_view wanted) const {
    std::string got;
    switch (token.kind) {
        case TokenKind::kEof:
            got = "end of template";
            break;
        case TokenKind::kData:
            got = "template text";
            break;
        case TokenKind::kVarBegin:
            got = "'{{'";
            break;
        case TokenKind::kVarEnd:
            got = "'}}'";
            break;
        case TokenKind::kBlockBegin:
            got = "'{%'";
            break;
        case TokenKind::kBlockEnd:
            got = "'%}'";
            break;
        case TokenKind::kString:
            got = "string literal";
            break;
        default:
            got = "'" + token.text + "'";
            break;
    }
    fail(token.line, "unexpected " + got + ", expected " + std::string(wanted));
}

}  // namespace autoglm::jinja
