// Rendering of tests, methods and the statements: for, if, set, namespace, macro, generation.
// Every expected string is what jinja2 3.1 renders in Hugging Face's configuration
// (trim_blocks, lstrip_blocks, loopcontrols, transformers' tojson).
#include "render_util.h"

namespace autoglm::jinja {
namespace {

TEST(JinjaRender, Tests) {
    expect_render(R"~({{ s is defined }} {{ missing is defined }} {{ missing is undefined }} )~"
                  R"~({{ n is none }} {{ s is none }} {{ d.zz is defined }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(True False True True False False)~");
    expect_render(R"~({{ s is string }} {{ l is string }} {{ d is mapping }} {{ l is mapping )~"
                  R"~(}} {{ l is iterable }} {{ s is iterable }} {{ 3 is iterable }} {{ )~"
                  R"~(missing is iterable }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(True False True False True True False True)~");
    expect_render(R"~({{ 1 is number }} {{ 1.5 is number }} {{ true is number }} {{ '1' is )~"
                  R"~(number }} {{ l is sequence }} {{ s is sequence }} {{ 3 is sequence }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(True True True False True True False)~");
    expect_render(R"~({{ true is true }} {{ 1 is true }} {{ false is false }} {{ 0 is false )~"
                  R"~(}} {{ true is boolean }} {{ 1 is integer }} {{ 1.0 is float }} {{ true )~"
                  R"~(is integer }})~",
                  R"~({})~", R"~(True False True False True True True False)~");
    expect_render(R"~({{ 3 is odd }} {{ 3 is even }} {{ 9 is divisibleby 3 }} {{ 9 is )~"
                  R"~(divisibleby(2) }} {{ 2 is eq 2 }} {{ 2 is ne 2 }} {{ 1 is lt 2 }} {{ )~"
                  R"~('a' is in 'cat' }})~",
                  R"~({})~", R"~(True False True False True False True True)~");
    expect_render(R"~({{ s is not none }} {{ missing is not defined }} {{ not s is defined }} )~"
                  R"~({{ n is none and s is string }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(True True False True)~");
}

TEST(JinjaRender, Methods) {
    expect_render(R"~({{ s.upper() }} {{ 'ABC'.lower() }} [{{ '  a b  '.strip() }}] [{{ '  a )~"
                  R"~('.lstrip() }}] [{{ ' a  '.rstrip() }}] {{ 'xxaxx'.strip('x') }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(HELLO abc [a b] [a ] [ a] a)~");
    expect_render(R"~({{ 'a,b,,c'.split(',') }} {{ ' a  b \n c '.split() }} {{ )~"
                  R"~('a-b-c'.split('-', 1) }} {{ '中 文'.split(' ') }})~",
                  R"~({})~", R"~(['a', 'b', '', 'c'] ['a', 'b', 'c'] ['a', 'b-c'] ['中', '文'])~");
    expect_render(R"~({{ s.startswith('he') }} {{ s.startswith('lo') }} {{ s.endswith('lo') )~"
                  R"~(}} {{ s.startswith(('x', 'h')) }} {{ s.replace('l', '_') }} {{ )~"
                  R"~(s.find('l') }} {{ '-'.join(['a', 'b']) }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(True False True True he__o 2 a-b)~");
    expect_render(R"~({% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {{ )~"
                  R"~(d.keys()|list }} {{ d.values()|list }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(a=1;b=[1, 2];c={'x': 'y'}; ['a', 'b', 'c'] [1, [1, 2], {'x': 'y'}])~");
    expect_render(R"~({{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 'dflt') }} {{ )~"
                  R"~(d.get('c').x }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(1 None dflt y)~");
    expect_render(R"~({% if msgs[0].content.startswith('h') %}starts{% endif %}{{ )~"
                  R"~(msgs[1]['content'].upper() }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(startsYO)~");
}

TEST(JinjaRender, For) {
    expect_render(R"~({% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ )~"
                  R"~(loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}|{% )~"
                  R"~(endfor %})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(10TrueFalse332|21FalseFalse321|32FalseTrue310|)~");
    expect_render(R"~({% for x in [] %}x{% else %}empty{% endfor %} {% for x in missing %}x{% )~"
                  R"~(else %}undefined{% endfor %})~",
                  R"~({})~", R"~(empty undefined)~");
    expect_render(R"~({% for k in d %}{{ k }}{% endfor %} {% for c in 'héllo' %}{{ c }}.{% )~"
                  R"~(endfor %})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(abc h.é.l.l.o.)~");
    expect_render(R"~({% for k, v in d.items() %}{{ k }}:{{ v }} {% endfor %})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(a:1 b:[1, 2] c:{'x': 'y'} )~");
    expect_render(R"~({% for a, b in [[1, 2], [3, 4]] %}{{ a + b }} {% endfor %})~", R"~({})~",
                  R"~(3 7 )~");
    expect_render(R"~({% for x in l if x > 1 %}{{ loop.index }}/{{ loop.length }}:{{ x }} {% )~"
                  R"~(endfor %})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(1/2:3 2/2:2 )~");
    expect_render(R"~({% for x in range(5) %}{% if x == 1 %}{% continue %}{% endif %}{% if x )~"
                  R"~(== 3 %}{% break %}{% endif %}{{ x }}{% endfor %})~",
                  R"~({})~", R"~(02)~");
    expect_render(R"~({% for i in range(2) %}{% for j in range(2) %}{{ loop.index }}{{ i }}{{ )~"
                  R"~(j }} {% endfor %}{{ loop.index }}|{% endfor %})~",
                  R"~({})~", R"~(100 201 1|110 211 2|)~");
    expect_render(R"~({% for x in l %}{{ loop.previtem }}>{{ x }}<{{ loop.nextitem }} {% )~"
                  R"~(endfor %})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(>3<1 3>1<2 1>2< )~");
    expect_render(R"~({{ range(3)|list }} {{ range(1, 4)|list }} {{ range(10, 0, -3)|list }} )~"
                  R"~({{ range(0)|list }})~",
                  R"~({})~", R"~([0, 1, 2] [1, 2, 3] [10, 7, 4, 1] [])~");
    expect_render(R"~({% set x = 'outer' %}{% for i in [1, 2] %}{{ x }}{% set x = i %}{{ x )~"
                  R"~(}};{% endfor %}{{ x }})~",
                  R"~({})~", R"~(outer1;outer2;outer)~");
    expect_render(R"~({{ loop }}|{% for i in [1] %}{{ i }}{% endfor %}{{ i }})~", R"~({})~",
                  R"~(|1)~");
}

TEST(JinjaRender, If) {
    expect_render(R"~({% if 0 %}a{% elif '' %}b{% elif [1] %}c{% else %}d{% endif %})~", R"~({})~",
                  R"~(c)~");
    expect_render(R"~({% if missing %}a{% else %}b{% endif %}{% if not missing %}c{% endif %})~",
                  R"~({})~", R"~(bc)~");
    expect_render(R"~({% if d.a == 1 and s %}yes{% endif %}{% if n %}no{% endif %})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(yes)~");
    expect_render(R"~({% if true %}{% set inside = 'set in if' %}{% endif %}{{ inside }})~",
                  R"~({})~", R"~(set in if)~");
}

TEST(JinjaRender, Set) {
    expect_render(R"~({% set x = 1 %}{% set y = x + 1 %}{{ x }}{{ y }})~", R"~({})~", R"~(12)~");
    expect_render(R"~({% set a, b = [1, 2] %}{{ a }}{{ b }}{% set c, d = 'xy' %}{{ c }}{{ d }})~",
                  R"~({})~", R"~(12xy)~");
    expect_render(R"~({% set t = 1, 2 %}{{ t }})~", R"~({})~", R"~((1, 2))~");
    expect_render(R"~({% set ns = namespace(count=0, found=false) %}{% for m in msgs %}{% set )~"
                  R"~(ns.count = ns.count + 1 %}{% if m.role == 'assistant' %}{% set ns.found )~"
                  R"~(= true %}{% endif %}{% endfor %}{{ ns.count }}{{ ns.found }}{{ ns.other )~"
                  R"~(}})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(2True)~");
    expect_render(R"~({% set block %}  hi {{ 1 + 1 }}
{% endset %}[{{ block }}])~",
                  R"~({})~",
                  R"~([  hi 2
])~");
    expect_render(R"~({% set s = 'shadowed' %}{{ s }})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(shadowed)~");
    expect_render(R"~({% set ns = namespace(d={'a': 1}) %}{{ ns.d.a }}{% set ns.d = {'a': 2} )~"
                  R"~(%}{{ ns.d.a }})~",
                  R"~({})~", R"~(12)~");
}

