#!/usr/bin/env python3
"""Chat-template goldens: conversations rendered with the GLM-4.1V template and the GLM-4-9B-chat
tool template exactly as Hugging Face transformers renders them, for the C++ jinja interpreter
tests (tests/tokenizer/jinja/golden_test.cpp).

    python3 tools/golden/make_template_goldens.py \
        --shared ../shared --out tests/data/templates/template_goldens.json

The templates are read from <shared>/models/glm4v-tokenizer/ (chat_template.jinja and the
"chat_template" of reference-glm-4-9b-chat/tokenizer_config.json); their text is never written to
the fixture. When transformers is importable the rendering goes through transformers itself
(render_jinja_template, else apply_chat_template on a bare PreTrainedTokenizerFast); otherwise
through local jinja2 configured like transformers' _compile_jinja_template (sandboxed, trim_blocks,
lstrip_blocks, loopcontrols, tojson = json.dumps(ensure_ascii=False, ...), raise_exception,
strftime_now). The fixture records which renderer and versions produced it.

Each case is {name, template: "glm41v" | "glm4_chat", context, expected}; `context` holds every
variable the template saw (messages, add_generation_prompt, tools, documents, extra kwargs).
"""
import argparse
import json
import os
from datetime import datetime

import jinja2
import jinja2.ext

# ---------------------------------------------------------------------------------------------
# Conversations.

IMG = {"type": "image", "image": "https://example.com/cat.png"}
VID = {"type": "video", "video": "file:///tmp/clip.mp4"}


def text(t):
    return {"type": "text", "text": t}


def user(content):
    return {"role": "user", "content": content}


def assistant(content, **extra):
    return {"role": "assistant", "content": content, **extra}


def system(content, **extra):
    return {"role": "system", "content": content, **extra}


THINK = "<think>The user wants a greeting.\nKeep it short.</think><answer>Hello! 你好！</answer>"

GLM41V_CASES = [
    ("user_text_gen", [user("Hello, who are you?")], True, {}),
    ("user_text_no_gen", [user("Hello, who are you?")], False, {}),
    ("system_user", [system("You are a helpful assistant."), user("Hi")], True, {}),
    ("image_then_text", [user([IMG, text("Describe this image.")])], True, {}),
    ("text_image_text", [user([text("Compare"), IMG, text("with"), IMG, text("please.")])], True,
     {}),
    ("video", [user([VID, text("What happens in the clip?")])], True, {}),
    ("image_key_without_type", [user([{"image": "a.png"}, text("What is it?")])], True, {}),
    ("video_key_without_type", [user([{"video": "a.mp4"}, {"type": "text", "text": "Go"}])], True,
     {}),
    ("unknown_item_type", [user([{"type": "image_url", "image_url": {"url": "x"}}, text("hi")])],
     True, {}),
    ("multi_turn", [user("Hi"), assistant("Hello! How can I help?"), user("Tell me a joke.")],
     True, {}),
    ("assistant_think_answer", [user("Greet me"), assistant(THINK), user("Again")], True, {}),
    ("assistant_last_no_gen", [user("Greet me"), assistant(THINK)], False, {}),
    ("assistant_metadata", [user("Weather?"), assistant('{"city": "Beijing"}',
                                                        metadata="get_weather")], True, {}),
    ("assistant_empty_metadata", [user("Hi"), assistant("Hey", metadata="")], True, {}),
    ("chinese", [system("你是一个乐于助人的助手。"), user("请用中文介绍一下北京。")], True, {}),
    ("emoji", [user("Can you read emoji? 😀👍🏽🇨🇳 and ZWJ 👩‍💻"), assistant("Yes 🎉")], True, {}),
    ("whitespace", [user("  leading and trailing  \n\n"), assistant("\tTabbed\r\nCRLF  ")], True,
     {}),
    ("empty_messages", [], True, {}),
    ("tool_role_ignored", [user("Run it"), {"role": "observation", "content": "result: 42"},
                           {"role": "tool", "content": "done"}], True, {}),
    ("system_content_list_repr", [system([text("It's \"quoted\"\\n"), text("中文")]), user("x")],
     True, {}),
    ("assistant_none_content", [user("Hi"), assistant(None)], True, {}),
    ("braces_in_text", [user("Literal {{ not a tag }} and {% also not %} {# nor #}")], True, {}),
    ("images_across_turns", [user([IMG, text("What is this?")]), assistant("A cat."),
                             user([IMG, IMG, text("And these two?")])], True, {}),
    ("user_missing_content", [{"role": "user"}], True, {}),
    ("many_text_items", [user([text("one"), text(""), text("two\n"), text(" three ")])], True,
     {}),
    ("special_tokens_kwargs", [user("Hi")], True,
     {"bos_token": "[gMASK]<sop>", "eos_token": "<|endoftext|>", "enable_thinking": False}),
]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "查询某个城市的天气 (weather lookup) — \"quotes\" & \\backslash\\",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "城市名，例如：北京"},
                "days": {"type": "integer", "minimum": 1, "maximum": 7, "default": 1},
                "threshold": {"type": "number", "default": 0.5, "epsilon": 1e-05},
                "units": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "verbose": {"type": "boolean", "default": False},
                "extra": {"type": "object", "properties": {}, "required": []},
                "note": {"type": "null", "default": None},
            },
            "required": ["city"],
        },
    },
}

