#!/usr/bin/env python3
"""Vision + multimodal goldens for the tiny fixtures of make_text_goldens.py: the vision tower's
intermediate tensors for three images of different aspect ratios (one phone-shaped), given
random pixel values, and a multimodal prompt's M-RoPE position ids, per-layer hidden states,
logits and 32 greedy ids. CPU, float32. Run after make_text_goldens.py:

    python3 tools/golden/make_vision_goldens.py --data tests/data

Writes tests/data/<fixture>/vision_golden.safetensors and vision_golden.json.
"""
import argparse
import json
import os

import torch
import transformers
from safetensors.torch import save_file
from transformers import Glm4vForConditionalGeneration

GRIDS = [(1, 4, 6), (1, 10, 4), (1, 6, 6)]  # (t, h, w) in patches; the second is phone-shaped
NUM_GENERATED = 32
MIN_TOP2_GAP = 1e-4


def vision_taps(model, pixel_values, grid_thw):
    visual = model.model.visual
    got = {}
    hooks = [visual.post_conv_layernorm.register_forward_hook(
        lambda m, i, o: got.__setitem__("vision.post_conv_norm", o)),
        visual.blocks[0].register_forward_pre_hook(
            lambda m, args, kwargs: got.__setitem__("vision.embeddings", args[0] if args else
                                                    kwargs["hidden_states"]), with_kwargs=True)]
    for j, blk in enumerate(visual.blocks):
        hooks.append(blk.register_forward_hook(
            lambda m, i, o, j=j: got.__setitem__(f"vision.block.{j}",
                                                 o[0] if isinstance(o, tuple) else o)))
    hooks.append(visual.post_layernorm.register_forward_hook(
        lambda m, i, o: got.__setitem__("vision.post_norm", o)))
    hooks.append(visual.merger.register_forward_hook(
        lambda m, i, o: got.__setitem__("vision.merger", o)))
    with torch.no_grad():
        model.model.get_image_features(pixel_values=pixel_values, image_grid_thw=grid_thw)
    for h in hooks:
        h.remove()
    return {k: v.float().contiguous() for k, v in got.items()}


def multimodal_prompt(cfg, grids, gen):
    vocab = cfg.text_config.vocab_size
    text = lambda n: torch.randint(1, vocab - 8, (n,), generator=gen).tolist()
    ids = text(5)
    for i, (t, h, w) in enumerate(grids):
        ids += [cfg.image_start_token_id] + [cfg.image_token_id] * (t * h * w // 4) + \
               [cfg.image_end_token_id] + text(4 - i)
    return torch.tensor([ids])


def llm_taps(model, kwargs):
    lm = model.model.language_model
    got = {}
    hooks = [lm.register_forward_pre_hook(
        lambda m, args, kw: got.__setitem__("position_ids", kw.get("position_ids")),
        with_kwargs=True),
        lm.register_forward_hook(lambda m, i, o: None)]
    hooks.append(lm.layers[0].register_forward_pre_hook(
        lambda m, args, kw: got.__setitem__("embeddings", args[0] if args else
                                            kw["hidden_states"]), with_kwargs=True))
    for idx, layer in enumerate(lm.layers):
        hooks.append(layer.register_forward_hook(
            lambda m, i, o, idx=idx: got.__setitem__(f"layer.{idx}",
                                                     o[0] if isinstance(o, tuple) else o)))
    hooks.append(lm.norm.register_forward_hook(lambda m, i, o: got.__setitem__("final_norm", o)))
    with torch.no_grad():
        out = model(**kwargs, use_cache=False)
    for h in hooks:
        h.remove()
    got["logits"] = out.logits
    pos = got.pop("position_ids")
    res = {k: v[0].float().contiguous() for k, v in got.items()}
    res["position_ids"] = pos[:, 0].to(torch.int32).contiguous()
    return res


def build(folder):
    meta_in = json.load(open(os.path.join(folder, "golden.json")))
    model = Glm4vForConditionalGeneration.from_pretrained(os.path.join(folder, "model"),
                                                          dtype=torch.float32).eval()
    cfg = model.config
    gen = torch.Generator().manual_seed(meta_in["seed"] + 7)
    grid_thw = torch.tensor(GRIDS)
    patch_dim = 3 * cfg.vision_config.temporal_patch_size * cfg.vision_config.patch_size ** 2
    n = int(sum(t * h * w for t, h, w in GRIDS))
    pixel_values = torch.randn(n, patch_dim, generator=gen)
    out = {"pixel_values": pixel_values, "image_grid_thw": grid_thw.to(torch.int32)}
    out.update(vision_taps(model, pixel_values, grid_thw))

    # Multimodal prompt with the first two images.
    mm_grids = GRIDS[:2]
    mm_pixels = pixel_values[: sum(t * h * w for t, h, w in mm_grids)]
    input_ids = multimodal_prompt(cfg, mm_grids, gen)
    mm_type = (input_ids == cfg.image_token_id).to(torch.int64)
    kwargs = dict(input_ids=input_ids, pixel_values=mm_pixels,
                  image_grid_thw=torch.tensor(mm_grids), mm_token_type_ids=mm_type)
    taps = llm_taps(model, kwargs)
    with torch.no_grad():
        g = model.generate(**kwargs, max_new_tokens=NUM_GENERATED, min_new_tokens=NUM_GENERATED,
                           do_sample=False, output_logits=True, return_dict_in_generate=True,
                           pad_token_id=0, eos_token_id=None)
    gaps = [float(torch.topk(l[0], 2).values[0] - torch.topk(l[0], 2).values[1]) for l in g.logits]
    generated = g.sequences[0, input_ids.shape[1]:]
    for k, v in taps.items():
        out["mm." + k] = v
    out["mm.input_ids"] = input_ids[0].to(torch.int32)
    out["mm.generated_ids"] = generated.to(torch.int32)
    save_file(out, os.path.join(folder, "vision_golden.safetensors"))
    meta = dict(reference="transformers %s, torch %s, CPU float32" % (
        transformers.__version__, torch.__version__), grids=GRIDS, mm_grids=mm_grids,
        min_top2_gap=min(gaps), tensors={k: list(v.shape) for k, v in out.items()},
        generated_ids=generated.tolist(),
        position_ids_rows=int(taps["position_ids"].shape[0]))
    json.dump(meta, open(os.path.join(folder, "vision_golden.json"), "w"), indent=1)
    print(os.path.basename(folder), "gap", min(gaps), "pos", list(taps["position_ids"].shape),
          "ids", generated.tolist()[:8])
    assert min(gaps) >= MIN_TOP2_GAP, "near-tie on the multimodal greedy path: pick another seed"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for name in ("tiny_f32", "tiny_bf16_sharded"):
        build(os.path.join(args.data, name))


if __name__ == "__main__":
    main()
