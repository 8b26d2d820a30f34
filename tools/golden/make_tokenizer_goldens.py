#!/usr/bin/env python3
"""Tokenizer goldens: ids from Hugging Face `tokenizers` for a corpus of >= 300 strings, through
(1) the genuine GLM-4 vocabulary (tiktoken tokenizer.model converted with transformers'
TikTokenConverter, GLM-4's split pattern, special tokens at 151329..) and (2) a small BPE trained
here with GLM's pattern and special tokens, saved as tokenizer.json (a committed fixture).

    python3 tools/golden/make_tokenizer_goldens.py --vocab DIR_WITH_tokenizer.model --out tests/data/tokenizer

Only ids are written for the GLM-4 vocabulary, never the vocabulary itself.
"""
import argparse
import json
import os
import random

import tokenizers
import transformers
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers.convert_slow_tokenizer import TikTokenConverter

GLM4_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>",
            "<|user|>", "<|assistant|>", "<|observation|>", "<|begin_of_image|>",
            "<|end_of_image|>", "<|begin_of_video|>", "<|end_of_video|>", "<|image|>",
            "<|video|>"]  # ids 151329.. in this order

FRAGMENTS = [
    "Hello, world!", "The quick brown fox jumps over the lazy dog.", "I'm sure they'll say it's",
    "DON'T SHOUT, WE'VE HEARD", "你好，世界！", "今天天气很好，我们去公园散步吧。",
    "打开微信，给张三发消息说明天见", "点击屏幕右上角的设置按钮", "中文English混合text测试",
    "日本語のテキストです。", "한국어 텍스트입니다", "Ελληνικά κείμενο", "Русский текст, ёжик",
    "العربية نص", "हिन्दी पाठ", "ภาษาไทย", "emoji 😀😃😄 ok", "👨‍👩‍👧‍👦 family", "🇨🇳🇺🇸 flags",
    "𠀀𠀁𪚥 rare CJK", "math ∑∫√∞ ≤ ≥", "café naïve résumé", "e\u0301 combining",
    "nbsp\u00a0here", "ideographic\u3000space", "line\u2028sep", "nel\u0085char",
    "12345678901234567890", "3.14159265", "2026-11-22 07:30:00", "x = 1_000_000",
    "def f(x):\n    return x * 2\n", "for (int i = 0; i < n; ++i) { a[i] += b[i]; }",
    "{\"action\": \"Tap\", \"element\": [500, 300]}", "do(action=\"Launch\", app=\"微信\")",
    "<think>先看屏幕</think><answer>do(action=\"Tap\", element=[120,880])</answer>",
    "    four spaces", "\t\ttabs\t", "\n\n\nnewlines\n", "trailing spaces   ", "   ",
    " \n \n ", "a\r\nb\r\n", "!!!???...", "__init__", "http://example.com/a?b=c&d=e",
    "<|user|>\nhi<|assistant|>\n", "[gMASK]<sop><|system|>\nSYS", "<|begin_of_image|><|image|><|end_of_image|>",
    "not special: <|notatoken|> <|user", "$$$ ### @@@", "ﬁ ligature", "ＡＢＣ fullwidth ＡＢＣ",
    "ok'S", "it'D", "'s'", "x'll'", "\u200b zero width", "a" * 40, "哈" * 30, "1" * 25,
    " " * 17 + "x", "\n" * 9, "😀" * 12,
]


def make_corpus(n=320, seed=7):
    rng = random.Random(seed)
    corpus = list(FRAGMENTS)
    seps = ["", " ", "\n", "  ", "\t", "，", "。", "\n\n", " \n"]
    while len(corpus) < n:
        k = rng.randint(2, 5)
        parts = [rng.choice(FRAGMENTS) for _ in range(k)]
        corpus.append("".join(p + rng.choice(seps) for p in parts))
    return corpus


def glm4_tokenizer(vocab_dir):
    conv = TikTokenConverter(vocab_file=os.path.join(vocab_dir, "tokenizer.model"),
                             pattern=GLM4_PATTERN, additional_special_tokens=SPECIALS)
    tok = conv.converted()
    if tok.token_to_id(SPECIALS[0]) is None:  # some versions leave the specials to the caller
        assert tok.get_vocab_size() == 151329, tok.get_vocab_size()
        tok.add_special_tokens([tokenizers.AddedToken(s, special=True, normalized=False)
                                for s in SPECIALS])
    for i, s in enumerate(SPECIALS):
        assert tok.token_to_id(s) == 151329 + i, (s, tok.token_to_id(s))
    return tok


def train_tokenizer(corpus):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(GLM4_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=3000, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus * 3, trainer=trainer)
    return tok


def ids_of(tok, corpus, split_special=False):
    tok.encode_special_tokens = split_special
    out = [tok.encode(s, add_special_tokens=False).ids for s in corpus]
    tok.encode_special_tokens = False
    for s, ids in zip(corpus, out):
        if not split_special:
            assert tok.decode(ids, skip_special_tokens=False) == s, s
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocab", required=True, help="folder with GLM-4's tokenizer.model")
    ap.add_argument("--vectors", help="glm41v_tokenizer_testvectors.json to self-check against")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(os.path.join(args.out, "trained"), exist_ok=True)
    corpus = make_corpus()
    glm4 = glm4_tokenizer(args.vocab)
    if args.vectors:
        for case in json.load(open(args.vectors))["cases"]:
            ids = glm4.encode(case["rendered_prompt"], add_special_tokens=False).ids
            print(case["name"], "converted tokenizer equals recorded ids:", ids == case["input_ids"])
    trained = train_tokenizer(corpus)
    trained.save(os.path.join(args.out, "trained", "tokenizer.json"))
    special_rows = [i for i, s in enumerate(corpus) if any(t in s for t in SPECIALS)]
    out = dict(
        reference="tokenizers %s, transformers %s (TikTokenConverter)" % (
            tokenizers.__version__, transformers.__version__),
        split_pattern=GLM4_PATTERN, special_tokens=SPECIALS, corpus=corpus,
        glm4_ids=ids_of(glm4, corpus),
        glm4_ids_specials_as_text={str(i): ids_of(glm4, [corpus[i]], True)[0] for i in special_rows},
        trained_ids=ids_of(trained, corpus),
        trained_ids_specials_as_text={str(i): ids_of(trained, [corpus[i]], True)[0]
                                      for i in special_rows})
    with open(os.path.join(args.out, "goldens.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)
    print("corpus", len(corpus), "strings;", sum(map(len, out["glm4_ids"])), "GLM-4 ids;",
          "trained vocab", trained.get_vocab_size())


if __name__ == "__main__":
    main()
