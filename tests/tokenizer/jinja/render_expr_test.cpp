// Rendering of text, whitespace control, literals, variables, operators, filters and tojson.
// Every expected string is what jinja2 3.1 renders in Hugging Face's configuration
// (trim_blocks, lstrip_blocks, loopcontrols, transformers' tojson).
#include "render_util.h"

namespace autoglm::jinja {
namespace {

TEST(JinjaRender, Text) {
    expect_render(R"~(plain text)~", R"~({})~", R"~(plain text)~");
    expect_render(R"~(line1
line2
)~",
                  R"~({})~",
                  R"~(line1
line2)~");
    expect_render(R"~(trailing two

)~",
                  R"~({})~",
                  R"~(trailing two
)~");
    expect_render("crlf\015\nline\015end", R"~({})~",
                  R"~(crlf
line
end)~");
    expect_render(R"~({# comment #}after)~", R"~({})~", R"~(after)~");
    expect_render(R"~(a {# c #} b)~", R"~({})~", R"~(a  b)~");
    expect_render(R"~({% raw %}{{ not evaluated }}{% endraw %})~", R"~({})~",
                  R"~({{ not evaluated }})~");
    expect_render(R"~(x {%- raw %} {{ y }} {% endraw -%} z)~", R"~({})~", R"~(x {{ y }} z)~");
    expect_render(R"~({{ 'a' }}{{ "b" }}{{ 'c' 'd' }})~", R"~({})~", R"~(abcd)~");
    expect_render(R"~({{ 'tab\there\nnew \x41\u4e2d\U0001F600 \q \\ \'' }})~", R"~({})~",
                  "tab\011here\nnew A中😀 \\q \\ '");
    expect_render(R"~(中文 😀 {{ '表情 🎉' }})~", R"~({})~", R"~(中文 😀 表情 🎉)~");
}

TEST(JinjaRender, Whitespace) {
    expect_render(R"~(  {% if true %}
  x
  {% endif %}
y)~",
                  R"~({})~",
                  R"~(  x
y)~");
    expect_render(R"~(a
  {% if true %}b{% endif %}  
c)~",
                  R"~({})~",
                  R"~(a
b  
c)~");
    expect_render(R"~(a  {{ 'v' }}  
  {{ 'w' }})~",
                  R"~({})~",
                  R"~(a  v  
  w)~");
    expect_render(R"~(x   {%- if true %}  y{% endif %})~", R"~({})~", R"~(x  y)~");
    expect_render(R"~({% if true -%}   

  z  {%- endif %}!)~",
                  R"~({})~", R"~(z!)~");
    expect_render(R"~(a {{- ' b ' -}} c)~", R"~({})~", R"~(a b c)~");
    expect_render(R"~({% for i in [1, 2] %}
{{ i }}
{% endfor %}
)~",
                  R"~({})~",
                  R"~(1
2
)~");
    expect_render(R"~({%- for i in [1, 2] %}
    {{- i }}
{%- endfor %})~",
                  R"~({})~", R"~(12)~");
    expect_render(R"~(  {%+ if true %}x{% endif %})~", R"~({})~", R"~(  x)~");
    expect_render(R"~({% if true +%}
keep{% endif %})~",
                  R"~({})~",
                  R"~(
keep)~");
    expect_render(R"~(a
    {# comment #}
b)~",
                  R"~({})~",
                  R"~(a
b)~");
    expect_render(R"~(a {#- c -#}   b)~", R"~({})~", R"~(ab)~");
    expect_render(R"~({% if true %}  
{% endif %}end)~",
                  R"~({})~",
                  R"~(  
end)~");
    expect_render("\011 {% if true %}x{% endif %}", R"~({})~", R"~(x)~");
    expect_render(R"~(x
{% if true %}

{% endif %}y)~",
                  R"~({})~",
                  R"~(x

y)~");
    expect_render(R"~({{ 'a' }}
{{ 'b' }}
)~",
                  R"~({})~",
                  R"~(a
