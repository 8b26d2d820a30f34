// Splits template source into tokens with jinja2's whitespace rules as configured by Hugging
// Face (trim_blocks, lstrip_blocks, no trailing newline kept, `-`/`+` tag modifiers).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace autoglm::jinja {

enum class TokenKind {
    kData,        // literal template text (after whitespace control)
    kVarBegin,    // {{
    kVarEnd,      // }}
    kBlockBegin,  // {%
    kBlockEnd,    // %}
    kName,
    kString,   // text holds the unescaped value
    kInteger,  // text holds the digits (underscores removed)
    kFloat,
    kOperator,
    kEof,
};

struct Token {
    TokenKind kind;
    std::string text;
    int line;
};

// Throws TemplateError on a lexical error (unterminated tag, comment or string, bad char).
std::vector<Token> tokenize(std::string_view source);

}  // namespace autoglm::jinja