TEST(JinjaRender, Macro) {
    expect_render(R"~({% macro m(a, b=2) %}[{{ a }}{{ b }}]{% endmacro %}{{ m(1) }}{{ m(1, 3) )~"
                  R"~(}}{{ m(b=4, a=0) }}{{ m() }})~",
                  R"~({})~", R"~([12][13][04][2])~");
    expect_render(R"~({% macro tag(name) %}<{{ name }}>{% endmacro %}{% for m in msgs %}{{ )~"
                  R"~(tag(m.role) }}{% endfor %})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(<user><assistant>)~");
    expect_render(R"~({% set x = 'global' %}{% macro show() %}{{ x }}{% endmacro %}{% for x )~"
                  R"~(in ['loop'] %}{{ show() }}{% endfor %})~",
                  R"~({})~", R"~(global)~");
    expect_render(R"~({% macro fact(n) %}{% if n > 1 %}{{ n * fact(n - 1)|int }}{% else %}1{% )~"
                  R"~(endif %}{% endmacro %}{{ fact(5) }})~",
                  R"~({})~", R"~(120)~");
}

TEST(JinjaRender, Generation) {
    expect_render(R"~({% for m in msgs %}{% if m.role == 'assistant' %}{% generation %}{{ )~"
                  R"~(m.content }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}{% )~"
                  R"~(endfor %})~",
                  R"~({"d": {"a": 1, "b": [1, 2], "c": {"x": "y"}}, "s": "hello", "n": null, )~"
                  R"~("l": [3, 1, 2], "msgs": [{"role": "user", "content": "hi"}, {"role": )~"
                  R"~("assistant", "content": "yo"}]})~",
                  R"~(hiyo)~");
}

}  // namespace
}  // namespace autoglm::jinja