b)~");
    expect_render(R"~({% set x = 1 %}
  {% set y = 2 %}
{{ x }}{{ y }})~",
                  R"~({})~", R"~(12)~");
}

TEST(JinjaRender, Literals) {
    expect_render(R"~({{ 1 }} {{ -2 }} {{ 1_000 }} {{ 1.5 }} {{ 1e3 }} {{ 2.5E-3 }})~", R"~({})~",
                  R"~(1 -2 1000 1.5 1000.0 0.0025)~");
    expect_render(R"~({{ true }} {{ false }} {{ none }} {{ True }} {{ None }})~", R"~({})~",
                  R"~(True False None True None)~");
    expect_render(R"~({{ [1, 'a', none, true, 1.5, [2]] }})~", R"~({})~",
                  R"~([1, 'a', None, True, 1.5, [2]])~");
    expect_render(R"~({{ {'k': 'v', 'n': {'m': [1]}} }})~", R"~({})~",
                  R"~({'k': 'v', 'n': {'m': [1]}})~");
    expect_render(R"~({{ (1, 2) }}{{ () }}{{ (3) }}{{ (4,) }}{{ [] }}{{ {} }}{{ (1, 2) == [1, )~"
                  R"~(2] }}{{ (1,) + (2,) }})~",
                  R"~({})~", R"~((1, 2)()3(4,)[]{}False(1, 2))~");
    expect_render(R"~({{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e-5 }} {{ 123456789.125 }} {{ 1/3 }} {{ )~"
                  R"~(2.0 }} {{ -0.0 }})~",
                  R"~({})~",
                  R"~(0.30000000000000004 1e+16 1e-05 123456789.125 0.3333333333333333 2.0 )~"
                  R"~(-0.0)~");
    expect_render(R"~({{ ["it's", 'a"b', 'x\ty', '\u00e9\u3000'] }})~", R"~({})~",
                  R"~(["it's", 'a"b', 'x\ty', 'é\u3000'])~");
}

TEST(JinjaRender, Variables) {
    expect_render(R"~({{ s }}|{{ missing }}|{{ d.a }}|{{ d['b'] }}|{{ d.b[1] }}|{{ d.b.0 )~"
                  R"~(}}|{{ d.c.x }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(hello||1|[1, 2]|2|1|y)~");
    expect_render(R"~({{ d.zz }}|{{ d['zz'] }}|{{ n.x }}|{{ s.x }}|{{ l[5] }}|{{ l[-1] }}|{{ )~"
                  R"~(s[1] }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(|||||2|e)~");
    expect_render(R"~({{ l[1:] }}{{ l[:-1] }}{{ l[::-1] }}{{ l[::2] }}{{ s[1:3] }}{{ s[::-1] )~"
                  R"~(}}{{ '中文字'[1:] }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~([1, 2][3, 1][2, 1, 3][3, 2]elolleh文字)~");
    expect_render(R"~({{ l[10:] }}{{ l[-10:1] }}{{ s[:100] }}{{ l[2:0:-1] }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~([][3]hello[2, 1])~");
    expect_render(R"~({{ d }}{{ l }}{{ n }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~({'a': 1, 'b': [1, 2], 'c': {'x': 'y'}}[3, 1, 2]None)~");
    expect_render(R"~({{ msgs[0].role }}:{{ msgs[-1]['content'] }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(user:yo)~");
}

