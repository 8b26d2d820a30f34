// Errors and limits: unsupported constructs fail at compile time naming the construct and line,
// render errors carry their message, and hostile templates or contexts end in an error.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "tokenizer/jinja/chat_template.h"

namespace autoglm::jinja {
namespace {

using nlohmann::ordered_json;

// The compile error for `source`, or "" when it compiles.
std::string compile_error(const std::string& source) {
    auto compiled = ChatTemplate::compile(source);
    return compiled.ok() ? "" : compiled.error_message();
}

// The render error for `source` with `context`; fails the test if compiling fails.
std::string render_error(const std::string& source, const ordered_json& context = {},
                         RenderLimits limits = {}) {
    auto compiled = ChatTemplate::compile(source, limits);
    EXPECT_TRUE(compiled.ok()) << compiled.error_message();
    if (!compiled.ok()) return "";
    auto rendered = compiled.value().render(context.is_null() ? ordered_json::object() : context);
    return rendered.ok() ? "" : rendered.error_message();
}

#define EXPECT_CONTAINS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)

TEST(JinjaErrors, UnknownConstructsFailAtCompileTimeWithLine) {
    EXPECT_CONTAINS(compile_error("a\n{{ x | frobnicate }}"),
                    "line 2: unknown filter 'frobnicate'");
    EXPECT_CONTAINS(compile_error("{% if x is shiny %}{% endif %}"),
                    "line 1: unknown test 'shiny'");
    EXPECT_CONTAINS(compile_error("\n\n{{ lipsum(2) }}"), "line 3: unknown function 'lipsum'");
    EXPECT_CONTAINS(compile_error("{{ s.format(1) }}"), "unknown method 'format'");
    EXPECT_CONTAINS(compile_error("{{ l.append(1) }}"), "unknown method 'append'");
    EXPECT_CONTAINS(compile_error("{% frob %}"), "line 1: unknown tag 'frob'");
    EXPECT_CONTAINS(compile_error("{% include 'x.j2' %}"), "unsupported tag 'include'");
    EXPECT_CONTAINS(compile_error("{% for x in y recursive %}{% endfor %}"), "recursive");
    EXPECT_CONTAINS(compile_error("{% break %}"), "'break' outside of a loop");
    EXPECT_CONTAINS(compile_error("{{ f(*args) }}"), "*args");
    EXPECT_CONTAINS(compile_error("{% for x in l %}{{ loop.cycle('a', 'b') }}{% endfor %}"),
                    "unknown method 'cycle'");
}

TEST(JinjaErrors, SyntaxErrors) {
    EXPECT_CONTAINS(compile_error("{% for x in l %}\nbody"),
                    "line 2: unexpected end of template, expected 'endfor' or 'else'");
    EXPECT_CONTAINS(compile_error("{% if x %}a{% else %}b{% elif y %}{% endif %}"),
                    "unknown tag 'elif'");
    EXPECT_CONTAINS(compile_error("{% endif %}"), "unknown tag 'endif'");
    EXPECT_CONTAINS(compile_error("{{ x "), "unexpected end of template inside '{{'");
    EXPECT_CONTAINS(compile_error("a {# never closed"), "missing end of comment tag");
    EXPECT_CONTAINS(compile_error("{% raw %}x"), "missing end of raw directive");
    EXPECT_CONTAINS(compile_error("{{ 'open }}"), "unterminated string literal");
    EXPECT_CONTAINS(compile_error("{{ a ) }}"), "unexpected ')'");
    EXPECT_CONTAINS(compile_error("{{ (a }}"), "unexpected '}', expected ')'");
    EXPECT_CONTAINS(compile_error("{{ @ }}"), "unexpected char '@'");
    EXPECT_CONTAINS(compile_error("{{ }}"), "expected an expression");
    EXPECT_CONTAINS(compile_error("{% set %}"), "expected a name");
    EXPECT_CONTAINS(compile_error("{{ 99999999999999999999 }}"), "integer literal too large");
    EXPECT_CONTAINS(compile_error("{{ '\\x4' }}"), "truncated \\x escape");
}

TEST(JinjaErrors, RaiseExceptionCarriesItsMessage) {
    const std::string source =
        "{% for m in messages %}\n{% if m.role not in ['user', 'assistant'] %}"
        "{{ raise_exception('Unsupported role: ' + m.role) }}{% endif %}{% endfor %}";
    const ordered_json context = {{"messages", {{{"role", "user"}}, {{"role", "wizard"}}}}};
    EXPECT_CONTAINS(render_error(source, context), "line 2: Unsupported role: wizard");
}

TEST(JinjaErrors, RenderErrorsFollowJinja2) {
    EXPECT_CONTAINS(render_error("{{ missing.attr }}"), "'missing' is undefined");
    EXPECT_CONTAINS(render_error("{{ d.zz.y }}", {{"d", ordered_json::object()}}),
                    "'dict object' has no attribute 'zz'");
    EXPECT_CONTAINS(render_error("{{ missing + 1 }}"), "'missing' is undefined");
    EXPECT_CONTAINS(render_error("{{ 1 + 'a' }}"), "unsupported operand type(s) for +");
    EXPECT_CONTAINS(render_error("{{ 1 // 0 }}"), "division or modulo by zero");
    EXPECT_CONTAINS(render_error("{{ 1 / 0 }}"), "division by zero");
    EXPECT_CONTAINS(render_error("{{ 9223372036854775807 + 1 }}"), "integer overflow");
    EXPECT_CONTAINS(render_error("{{ '%s' % 1 }}"), "string formatting");
    EXPECT_CONTAINS(render_error("{{ 1 < 'a' }}"), "'<' not supported");
    EXPECT_CONTAINS(render_error("{% for x in 5 %}{% endfor %}"), "'int' object is not iterable");
    EXPECT_CONTAINS(render_error("{% set a, b = [1] %}"), "not enough values to unpack");
    EXPECT_CONTAINS(render_error("{% set x = 1 %}{% set x.y = 2 %}"),
                    "cannot assign attribute on non-namespace object");
    EXPECT_CONTAINS(render_error("{{ missing|tojson }}"), "is not JSON serializable");
    EXPECT_CONTAINS(render_error("{{ 'abc'.strip(1) }}"), "expects a string argument");
    EXPECT_CONTAINS(render_error("{{ 5.upper() }}"), "'int' object has no method 'upper'");
    EXPECT_CONTAINS(render_error("{{ [1]|join(attribute='x', bogus=1) }}"),
                    "unexpected keyword argument 'bogus'");
    EXPECT_CONTAINS(render_error("{% if false %}{% macro m() %}{% endmacro %}{% endif %}{{ m() }}"),
                    "'m' is undefined");
}

TEST(JinjaErrors, ContextMustBeAnObject) {
    auto compiled = ChatTemplate::compile("x");
    ASSERT_TRUE(compiled.ok());
    EXPECT_FALSE(compiled.value().render(ordered_json::array()).ok());
}

TEST(JinjaLimits, DeepNestingIsACompileError) {
    const std::string parens = std::string(5000, '(') + "1" + std::string(5000, ')');
    EXPECT_CONTAINS(compile_error("{{ " + parens + " }}"), "nesting too deep");
    EXPECT_CONTAINS(compile_error("{{ " + std::string(5000, '[') + std::string(5000, ']') + " }}"),
                    "nesting too deep");
    EXPECT_CONTAINS(compile_error("{{ " + std::string(5000, '-') + "1 }}"), "nesting too deep");
    std::string blocks;
    for (int i = 0; i < 5000; ++i) blocks += "{% if true %}";
    EXPECT_CONTAINS(compile_error(blocks), "nesting too deep");
    std::string chain = "{{ x";
    for (int i = 0; i < 5000; ++i) chain += "|trim";
    EXPECT_CONTAINS(compile_error(chain + " }}"), "expression nested too deeply");
    std::string sum = "{{ 1";
    for (int i = 0; i < 5000; ++i) sum += " + 1";
    EXPECT_CONTAINS(compile_error(sum + " }}"), "expression nested too deeply");
}

TEST(JinjaLimits, RunawayTemplatesStop) {
    EXPECT_CONTAINS(render_error("{% for i in range(1000000) %}{% endfor %}"), "range too big");
    EXPECT_CONTAINS(render_error("{% for i in range(100000) %}{% for j in range(100000) %}"
                                 "{% endfor %}{% endfor %}"),
                    "step limit");
    EXPECT_CONTAINS(render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"),
                    "maximum macro call depth exceeded");
    EXPECT_CONTAINS(render_error("{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
                                 "{% set ns.s = ns.s ~ ns.s %}{% endfor %}"),
                    "string too large");
    EXPECT_CONTAINS(render_error("{{ 'x' * 10000000000 }}"), "string too large");
    EXPECT_CONTAINS(render_error("{% set ns = namespace(l=[]) %}{% for i in range(1000) %}"
                                 "{% set ns.l = [ns.l] %}{% endfor %}"),
                    "value nested too deeply");
    EXPECT_CONTAINS(render_error("{% set a = namespace() %}{% set b = namespace() %}"
                                 "{% set a.x = [b] %}"),
                    "namespace inside a namespace");
    RenderLimits small;
    small.max_output_bytes = 100;
    EXPECT_CONTAINS(render_error("{% for i in range(1000) %}xx{% endfor %}", {}, small),
                    "output exceeds 100 bytes");
}

TEST(JinjaLimits, DeepContextIsAnError) {
    ordered_json deep = ordered_json::array();
    for (int i = 0; i < 1000; ++i) deep = ordered_json::array({deep});
    EXPECT_CONTAINS(render_error("{{ x }}", {{"x", deep}}), "nested too deeply");
}

}  // namespace
}  // namespace autoglm::jinja
