#!/usr/bin/env python3
"""Record what transformers' GLM-4.1V image processor makes of checkpoint preprocessor configs,
for tests/model/preprocessor_config_test.cpp and tests/clients/vllm_compat.test.mjs.

Runs where torch, torchvision, PIL, safetensors and transformers 5.x are installed (the GPU
machine; everything runs on the CPU). Usage, from the repository root (after the text goldens):

    python3 tools/golden/make_processor_goldens.py --data tests/data

Writes into <data>/processor:
  configs/<name>.json   preprocessor_config.json files: the published GLM-4.1V one, a 5,000,000
                        pixel cap, a small cap with other mean/std, the older min_pixels /
                        max_pixels spelling, rescale only, normalize only, neither, LANCZOS
  goldens.json          per config: the processor as transformers loaded it (class, backend,
                        size, mean, std, ...) and per image: grid_thw, token count, resized size
  goldens.safetensors   per config and image: "<config>.<image>.token_hash" I64 [tokens] = FNV-1a
                        64 of each merge window's 4 rows of pixel_values (float32 little-endian,
                        2 x 1176 values each... see token_hashes), and "<config>.<image>.row0" F32
                        [1176] = the first row, to show a mismatch
  tiny_chat/chat_golden.json  a chat with one image on a tiny checkpoint (tiny_bf16_sharded's
                        weights, the trained BPE vocabulary, tiny_chat/chat_template.jinja and a
                        non-default tiny_chat/preprocessor_config.json): the rendered prompt, the
                        processor's input ids and 16 greedy ids from generate

Images are computed, not stored: pixel (x, y, channel c) of a W x H picture is
((7x + 13y + 85c + ((x*y) >> 4) + ((x ^ y) & 63)) & 255); the C++ test builds the same ones.
"""
import argparse
import glob
import inspect
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import PIL
import torch
import torchvision
import transformers
from PIL import Image
from safetensors.torch import save_file

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def published(**over):
    """The GLM-4.1V checkpoint's preprocessor_config.json with some keys replaced."""
    cfg = {"size": {"shortest_edge": 12544, "longest_edge": 9633792}, "do_rescale": True,
           "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2, "image_mean": CLIP_MEAN,
           "image_std": CLIP_STD, "image_processor_type": "Glm4vImageProcessor",
           "processor_class": "Glm4vProcessor"}
    cfg.update(over)
    return cfg


SMALL = {"shortest_edge": 3136, "longest_edge": 200704}
CONFIGS = {
    "default": published(),
    "cap5m": published(size={"shortest_edge": 12544, "longest_edge": 5000000}),
    "small_meanstd": published(size=SMALL, image_mean=[0.5, 0.4, 0.3], image_std=[0.25, 0.2, 0.3],
                               resample=3, do_convert_rgb=True, do_normalize=True),
    "legacy_pixels": {k: v for k, v in published(min_pixels=6272, max_pixels=501760).items()
                      if k != "size"},
    "rescale_only": published(size=SMALL, do_normalize=False, rescale_factor=0.00390625),
    "normalize_only": published(size=SMALL, do_rescale=False, image_mean=[120.5, 110.25, 100.0],
                                image_std=[60.0, 55.5, 50.25]),
    "raw": published(size=SMALL, do_rescale=False, do_normalize=False),
    "lanczos": published(size=SMALL, resample=1),
}
IMAGES = {"portrait": (1080, 2400), "landscape": (2400, 1080), "tiny": (20, 13),
          "odd": (333, 517), "thin": (1001, 77)}  # width, height
CHAT_PROCESSOR = published(size={"shortest_edge": 3136, "longest_edge": 40000},
                           image_mean=[0.5, 0.45, 0.4], image_std=[0.3, 0.25, 0.2])
CHAT_TEXTS = ["Tap the blue button.", "Open the settings app and turn on wifi.",
              "What is on the screen?", "Scroll down to the bottom."]
NUM_GENERATED = 16


