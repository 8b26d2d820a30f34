#!/usr/bin/env python3
"""Write the full AutoGLM-Phone-9B shape (GLM-4.1V-9B: 40-layer text decoder, 24-layer vision tower)
with random bf16 weights as a Hugging Face checkpoint folder in the published layout, so benchmark
runs load through exactly the path a downloaded checkpoint takes.

Runs where torch and transformers 5.x are installed (the GPU machine; about 20 GB of disk and a
minute or two). Usage:

    python3 tools/bench/make_full_checkpoint.py --out /tmp/autoglm-full \
        --tokenizer-dir DIR_WITH_tokenizer.model_AND_chat_template.jinja

Writes: config.json, generation_config.json, preprocessor_config.json, model-0000N-of-0000M
.safetensors + model.safetensors.index.json (5 GB shards, transformers' tensor names), and the
tokenizer: tokenizer.model (GLM-4 tiktoken ranks) + tokenizer_config.json (the special tokens at
their GLM-4.1V ids) + chat_template.jinja, copied from --tokenizer-dir. With --config-only,
everything but the weights, in seconds: `autoglm serve DIR --load-format dummy` then runs the same
shape, tokenizer, template and processor settings with random weights made in memory.
"""
import argparse
import json
import os
import shutil
import time

import torch
from transformers import Glm4vConfig, Glm4vForConditionalGeneration

# The special tokens at their GLM-4.1V ids (151329..151344).
SPECIAL = ["<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>",
           "<|user|>", "<|assistant|>", "<|observation|>", "<|begin_of_image|>",
           "<|end_of_image|>", "<|begin_of_video|>", "<|end_of_video|>", "<|image|>", "<|video|>"]
EOS = [151329, 151336, 151338, 151348]


def make_config():
    text = dict(vocab_size=151552, hidden_size=4096, intermediate_size=13696, num_hidden_layers=40,
                num_attention_heads=32, num_key_value_heads=2, rms_norm_eps=1e-5,
                max_position_embeddings=65536, attention_bias=True, hidden_act="silu",
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                 "mrope_section": [8, 12, 12], "partial_rotary_factor": 0.5},
                eos_token_id=EOS, pad_token_id=151329)
    vision = dict(depth=24, hidden_size=1536, intermediate_size=13696, num_heads=12, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=4096,
                  image_size=336, in_channels=3, rms_norm_eps=1e-5, hidden_act="silu")
    return Glm4vConfig(text_config=text, vision_config=vision, image_token_id=151343,
                       image_start_token_id=151339, image_end_token_id=151340,
                       video_token_id=151344, video_start_token_id=151341,
                       video_end_token_id=151342, tie_word_embeddings=False)


def random_model(config, seed):
    with torch.device("meta"):
        model = Glm4vForConditionalGeneration(config)
    model = model.to_empty(device="cpu").to(torch.bfloat16)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:  # norms near 1, biases near 0
                p.copy_((1.0 if "norm" in name else 0.0) + 0.02 * torch.randn(p.shape, generator=gen))
            else:  # unit-variance activations: std 1/sqrt(fan_in)
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / fan_in ** 0.5)
        for name, b in model.named_buffers():  # rotary tables etc. stay as computed
            if b.is_meta:
                raise SystemExit(f"buffer {name} was not materialized")
    return model


def write_tokenizer(out, tokenizer_dir):
    for name in ("tokenizer.model", "chat_template.jinja"):
        shutil.copy(os.path.join(tokenizer_dir, name), os.path.join(out, name))
    decoder = {str(151329 + i): {"content": t, "special": True, "lstrip": False, "rstrip": False,
                                 "normalized": False, "single_word": False}
               for i, t in enumerate(SPECIAL)}
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"added_tokens_decoder": decoder, "eos_token": "<|endoftext|>",
                   "pad_token": "<|endoftext|>", "model_max_length": 65536}, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer-dir", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shard-size", default="5GB")
    ap.add_argument("--config-only", action="store_true",
                    help="every file but the weights (serve it with --load-format dummy)")
    args = ap.parse_args()
    t0 = time.time()
    os.makedirs(args.out, exist_ok=True)
    if args.config_only:
        make_config().save_pretrained(args.out)
    else:
        torch.set_num_threads(os.cpu_count() or 4)
        model = random_model(make_config(), args.seed)
        n = sum(p.numel() for p in model.parameters())
        print(f"{n / 1e9:.2f}B parameters in {time.time() - t0:.0f} s", flush=True)
        model.save_pretrained(args.out, max_shard_size=args.shard_size, safe_serialization=True)
    with open(os.path.join(args.out, "generation_config.json"), "w") as f:
        json.dump({"eos_token_id": EOS, "pad_token_id": 151329, "do_sample": False}, f, indent=1)
    with open(os.path.join(args.out, "preprocessor_config.json"), "w") as f:
        json.dump({"size": {"shortest_edge": 12544, "longest_edge": 9633792}, "do_rescale": True,
                   "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2,
                   "image_mean": [0.48145466, 0.4578275, 0.40821073],
                   "image_std": [0.26862954, 0.26130258, 0.27577711],
                   "image_processor_type": "Glm4vImageProcessor",
                   "processor_class": "Glm4vProcessor"}, f, indent=2)
    write_tokenizer(args.out, args.tokenizer_dir)
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"wrote {args.out}: {len(os.listdir(args.out))} files, {total / 1e9:.1f} GB in "
          f"{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