TEST(JinjaRender, Operators) {
    expect_render(R"~({{ 1 + 2 }} {{ 7 - 10 }} {{ 3 * 4 }} {{ 7 / 2 }} {{ 4 / 2 }} {{ 7 // 2 )~"
                  R"~(}} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ )~"
                  R"~(2 ** -1 }})~",
                  R"~({})~", R"~(3 -3 12 3.5 2.0 3 -4 1 2 -2 1024 0.5)~");
    expect_render(R"~({{ 7.5 // 2 }} {{ -7.5 // 2 }} {{ 5.5 % 2 }} {{ -5.5 % 2 }} {{ 1 + 1.5 )~"
                  R"~(}} {{ true + 1 }})~",
                  R"~({})~", R"~(3.0 -4.0 1.5 0.5 2.5 2)~");
    expect_render(R"~({{ 'a' + 'b' }} {{ [1] + [2, 3] }} {{ 'ab' * 3 }} {{ 2 * [0] }} {{ 'x' )~"
                  R"~(~ 1 ~ none ~ missing ~ [1] }})~",
                  R"~({})~", R"~(ab [1, 2, 3] ababab [0, 0] x1None[1])~");
    expect_render(R"~({{ -(3) }} {{ +4 }} {{ not true }} {{ not 0 }} {{ not '' }} {{ not [] }})~",
                  R"~({})~", R"~(-3 4 False True True True)~");
    expect_render(R"~({{ 1 == 1.0 }} {{ 1 != 2 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' < )~"
                  R"~('b' }} {{ [1, 2] < [1, 3] }} {{ 2 >= 2 }} {{ 1 <= 0 }})~",
                  R"~({})~", R"~(True True True False True True True False)~");
    expect_render(R"~({{ true == 1 }} {{ none == none }} {{ missing == missing }} {{ missing )~"
                  R"~(== none }} {{ [1, [2]] == [1, [2]] }} {{ {'a': 1} == {'a': 1} }})~",
                  R"~({})~", R"~(True True True False True True)~");
    expect_render(R"~({{ 3 in l }} {{ 5 in l }} {{ 'a' in d }} {{ 'z' in d }} {{ 'ell' in s )~"
                  R"~(}} {{ 5 not in l }} {{ 'a' not in s }} {{ 'a' in missing }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(True False True False True True True False)~");
    expect_render(R"~({{ 1 and 2 }} {{ 0 and 2 }} {{ 0 or 'x' }} {{ '' or [] }} {{ none or )~"
                  R"~('y' }} {{ 1 or missing.boom }})~",
                  R"~({})~", R"~(2 0 x [] y 1)~");
    expect_render(R"~({{ 'yes' if true else 'no' }} {{ 'yes' if 0 else 'no' }} [{{ 'x' if )~"
                  R"~(false }}] {{ 1 if 0 else 2 if 1 else 3 }})~",
                  R"~({})~", R"~(yes no [] 2)~");
    expect_render(R"~({{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ )~"
                  R"~('a' ~ 1 * 2 }} {{ not 1 == 2 }} {{ 10 - 2 - 3 }})~",
                  R"~({})~", R"~(7 9 64 4 a2 True 5)~");
}