def formula_image(w, h):
    y, x = np.mgrid[0:h, 0:w].astype(np.int64)
    chans = [(7 * x + 13 * y + 85 * c + ((x * y) >> 4) + ((x ^ y) & 63)) & 255 for c in range(3)]
    return Image.fromarray(np.stack(chans, -1).astype(np.uint8), "RGB")


def token_hashes(pv):
    """FNV-1a 64 over the float32 bytes of each group of 4 consecutive rows (one LLM token)."""
    data = pv.to(torch.float32).contiguous().numpy().astype("<f4")
    rows = data.shape[0]
    assert rows % 4 == 0, rows
    b = data.reshape(rows // 4, -1).view(np.uint8)
    h = np.full(b.shape[0], 0xCBF29CE484222325, dtype=np.uint64)
    prime = np.uint64(0x100000001B3)
    with np.errstate(over="ignore"):
        for j in range(b.shape[1]):
            h ^= b[:, j].astype(np.uint64)
            h *= prime
    return torch.from_numpy(h.view(np.int64).copy())


def processor_summary(proc):
    keys = ["size", "image_mean", "image_std", "do_rescale", "rescale_factor", "do_normalize",
            "do_convert_rgb", "resample", "patch_size", "temporal_patch_size", "merge_size",
            "do_resize", "min_pixels", "max_pixels"]
    out = dict(cls=type(proc).__name__, backend=getattr(proc, "backend", None))
    for k in keys:
        v = getattr(proc, k, None)
        if hasattr(v, "items"):
            v = {a: b for a, b in dict(v).items() if b is not None}
        elif isinstance(v, (list, tuple)):
            v = [float(x) for x in v]
        elif v is not None and not isinstance(v, (bool, int, float, str)):
            v = str(v)
        out[k] = v
    return out


def load_processor(folder):
    from transformers import AutoImageProcessor
    return AutoImageProcessor.from_pretrained(folder)


def record_configs(root, tensors, log):
    results = {}
    cfg_dir = os.path.join(root, "configs")
    os.makedirs(cfg_dir, exist_ok=True)
    for name, cfg in CONFIGS.items():
        with open(os.path.join(cfg_dir, name + ".json"), "w") as f:
            json.dump(cfg, f, indent=2)
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(os.path.join(cfg_dir, name + ".json"),
                        os.path.join(tmp, "preprocessor_config.json"))
            proc = load_processor(tmp)
        entry = dict(loaded=processor_summary(proc), images={})
        log.append(f"{name}: {entry['loaded']}")
        for img_name, (w, h) in IMAGES.items():
            out = proc(images=formula_image(w, h), return_tensors="pt")
            pv, thw = out["pixel_values"], out["image_grid_thw"]
            grid = [int(v) for v in thw[0]]
            tensors[f"{name}.{img_name}.token_hash"] = token_hashes(pv)
            tensors[f"{name}.{img_name}.row0"] = pv[0].to(torch.float32).contiguous()
            entry["images"][img_name] = dict(
                width=w, height=h, grid_thw=grid, num_tokens=grid[0] * grid[1] * grid[2] // 4,
                resized=[grid[1] * 14, grid[2] * 14], dtype=str(pv.dtype),
                shape=list(pv.shape))
            log.append(f"  {img_name:9s} {w}x{h} -> grid {grid} tokens "
                       f"{entry['images'][img_name]['num_tokens']} dtype {pv.dtype} "
                       f"range [{float(pv.min()):.4f}, {float(pv.max()):.4f}]")
        results[name] = entry
    return results


def record_call_kwargs(root, log):
    """What call-time kwargs do (the route vLLM's mm_processor_kwargs takes)."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(os.path.join(root, "configs", "default.json"),
                    os.path.join(tmp, "preprocessor_config.json"))
        proc = load_processor(tmp)
    img = formula_image(1080, 2400)
    trials = {"max_pixels": dict(max_pixels=5000000),
              "size": dict(size={"shortest_edge": 12544, "longest_edge": 5000000}),
              "size_longest_only": dict(size={"longest_edge": 5000000})}
    for key, kwargs in trials.items():
        try:
            thw = proc(images=img, return_tensors="pt", **kwargs)["image_grid_thw"]
            grid = [int(v) for v in thw[0]]
            out[key] = dict(grid_thw=grid, num_tokens=grid[0] * grid[1] * grid[2] // 4)
        except Exception as e:  # noqa: BLE001 - recorded, not fatal
            out[key] = dict(error=f"{type(e).__name__}: {e}")
        log.append(f"call kwargs {key}: {out[key]}")
    return out


def make_chat_model_dir(data, tmp):
    src = os.path.join(data, "tiny_bf16_sharded", "model")
    for f in glob.glob(os.path.join(src, "*.safetensors")) + [
            os.path.join(src, "model.safetensors.index.json")]:
        shutil.copy(f, tmp)
    chat = os.path.join(data, "processor", "tiny_chat")
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    # The trained vocabulary's special ids (tests/data/tokenizer/trained/tokenizer.json).
    cfg.update(image_start_token_id=10, image_end_token_id=11, video_start_token_id=12,
               video_end_token_id=13, image_token_id=14, video_token_id=15)
    cfg["text_config"]["max_position_embeddings"] = 32768
    cfg["text_config"]["eos_token_id"] = [0, 7, 9]
    with open(os.path.join(chat, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(chat, "generation_config.json"), "w") as f:
        json.dump({"eos_token_id": [0, 7, 9], "pad_token_id": 0, "do_sample": False}, f, indent=2)
    with open(os.path.join(chat, "preprocessor_config.json"), "w") as f:
        json.dump(CHAT_PROCESSOR, f, indent=2)
    for name in ("config.json", "generation_config.json", "preprocessor_config.json",
                 "chat_template.jinja"):
        shutil.copy(os.path.join(chat, name), tmp)
    shutil.copy(os.path.join(data, "tokenizer", "trained", "tokenizer.json"), tmp)
    with open(os.path.join(tmp, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|endoftext|>",
                   "pad_token": "<|endoftext|>"}, f)


def make_processor(tmp, template):
    from transformers import AutoImageProcessor, Glm4vProcessor, PreTrainedTokenizerFast
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(tmp, "tokenizer.json"))
    ip = AutoImageProcessor.from_pretrained(tmp)
    try:
        from transformers import Glm4vVideoProcessor
        return Glm4vProcessor(image_processor=ip, tokenizer=tok, video_processor=Glm4vVideoProcessor(),
                              chat_template=template)
    except Exception as e:  # noqa: BLE001
        print("Glm4vProcessor with a video processor failed:", e)
        return Glm4vProcessor(image_processor=ip, tokenizer=tok, chat_template=template)


def record_chat(data, log):
    from transformers import Glm4vForConditionalGeneration
    chat = os.path.join(data, "processor", "tiny_chat")
    with open(os.path.join(chat, "chat_template.jinja")) as f:
        template = f.read()
    image = formula_image(150, 230)
    with tempfile.TemporaryDirectory() as tmp:
        make_chat_model_dir(data, tmp)
        proc = make_processor(tmp, template)
        model = Glm4vForConditionalGeneration.from_pretrained(tmp, dtype=torch.float32).eval()
        best = None
        for text in CHAT_TEXTS:
            # As vLLM's --chat-template-content-format string (the official AutoGLM command)
            # flattens [image, text]: the placeholder, "\n", then the text.
            messages = [{"role": "user",
                         "content": "<|begin_of_image|><|image|><|end_of_image|>\n" + text}]
            rendered = proc.apply_chat_template(messages, add_generation_prompt=True,
                                                tokenize=False)
            inputs = proc(text=[rendered], images=[image], return_tensors="pt")
            ids = inputs["input_ids"]
            kwargs = dict(input_ids=ids, attention_mask=inputs["attention_mask"],
                          pixel_values=inputs["pixel_values"],
                          image_grid_thw=inputs["image_grid_thw"],
                          mm_token_type_ids=(ids == 14).to(torch.int64))
            with torch.no_grad():
                g = model.generate(**kwargs, max_new_tokens=NUM_GENERATED,
                                   min_new_tokens=NUM_GENERATED, do_sample=False,
                                   output_logits=True, return_dict_in_generate=True,
                                   pad_token_id=0, eos_token_id=None)
            gaps = [float(torch.topk(l[0], 2).values[0] - torch.topk(l[0], 2).values[1])
                    for l in g.logits]
            cand = dict(text=text, rendered=rendered, input_ids=ids[0].tolist(),
                        num_image_tokens=int((ids == 14).sum()),
                        image=dict(width=150, height=230),
                        grid_thw=[int(v) for v in inputs["image_grid_thw"][0]],
                        generated_ids=g.sequences[0, ids.shape[1]:].tolist(),
                        min_top2_gap=min(gaps))
            log.append(f"chat '{text}': {len(cand['input_ids'])} ids, image tokens "
                       f"{cand['num_image_tokens']}, grid {cand['grid_thw']}, generated "
                       f"{cand['generated_ids']}, min gap {cand['min_top2_gap']:.2e}")
            if best is None or cand["min_top2_gap"] > best["min_top2_gap"]:
                best = cand
            if cand["min_top2_gap"] > 1e-3:
                break
    best["processor"] = processor_summary(proc.image_processor)
    best["reference"] = (f"transformers {transformers.__version__}, torch {torch.__version__}, "
                         "Glm4vProcessor + generate greedy, CPU float32, eos ignored")
    with open(os.path.join(chat, "chat_golden.json"), "w") as f:
        json.dump(best, f, indent=1)


def dump_sources(log):
    """The lines of the installed transformers that decide how pixel caps are read."""
    import transformers.models.glm4v as glm4v_pkg
    paths = glob.glob(os.path.join(os.path.dirname(glm4v_pkg.__file__), "image_processing*.py"))
    base = os.path.dirname(transformers.__file__)
    paths += [os.path.join(base, n) for n in ("image_processing_utils.py",
                                              "image_processing_backends.py",
                                              "image_processing_base.py")]
    for p in paths:
        if not os.path.exists(p):
            continue
        for i, line in enumerate(open(p), 1):
            if any(k in line for k in ("min_pixels", "max_pixels", "longest_edge", "def __init__",
                                       "_standardize", "_set_attributes", "def _further")):
                log.append(f"SRC {os.path.basename(p)}:{i}: {line.rstrip()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="tests/data")
    ap.add_argument("--skip-chat", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(4)
    root = os.path.join(args.data, "processor")
    os.makedirs(root, exist_ok=True)
    log = [f"transformers {transformers.__version__}, torch {torch.__version__}, torchvision "
           f"{torchvision.__version__}, Pillow {PIL.__version__}"]
    dump_sources(log)
    tensors = {}
    configs = record_configs(root, tensors, log)
    calls = record_call_kwargs(root, log)
    save_file(tensors, os.path.join(root, "goldens.safetensors"))
    meta = dict(transformers=transformers.__version__, torch=torch.__version__,
                torchvision=torchvision.__version__, images={k: list(v) for k, v in IMAGES.items()},
                hash="FNV-1a 64 over the little-endian float32 bytes of each 4-row group",
                configs=configs, call_kwargs=calls)
    with open(os.path.join(root, "goldens.json"), "w") as f:
        json.dump(meta, f, indent=1)
    if not args.skip_chat:
        record_chat(args.data, log)
    print("\n".join(log))
    for p in sorted(glob.glob(os.path.join(root, "**"), recursive=True)):
        if os.path.isfile(p):
            print(f"  {os.path.relpath(p, root):40s} {os.path.getsize(p):9d} bytes")


if __name__ == "__main__":
    sys.exit(main())
