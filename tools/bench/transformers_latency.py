#!/usr/bin/env python3
"""The shapes of `autoglm bench latency` through transformers on the same GPU: GLM-4.1V /
AutoGLM-Phone-9B shape, random bf16 weights, sdpa attention. Prints one line per figure and
writes JSON with --json.

    python3 tools/bench/transformers_latency.py --json out.json [--only vision,agent]

Figures: batch-1 decode tok/s through generate (128-token prompt, 256 new tokens); one prefill
forward at 1k/4k/16k tokens (last-token logits); the vision tower on a 1080x2400 screenshot
(13,416 patches); one agent-step forward (that image + text, 4,862 tokens, mm_token_type_ids set).
Each is the median of --repeats timed runs after one warm-up, synchronized on the device.
"""
import argparse
import json
import statistics
import time

import torch
from transformers import Glm4vConfig, Glm4vForConditionalGeneration


def config():
    text = dict(vocab_size=151552, hidden_size=4096, intermediate_size=13696,
                num_hidden_layers=40, num_attention_heads=32, num_key_value_heads=2,
                hidden_act="silu", rms_norm_eps=1e-5, max_position_embeddings=65536,
                attention_bias=True, attention_dropout=0.0, tie_word_embeddings=False,
                rope_parameters=dict(rope_type="default", rope_theta=10000.0,
                                     partial_rotary_factor=0.5, mrope_section=[8, 12, 12]),
                pad_token_id=151329, eos_token_id=None)
    vision = dict(depth=24, hidden_size=1536, num_heads=12, patch_size=14,
                  temporal_patch_size=2, spatial_merge_size=2, in_channels=3, image_size=336,
                  out_hidden_size=4096, intermediate_size=13696, hidden_act="silu",
                  rms_norm_eps=1e-5, attention_bias=False)
    return Glm4vConfig(text_config=text, vision_config=vision, tie_word_embeddings=False,
                       image_token_id=151343, image_start_token_id=151339,
                       image_end_token_id=151340, video_token_id=151344,
                       video_start_token_id=151341, video_end_token_id=151342)


def timed(fn, repeats):
    fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        out.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--decode-tokens", type=int, default=256)
    ap.add_argument("--prefill-lengths", default="1024,4096,16384")
    ap.add_argument("--json", default="")
    ap.add_argument("--only", default="decode,prefill,vision,agent",
                    help="comma-separated sections to run")
    args = ap.parse_args()
    only = set(args.only.split(","))
    torch.manual_seed(0)
    cfg = config()
    cfg._attn_implementation = "sdpa"
    with torch.device("cuda"):
        model = Glm4vForConditionalGeneration._from_config(cfg, torch_dtype=torch.bfloat16)
    model.eval()
    res = {"device": torch.cuda.get_device_name(), "torch": torch.__version__}
    import transformers
    res["transformers"] = transformers.__version__
    vocab = cfg.text_config.vocab_size
    gen = torch.Generator(device="cuda").manual_seed(1)

    h, w = 2408 // 14, 1092 // 14  # smart_resize of 1080x2400 -> 2408x1092 -> 172x78 patches
    with torch.no_grad():
        if "decode" in only:
            prompt = torch.randint(0, vocab - 1000, (1, 128), device="cuda", generator=gen)
            n = args.decode_tokens
            run = lambda: model.generate(input_ids=prompt, max_new_tokens=n, min_new_tokens=n,
                                         do_sample=False, pad_token_id=0, eos_token_id=None)
            ms = timed(run, max(1, args.repeats // 2))
            res["decode_tok_per_s"] = n / (ms / 1e3)  # includes the 128-token prefill
            print(f"decode batch 1 (generate, 128 + {n}): {res['decode_tok_per_s']:.1f} tok/s")

        if "prefill" in only:
            res["prefill"] = []
            for L in [int(x) for x in args.prefill_lengths.split(",") if x]:
                ids = torch.randint(0, vocab - 1000, (1, L), device="cuda", generator=gen)
                ms = timed(lambda: model(input_ids=ids, use_cache=False, logits_to_keep=1),
                           args.repeats)
                res["prefill"].append({"tokens": L, "ms": ms})
                print(f"prefill {L}: {ms:.1f} ms ({L / ms * 1e3:.0f} tok/s)")

        grid = torch.tensor([[1, h, w]], device="cuda")
        pixels = torch.randn(h * w, 3 * 2 * 14 * 14, device="cuda", dtype=torch.bfloat16,
                             generator=gen)
        if "vision" in only:
            ms = timed(lambda: model.model.get_image_features(pixel_values=pixels,
                                                              image_grid_thw=grid), args.repeats)
            res["vision_ms"] = ms
            print(f"vision {h * w} patches: {ms:.1f} ms")

        if "agent" in only:
            image_tokens = h * w // 4
            total = 4862
            ids = torch.randint(0, vocab - 1000, (1, total), device="cuda", generator=gen)
            ids[0, 8] = cfg.image_start_token_id
            ids[0, 9:9 + image_tokens] = cfg.image_token_id
            ids[0, 9 + image_tokens] = cfg.image_end_token_id
            mm = (ids == cfg.image_token_id).long()
            ms = timed(lambda: model(input_ids=ids, pixel_values=pixels, image_grid_thw=grid,
                                     mm_token_type_ids=mm, use_cache=False, logits_to_keep=1),
                       args.repeats)
            res["agent_ttft_ms"] = ms
            print(f"agent step ({image_tokens} image + {total - image_tokens} text tokens): "
                  f"{ms:.1f} ms")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
