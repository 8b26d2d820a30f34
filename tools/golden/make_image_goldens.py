#!/usr/bin/env python3
"""Build small deterministic test pictures and record what transformers' Glm4vImageProcessor
(transformers 5.x, default torchvision backend) makes of them, for tests/model/image_processor_test.cpp.

Runs where torch, torchvision, PIL, safetensors and transformers 5.x are installed (the GPU
machine; everything here runs on the CPU). Usage, from the repository root:

    python3 tools/golden/make_image_goldens.py --out tests/data/images

Writes into --out:
  phone.png      390x870 RGB screenshot-like picture (flat bars, text-like stripes, gradients, noise)
  phone.jpg      the same picture as a JPEG (quality 90, 4:2:0)
  landscape.png  300x170 RGBA (varying alpha, transparent areas with non-zero colour)
  tall.png       130x290 8-bit grey ("L")
  small.png      61x47 palette ("P") with tRNS transparency (upscaled by the pixel minimum)
  goldens.safetensors  per entry: "<name>.pixel_values" F32 [N, 588] = the frame-0 half of the
                       processor's [N, 1176] rows (the frame-1 half is checked identical here),
                       "<name>.image_grid_thw" I64 [1, 3]
  goldens.json   versions, the processor's defaults, per entry the file, the effective
                 min/max pixels, grid_thw and token count; and grid/token counts for the phone
                 sizes 1080x2400, 720x1600, 1000x700, 30x500 under three caps.
"""
import argparse
import json
import os
import sys

import numpy as np
import PIL
import torch
import torchvision
import transformers
from PIL import Image
from safetensors.torch import save_file
from transformers import Glm4vImageProcessor

SEED = 20250611
MAX_DIR_BYTES = 3 * 1024 * 1024
CHECKPOINT_SIZE = {"shortest_edge": 12544, "longest_edge": 9633792}  # GLM-4.1V preprocessor_config
CAP_5M = {"shortest_edge": 12544, "longest_edge": 5000000}  # Open-AutoGLM's max_pixels
PHONE_CAP = {"shortest_edge": 12544, "longest_edge": 62720}  # 870x390 -> 252x112: ~3.4x down