SEARCH_TOOL = {"type": "function", "function": {"name": "search", "description": "Search 🔍\n",
                                                "parameters": {"q": "string", "big": 1e20}}}

GLM4_CASES = [
    ("user_gen", [user("你好")], True, {}),
    ("multi_turn_no_gen", [system("You are GLM-4."), user("Hi"), assistant("Hello!"),
                           user("What's 2+2?")], False, {}),
    ("function_tool", [system("", tools=[WEATHER_TOOL]), user("北京天气怎么样？")], True, {}),
    ("builtin_tools", [system("", tools=[{"type": "python"}, {"type": "simple_browser"},
                                         {"type": "cogview"}]), user("Draw a cat")], True, {}),
    ("tools_on_user_message", [{"role": "user", "content": "Find news 📰",
                                "tools": [SEARCH_TOOL, {"type": "unknown"}]}], True, {}),
    ("assistant_metadata_observation", [
        system("", tools=[WEATHER_TOOL]), user("Weather in Paris?"),
        assistant('{"city": "Paris"}', metadata="get_weather"),
        {"role": "observation", "content": '{"temp": 21.5, "sky": "晴"}'}], True, {}),
    ("empty_content_skipped", [user(""), assistant("answer"), user("again")], True, {}),
    ("think_history_emoji", [user("Hi 😀"), assistant(THINK), user("再来一次")], False, {}),
    ("system_prompt_and_tools", [system("Answer briefly.", tools=[SEARCH_TOOL, WEATHER_TOOL]),
                                 user("Go")], True, {}),
    ("content_list_repr", [user([text("a"), IMG])], True, {}),
]

# ---------------------------------------------------------------------------------------------
# Rendering.


def load_templates(shared):
    root = os.path.join(shared, "models", "glm4v-tokenizer")
    with open(os.path.join(root, "chat_template.jinja"), encoding="utf-8") as f:
        glm41v = f.read()
    with open(os.path.join(root, "reference-glm-4-9b-chat", "tokenizer_config.json"),
              encoding="utf-8") as f:
        glm4_chat = json.load(f)["chat_template"]
    return {"glm41v": glm41v, "glm4_chat": glm4_chat}


def jinja2_renderer():
    """Local jinja2 set up the way transformers' _compile_jinja_template sets it up."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now

    def render(template, context):
        return env.from_string(template).render(**context)

    return "jinja2 " + jinja2.__version__ + " (configured like transformers)", render


def transformers_renderer():
    import transformers

    name = "transformers " + transformers.__version__
    try:
        from transformers.utils.chat_template_utils import render_jinja_template
    except ImportError:
        render_jinja_template = None
    if render_jinja_template is not None:
        def render(template, context):
            kwargs = dict(context)
            messages = kwargs.pop("messages")
            rendered, _ = render_jinja_template(conversations=[messages], chat_template=template,
                                                **kwargs)
            return rendered[0]
        return name + " (render_jinja_template)", render

    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(WordLevel({"[UNK]": 0}, unk_token="[UNK]")))

    def render(template, context):
        kwargs = dict(context)
        return tokenizer.apply_chat_template(kwargs.pop("messages"), tokenize=False,
                                             chat_template=template, **kwargs)
    return name + " (apply_chat_template)", render


def pick_renderer(force_jinja2):
    if not force_jinja2:
        try:
            return transformers_renderer()
        except ImportError:
            pass
    return jinja2_renderer()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                         "..", "shared"))
    parser.add_argument("--out", default="tests/data/templates/template_goldens.json")
    parser.add_argument("--jinja2", action="store_true", help="skip transformers even if present")
    args = parser.parse_args()

    templates = load_templates(args.shared)
    renderer_name, render = pick_renderer(args.jinja2)
    cases = []
    for template_name, table in (("glm41v", GLM41V_CASES), ("glm4_chat", GLM4_CASES)):
        for name, messages, add_generation_prompt, extra in table:
            context = {"messages": messages, "tools": None, "documents": None,
                       "add_generation_prompt": add_generation_prompt, **extra}
            expected = render(templates[template_name], context)
            cases.append({"name": f"{template_name}/{name}", "template": template_name,
                          "context": context, "expected": expected})
    fixture = {"renderer": renderer_name, "jinja2_version": jinja2.__version__,
               "num_cases": len(cases), "cases": cases}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases rendered by {renderer_name} to {args.out}")


if __name__ == "__main__":
    main()