TEST(JinjaRender, Filters) {
    expect_render(R"~([{{ '  x y \n'|trim }}] [{{ 'xxaxx'|trim('x') }}] {{ s|upper }} {{ )~"
                  R"~('AbC'|lower }} {{ s|capitalize }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~([x y] [a] HELLO abc Hello)~");
    expect_render(R"~({{ l|length }} {{ s|length }} {{ '中文'|length }} {{ d|length }} {{ )~"
                  R"~(missing|length }} {{ l|count }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(3 5 2 3 0 3)~");
    expect_render(R"~({{ missing|default('dflt') }} {{ none|default('dflt') }} [{{ )~"
                  R"~(''|default('dflt') }}] {{ ''|default('dflt', true) }} {{ missing|d('x') )~"
                  R"~(}} [{{ missing|default }}])~",
                  R"~({})~", R"~(dflt None [] dflt x [])~");
    expect_render(R"~({{ l|join(', ') }} {{ l|join }} {{ msgs|join('|', attribute='role') }} )~"
                  R"~({{ 'abc'|join('-') }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(3, 1, 2 312 user|assistant a-b-c)~");
    expect_render(R"~({{ l|first }} {{ l|last }} {{ s|first }} {{ s|last }} {{ d|first }} [{{ )~"
                  R"~([]|first }}])~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(3 2 h o a [])~");
    expect_render(R"~({{ s|replace('l', 'L') }} {{ s|replace('l', 'L', 1) }} {{ )~"
                  R"~('abc'|replace('', '-') }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(heLLo heLlo -a-b-c-)~");
    expect_render(R"~({{ s|list }} {{ d|list }} {{ l|list }} {{ missing|list }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(['h', 'e', 'l', 'l', 'o'] ['a', 'b', 'c'] [3, 1, 2] [])~");
    expect_render(R"~({{ 1|string ~ 2 }} {{ none|string }} {{ l|string }} {{ l|reverse|list )~"
                  R"~(}} {{ s|reverse }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(12 None [3, 1, 2] [2, 1, 3] olleh)~");
    expect_render(R"~({% for k, v in d|items %}{{ k }}={{ v }};{% endfor %})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(a=1;b=[1, 2];c={'x': 'y'};)~");
    expect_render(R"~({{ '3'|int + 1 }} {{ 'x'|int }} {{ 3.9|int }} {{ '2.5'|float }} {{ )~"
                  R"~(2|float }} {{ -3|abs }} {{ (-3)|abs }})~",
                  R"~({})~", R"~(4 0 3 2.5 2.0 3 3)~");
    expect_render(R"~({{ msgs|map(attribute='role')|join(',') }} {{ msgs|selectattr('role', )~"
                  R"~('equalto', 'user')|map(attribute='content')|list }} {{ )~"
                  R"~(msgs|rejectattr('role', 'eq', 'user')|list|length }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(user,assistant ['hi'] 1)~");
    expect_render(R"~({{ [1, 2, 3, 4]|select('odd')|list }} {{ [0, 1, '', 'a']|select|list }} )~"
                  R"~({{ [1, 2, 3]|reject('even')|list }} {{ ['a', 'b']|map('upper')|list }})~",
                  R"~({})~", R"~([1, 3] [1, 'a'] [1, 3] ['A', 'B'])~");
    expect_render(R"~({{ s|safe }} {{ s|upper|lower|length }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(hello 5)~");
}

TEST(JinjaRender, Tojson) {
    expect_render(R"~({{ d|tojson }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~({"a": 1, "b": [1, 2], "c": {"x": "y"}})~");
    expect_render(R"~({{ d|tojson(indent=2) }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~({
  "a": 1,
  "b": [
    1,
    2
  ],
  "c": {
    "x": "y"
  }
})~");
    expect_render(R"~({{ d|tojson(indent=4, sort_keys=true) }})~",
                  R"~({"d": {"b": 1, "a": [], "c": {}}})~",
                  R"~({
    "a": [],
    "b": 1,
    "c": {}
})~");
    expect_render(R"~({{ [1, 'a', {'k': none}]|tojson(separators=(',', ':')) }})~", R"~({})~",
                  R"~([1,"a",{"k":null}])~");
    expect_render(R"~({{ x|tojson }} {{ x|tojson(ensure_ascii=true) }})~",
                  "{\"x\": \"中\\\"\\\\\\n\\t\\u0001é😀\177\"}",
                  "\"中\\\"\\\\\\n\\t\\u0001é😀\177\" "
                  "\"\\u4e2d\\\"\\\\\\n\\t\\u0001\\u00e9\\ud83d\\ude00\\u007f\"");
    expect_render(R"~({{ [1.0, 0.5, 1e-05, 1e20, -0.0, 3, true, false, none]|tojson }})~",
                  R"~({})~", R"~([1.0, 0.5, 1e-05, 1e+20, -0.0, 3, true, false, null])~");
    expect_render(R"~({{ 'x'|tojson }} {{ 5|tojson }} {{ {}|tojson(indent=2) }} {{ )~"
                  R"~([]|tojson(indent=2) }})~",
                  R"~({})~", R"~("x" 5 {} [])~");
    expect_render(R"~({{ d|tojson(indent='\t') }})~", R"~({"d": {"a": [1]}})~",
                  "{\n\011\"a\": [\n\011\0111\n\011]\n}");
}

}  // namespace
}  // namespace autoglm::jinja