def text_stripes(img, rng, x0, y0, x1, y1, color, line_h=9, gap=6):
    """Rows of glyph-like dark boxes, like lines of text."""
    y = y0
    while y + line_h <= y1:
        x = x0 + int(rng.integers(0, 6))
        end = x1 - int(rng.integers(0, (x1 - x0) // 3 + 1))
        while x < end:
            w = int(rng.integers(2, 7))
            h = int(rng.integers(line_h // 2, line_h + 1))
            img[y + line_h - h:y + line_h, x:min(x + w, end)] = color
            x += w + int(rng.integers(1, 3)) + (4 if rng.random() < 0.15 else 0)
        y += line_h + gap


def make_phone(rng, w=390, h=870):
    img = np.full((h, w, 3), 246, np.uint8)
    img[:24] = (20, 20, 24)  # status bar
    img[24:80] = (33, 111, 219)  # app bar
    text_stripes(img, rng, 12, 40, 200, 70, (255, 255, 255), line_h=12)
    yy, xx = np.mgrid[0:160, 0:w - 24]
    card = np.stack([90 + 120 * xx / (w - 24), 60 + 150 * yy / 160, 200 - 80 * xx / (w - 24)], -1)
    card += rng.normal(0, 6, card.shape)  # a photo-like area
    img[96:256, 12:w - 12] = np.clip(card, 0, 255).astype(np.uint8)
    for i in range(7):  # list items: icon + two text lines + divider
        top = 272 + i * 80
        cy, cx = top + 30, 40
        m = (np.mgrid[0:h, 0:w][0] - cy) ** 2 + (np.mgrid[0:h, 0:w][1] - cx) ** 2 < 20 ** 2
        img[m] = rng.integers(40, 220, 3).astype(np.uint8)
        text_stripes(img, rng, 72, top + 10, w - 16, top + 34, (30, 30, 30))
        text_stripes(img, rng, 72, top + 38, w - 60, top + 56, (120, 120, 120), line_h=8)
        img[top + 72:top + 73, 12:w - 12] = 220
    img[h - 48:] = (250, 250, 250)  # navigation bar
    img[h - 30:h - 26, w // 2 - 50:w // 2 + 50] = 60
    return Image.fromarray(img, "RGB")


def make_landscape(rng, w=300, h=170):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    rgb = np.stack([255 * xx / w, 255 * yy / h, 128 + 100 * np.sin(xx / 13) * np.cos(yy / 17)], -1)
    rgb += rng.normal(0, 10, rgb.shape)
    alpha = np.clip(255 * (xx / w) * 1.4, 0, 255)
    alpha[40:80, 60:140] = 0  # fully transparent, colour still there
    alpha[100:150, 200:280] = 255
    img = np.concatenate([np.clip(rgb, 0, 255), alpha[..., None]], -1).astype(np.uint8)
    text_stripes(img, rng, 10, 10, 290, 40, (0, 0, 0, 255))
    return Image.fromarray(img, "RGBA")


def make_tall(rng, w=130, h=290):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    g = 40 + 180 * yy / h + 20 * np.sin(xx / 5) + rng.normal(0, 4, (h, w))
    img = np.clip(g, 0, 255).astype(np.uint8)[..., None].repeat(3, -1)
    text_stripes(img, rng, 8, 20, w - 8, 140, (255, 255, 255))
    img[150:152] = 0
    return Image.fromarray(img[..., 0], "L")


def make_small(rng, w=61, h=47):
    yy, xx = np.mgrid[0:h, 0:w]
    idx = ((xx // 5 + yy // 4) % 16).astype(np.uint8)
    idx[rng.random((h, w)) < 0.05] = 15
    img = Image.fromarray(idx, "P")
    palette = rng.integers(0, 256, 16 * 3).astype(np.uint8).tolist()
    img.putpalette(palette)
    img.info["transparency"] = bytes([255] * 15 + [0])
    return img


def save_images(out):
    rng = np.random.default_rng(SEED)
    phone = make_phone(rng)
    phone.save(os.path.join(out, "phone.png"), optimize=True)
    phone.save(os.path.join(out, "phone.jpg"), quality=90, subsampling=2)
    make_landscape(rng).save(os.path.join(out, "landscape.png"), optimize=True)
    make_tall(rng).save(os.path.join(out, "tall.png"), optimize=True)
    small = make_small(rng)
    small.save(os.path.join(out, "small.png"), transparency=small.info["transparency"])


ENTRIES = [  # name, file, size override (None: the processor's class default)
    ("phone_png_cap", "phone.png", PHONE_CAP),
    ("phone_jpg_cap", "phone.jpg", PHONE_CAP),
    ("landscape_rgba", "landscape.png", None),
    ("tall_grey", "tall.png", None),
    ("small_palette", "small.png", None),
]
SIZES = [(1080, 2400), (720, 1600), (1000, 700), (30, 500)]  # width, height


def run_processor(proc, image, size):
    kwargs = {"size": size} if size is not None else {}
    out = proc(images=image, return_tensors="pt", **kwargs)
    return out["pixel_values"], out["image_grid_thw"]


def record_entries(proc, out, tensors, summary):
    entries = []
    for name, file, size in ENTRIES:
        image = Image.open(os.path.join(out, file))
        mode = image.mode
        pv, thw = run_processor(proc, image, size)
        assert pv.dtype == torch.float32 and pv.shape[1] == 1176, pv.shape
        halves = pv.reshape(pv.shape[0], 3, 2, 196)
        assert torch.equal(halves[:, :, 0], halves[:, :, 1]), "temporal frames differ"
        tensors[f"{name}.pixel_values"] = halves[:, :, 0].reshape(pv.shape[0], 588).contiguous()
        tensors[f"{name}.image_grid_thw"] = thw.to(torch.int64).contiguous()
        eff = size if size is not None else dict(proc.size)
        grid = [int(v) for v in thw[0]]
        entries.append(dict(name=name, file=file, pil_mode=mode, width=image.width,
                            height=image.height, min_pixels=int(eff["shortest_edge"]),
                            max_pixels=int(eff["longest_edge"]), grid_thw=grid,
                            num_tokens=grid[0] * grid[1] * grid[2] // 4,
                            tensor=f"{name}.pixel_values", columns="frame 0 of [N, 1176]"))
        summary.append(f"  {name:16s} {file:14s} {mode:5s} {image.width}x{image.height} -> "
                       f"{grid[2] * 14}x{grid[1] * 14} grid {grid} tokens {entries[-1]['num_tokens']}"
                       f" pv {tuple(pv.shape)} range [{pv.min():.3f}, {pv.max():.3f}]")
    return entries


def record_sizes(proc, summary):
    sizes = []
    for w, h in SIZES:
        image = Image.new("RGB", (w, h), (128, 64, 32))
        for cap, size in (("class_default", None), ("checkpoint", CHECKPOINT_SIZE),
                          ("cap_5m", CAP_5M)):
            _, thw = run_processor(proc, image, size)
            eff = size if size is not None else dict(proc.size)
            grid = [int(v) for v in thw[0]]
            sizes.append(dict(width=w, height=h, cap=cap, min_pixels=int(eff["shortest_edge"]),
                              max_pixels=int(eff["longest_edge"]), grid_thw=grid,
                              num_tokens=grid[0] * grid[1] * grid[2] // 4))
            summary.append(f"  {w}x{h} {cap:13s} -> {grid[2] * 14}x{grid[1] * 14} grid {grid} "
                           f"tokens {sizes[-1]['num_tokens']}")
    return sizes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/data/images")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    save_images(args.out)
    proc = Glm4vImageProcessor()
    summary = [f"processor {type(proc).__name__} backend={getattr(proc, 'backend', '?')} "
               f"size={dict(proc.size)} resample={proc.resample}"]
    tensors = {}
    entries = record_entries(proc, args.out, tensors, summary)
    sizes = record_sizes(proc, summary)
    save_file(tensors, os.path.join(args.out, "goldens.safetensors"))
    meta = dict(seed=SEED, transformers=transformers.__version__, torch=torch.__version__,
                torchvision=torchvision.__version__, pillow=PIL.__version__,
                processor=dict(cls=type(proc).__name__, backend=getattr(proc, "backend", None),
                               size=dict(proc.size), image_mean=list(proc.image_mean),
                               image_std=list(proc.image_std)),
                images=entries, sizes=sizes)
    with open(os.path.join(args.out, "goldens.json"), "w") as f:
        json.dump(meta, f, indent=1)
    total = sum(os.path.getsize(os.path.join(args.out, n)) for n in os.listdir(args.out))
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, "
          f"torchvision {torchvision.__version__}, Pillow {PIL.__version__}")
    print("\n".join(summary))
    for n in sorted(os.listdir(args.out)):
        print(f"  {n:22s} {os.path.getsize(os.path.join(args.out, n)):9d} bytes")
    print(f"total {total} bytes in {args.out}")
    if total > MAX_DIR_BYTES:
        sys.exit(f"error: {args.out} holds {total} bytes, over the {MAX_DIR_BYTES} budget")


if __name__ == "__main__":
    main()
