// The tokenizer: template text, comments, raw blocks and the tokens inside {{ }} and {% %},
// applying jinja2's whitespace control exactly (see the NOTEs on lstrip and trim).
#include "tokenizer/jinja/lexer.h"

#include <array>

#include "tokenizer/jinja/error.h"
#include "tokenizer/jinja/text_util.h"

namespace autoglm::jinja {
namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
    return is_name_start(c) || is_digit(c);
}

// jinja2 3.x treats only \r\n, \r and \n as line breaks and drops one trailing newline
// (keep_trailing_newline=False).
std::string normalize_source(std::string_view source) {
    std::string out;
    out.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
        if (source[i] == '\r') {
            out.push_back('\n');
            if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
        } else {
            out.push_back(source[i]);
        }
    }
    if (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

class Lexer {
  public:
    explicit Lexer(std::string_view source) : src_(normalize_source(source)) {}

    std::vector<Token> run() {
        while (pos_ < src_.size()) lex_text();
        tokens_.push_back({TokenKind::kEof, "", line_});
        return std::move(tokens_);
    }

  private:
    void advance_to(size_t pos) {
        for (; pos_ < pos; ++pos_) {
            if (src_[pos_] == '\n') ++line_;
        }
    }
    bool at(size_t pos, std::string_view s) const { return src_.compare(pos, s.size(), s) == 0; }
    size_t skip_space(size_t pos) const {
        while (pos < src_.size()) {
            size_t n = 0;
            if (!is_python_space(utf8_decode_at(src_, pos, &n))) break;
            pos += n;
        }
        return pos;
    }
    void emit(TokenKind kind, std::string text, int line) {
        tokens_.push_back({kind, std::move(text), line});
    }

    // NOTE: `-` strips all whitespace before the tag; otherwise lstrip_blocks removes the
    // spaces between the last line start and a block or comment tag (never before `{{`).
    void emit_data(std::string_view text, char sign, bool lstrip_eligible) {
        std::string data(text);
        if (sign == '-') {
            data = python_strip(data, StripSide::kRight);
        } else if (sign != '+' && lstrip_eligible) {
            const size_t l_pos = data.rfind('\n') + 1;  // npos + 1 == 0
            if ((l_pos > 0 || line_starting_) && l_pos < data.size() &&
                python_strip(data.substr(l_pos), StripSide::kLeft).empty()) {
                data.resize(l_pos);
            }
        }
        if (!data.empty()) emit(TokenKind::kData, std::move(data), line_);
    }

    size_t find_tag(size_t from) const {
        for (size_t p = src_.find('{', from); p != std::string::npos; p = src_.find('{', p + 1)) {
            if (p + 1 < src_.size() &&
                (src_[p + 1] == '{' || src_[p + 1] == '%' || src_[p + 1] == '#')) {
                return p;
            }
        }
        return std::string::npos;
    }

    // Matches `{%[-+]?\s*<word>\s*` at pos and returns the position after it, or npos.
    size_t match_block_word(size_t pos, std::string_view word) const {
        if (!at(pos, "{%")) return std::string::npos;
        size_t p = pos + 2;
        if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
        p = skip_space(p);
        if (!at(p, word)) return std::string::npos;
        return skip_space(p + word.size());
    }

    // Matches a block end at pos: `+%}`, `-%}\s*` or `%}\n?`; returns its end or npos.
    size_t match_block_end(size_t pos, bool allow_plus) const {
        if (allow_plus && at(pos, "+%}")) return pos + 3;
        if (at(pos, "-%}")) return skip_space(pos + 3);
        if (at(pos, "%}")) return pos + 2 + (at(pos + 2, "\n") ? 1 : 0);
        return std::string::npos;
    }

    void finish_tag(size_t end) {
        line_starting_ = end > 0 && src_[end - 1] == '\n';
        advance_to(end);
    }

    void lex_text() {
        const size_t tag = find_tag(pos_);
        if (tag == std::string::npos) {
            emit(TokenKind::kData, src_.substr(pos_), line_);
            advance_to(src_.size());
            return;
        }
        const char type = src_[tag + 1];
        const char sign = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
        const char strip_sign = (sign == '-' || sign == '+') ? sign : '\0';
        emit_data(std::string_view(src_).substr(pos_, tag - pos_), strip_sign, type != '{');
        advance_to(tag);
        if (type == '#') return lex_comment(tag + 2 + (strip_sign ? 1 : 0));
        if (type == '%' && lex_raw(tag)) return;
        const bool is_block = type == '%';
        emit(is_block ? TokenKind::kBlockBegin : TokenKind::kVarBegin, "", line_);
        advance_to(tag + 2 + (strip_sign ? 1 : 0));
        lex_tag_body(is_block);
    }

    void lex_comment(size_t body) {
        const size_t close = src_.find("#}", body);
        if (close == std::string::npos) fail(line_, "missing end of comment tag");
        size_t end = close + 2;
        if (close > body && src_[close - 1] == '-') {
            end = skip_space(end);
        } else if (!(close > body && src_[close - 1] == '+') && at(end, "\n")) {
            ++end;
        }
        finish_tag(end);
    }

    bool lex_raw(size_t tag) {
        size_t p = match_block_word(tag, "raw");
        if (p == std::string::npos) return false;
        if (at(p, "-%}")) {
            p = skip_space(p + 3);
        } else if (at(p, "%}")) {
            p += 2;  // NOTE: jinja2 does not trim the newline after `{% raw %}`
        } else {
            return false;
        }
        finish_tag(p);
        for (size_t q = src_.find("{%", p); q != std::string::npos; q = src_.find("{%", q + 1)) {
            const size_t word_end = match_block_word(q, "endraw");
            const size_t end =
                word_end == std::string::npos ? word_end : match_block_end(word_end, true);
            if (end == std::string::npos) continue;
            const char sign = src_[q + 2];
            emit_data(std::string_view(src_).substr(p, q - p),
                      (sign == '-' || sign == '+') ? sign : '\0', true);
            finish_tag(end);
            return true;
        }
        fail(line_, "missing end of raw directive");
    }

    void lex_tag_body(bool is_block) {
        const int start_line = line_;
        while (true) {
            const size_t p = skip_space(pos_);
            advance_to(p);
            if (pos_ >= src_.size()) {
                fail(start_line, std::string("unexpected end of template inside '") +
                                     (is_block ? "{%" : "{{") + "'");
            }
            if (balance_.empty()) {
                const size_t end = is_block ? match_block_end(pos_, true) : match_var_end(pos_);
                if (end != std::string::npos) {
                    emit(is_block ? TokenKind::kBlockEnd : TokenKind::kVarEnd, "", line_);
                    finish_tag(end);
                    return;
                }
            }
            lex_operand();
        }
    }

    size_t match_var_end(size_t pos) const {
        if (at(pos, "-}}")) return skip_space(pos + 3);
        if (at(pos, "}}")) return pos + 2;
        return std::string::npos;
    }

    void lex_operand() {
        const char c = src_[pos_];
        if (is_digit(c)) return lex_number();
        if (is_name_start(c)) {
            size_t end = pos_;
            while (end < src_.size() && is_name_char(src_[end])) ++end;
            emit(TokenKind::kName, src_.substr(pos_, end - pos_), line_);
            return advance_to(end);
        }
        if (c == '\'' || c == '"') return lex_string();
        lex_operator();
    }

    size_t scan_digits(size_t p) const {
        while (p < src_.size() && (is_digit(src_[p]) || (src_[p] == '_' && p + 1 < src_.size() &&
                                                         is_digit(src_[p + 1])))) {
            ++p;
        }
        return p;
    }

    void lex_number() {
        size_t end = scan_digits(pos_);
        bool is_float = false;
        const bool after_dot = pos_ > 0 && src_[pos_ - 1] == '.';
        if (!after_dot && at(end, ".") && end + 1 < src_.size() && is_digit(src_[end + 1])) {
            end = scan_digits(end + 1);
            is_float = true;
        }
        if (!after_dot && end < src_.size() && (src_[end] == 'e' || src_[end] == 'E')) {
            size_t q = end + 1;
            if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
            if (q < src_.size() && is_digit(src_[q])) {
                end = scan_digits(q);
                is_float = true;
            }
        }
        std::string digits;
        for (size_t i = pos_; i < end; ++i) {
            if (src_[i] != '_') digits.push_back(src_[i]);
        }
        emit(is_float ? TokenKind::kFloat : TokenKind::kInteger, std::move(digits), line_);
        advance_to(end);
    }

    void lex_string();
    void lex_operator();

    std::string src_;
    size_t pos_ = 0;
    int line_ = 1;
    bool line_starting_ = true;
    std::vector<Token> tokens_;
    std::vector<char> balance_;  // expected closing brackets inside a tag
};

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Python's unicode-escape decoding of a string literal's body; returns chars consumed after '\'.
size_t unescape_one(std::string_view s, size_t i, std::string& out, int line) {
    const char c = s[i];
    static constexpr std::array<std::pair<char, char>, 10> kSimple = {{{'\\', '\\'},
                                                                       {'\'', '\''},
                                                                       {'"', '"'},
                                                                       {'a', '\a'},
                                                                       {'b', '\b'},
                                                                       {'f', '\f'},
                                                                       {'n', '\n'},
                                                                       {'r', '\r'},
                                                                       {'t', '\t'},
                                                                       {'v', '\v'}}};
    for (const auto& [from, to] : kSimple) {
        if (c == from) {
            out.push_back(to);
            return 1;
        }
    }
    if (c == '\n') return 1;  // line continuation
    if (c >= '0' && c <= '7') {
        size_t n = 0;
        char32_t cp = 0;
        while (n < 3 && i + n < s.size() && s[i + n] >= '0' && s[i + n] <= '7') {
            cp = cp * 8 + static_cast<char32_t>(s[i + n] - '0');
            ++n;
        }
        append_utf8(out, cp);
        return n;
    }
    const size_t width = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
    if (width == 0) {
        out.push_back('\\');  // unknown escapes stay as written
        return 0;
    }
    char32_t cp = 0;
    for (size_t k = 1; k <= width; ++k) {
        const int h = i + k < s.size() ? hex_value(s[i + k]) : -1;
        if (h < 0) fail(line, std::string("truncated \\") + c + " escape in string literal");
        cp = cp * 16 + static_cast<char32_t>(h);
    }
    if (cp > 0x10FFFF) fail(line, "illegal Unicode character in string literal");
    append_utf8(out, cp);
    return width + 1;
}

void Lexer::lex_string() {
    const char quote = src_[pos_];
    std::string value;
    size_t i = pos_ + 1;
    while (true) {
        if (i >= src_.size()) fail(line_, "unterminated string literal");
        const char c = src_[i];
        if (c == quote) break;
        if (c == '\\' && i + 1 < src_.size()) {
            i += 1 + unescape_one(src_, i + 1, value, line_);
            continue;
        }
        value.push_back(c);
        ++i;
    }
    emit(TokenKind::kString, std::move(value), line_);
    advance_to(i + 1);
}

void Lexer::lex_operator() {
    static constexpr std::array<std::string_view, 6> kTwoChar = {
        "//", "**", "==", "!=", ">=", "<="};
    for (std::string_view op : kTwoChar) {
        if (at(pos_, op)) {
            emit(TokenKind::kOperator, std::string(op), line_);
            return advance_to(pos_ + 2);
        }
    }
    const char c = src_[pos_];
    if (std::string_view("+-/*%~[](){}<>=.:|,;").find(c) == std::string_view::npos) {
        size_t n = 0;
        std::string ch;
        append_utf8(ch, utf8_decode_at(src_, pos_, &n));
        fail(line_, "unexpected char '" + ch + "'");
    }
    if (c == '(' || c == '[' || c == '{') {
        balance_.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
        if (balance_.empty()) fail(line_, std::string("unexpected '") + c + "'");
        if (balance_.back() != c) {
            fail(line_, std::string("unexpected '") + c + "', expected '" + balance_.back() + "'");
        }
        balance_.pop_back();
    }
    emit(TokenKind::kOperator, std::string(1, c), line_);
    advance_to(pos_ + 1);
}

}  // namespace

std::vector<Token> tokenize(std::string_view source) {
    return Lexer(source).run();
}

}  // namespace autoglm::jinja
