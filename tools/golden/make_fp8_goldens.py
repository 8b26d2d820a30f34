#!/usr/bin/env python3
"""Record what FP8 weights (`--quantization fp8`) should compute on the tiny text fixtures: a torch
emulation of the server's quantization, run on the CPU in float32, saved beside each fixture as
`fp8_golden.safetensors` / `fp8_golden.json`.

The emulated rules (the CUDA backend's, see src/kernels/cuda/gemm.h):
- every linear layer of the text decoder (q/k/v, o, gate/up, down) and the LM head
  (`--fp8-lm-head`, on with `--quantization fp8`) has its bf16 weight rows quantized at load: scale = amax(row) / 448 (1 for a zero row), q = e4m3(w * (448 / amax)),
  rounded to nearest even, saturated; the layer then uses q * scale;
- a forward over more than one row (prefill, batched decode) also quantizes its input per row
  the same way (the FP8 tensor-core GEMM); a forward of one row (one sequence's decode) keeps its
  input as is (the weight-only FP8 GEMV).
  The LM head takes the same rules: the prompt's logits of every row quantize their inputs, a
  generated token's logits (one row) do not.
The embeddings, the norms and the vision tower stay as they are.

Usage (torch + transformers 5.x, e.g. on the GPU machine; the fixtures must exist already):

    python3 tools/golden/make_fp8_goldens.py --data tests/data
"""
import argparse
import json
import os

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import Glm4vForConditionalGeneration

FIXTURES = ["tiny_f32", "tiny_bf16_sharded"]
NUM_GENERATED = 16
GEMV_MAX_ROWS = 1
LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_up_proj", "down_proj")


def quantize_rows(x):
    """x [rows, cols] float32 -> the float32 values its e4m3 rows and scales stand for."""
    amax = x.abs().amax(dim=-1, keepdim=True)
    nonzero = amax > 0
    inv = torch.where(nonzero, torch.tensor(448.0) / amax, torch.ones_like(amax))
    scale = torch.where(nonzero, amax / torch.tensor(448.0), torch.ones_like(amax))
    q = (x * inv).clamp(-448.0, 448.0).to(torch.float8_e4m3fn)
    return q.to(torch.float32) * scale


def emulate_fp8(model):
    """Swaps the text decoder's linear weights for their FP8 values and hooks the activation
    quantization of prefill-sized forwards. Returns the number of layers changed."""
    count = 0
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        head = name == "lm_head"
        if not head and (".language_model.layers." not in name or
                         name.rsplit(".", 1)[-1] not in LINEARS):
            continue
        if head:  # its own copy, should it be tied to the embeddings (they stay as they are)
            assert not model.config.get_text_config().tie_word_embeddings, \
                "a tied LM head stays bf16 on the GPU"
            module.weight = torch.nn.Parameter(module.weight.detach().clone())
        with torch.no_grad():
            w = module.weight.to(torch.bfloat16).to(torch.float32)  # the GPU uploads bf16
            module.weight.copy_(quantize_rows(w))

        def pre_hook(mod, args):
            x = args[0]
            rows = x.reshape(-1, x.shape[-1])
            if rows.shape[0] <= GEMV_MAX_ROWS:
                return None
            return (quantize_rows(rows.to(torch.bfloat16).to(torch.float32)).reshape(x.shape),)

        module.register_forward_pre_hook(pre_hook)
        count += 1
    return count


def build(data, name):
    folder = os.path.join(data, name)
    model = Glm4vForConditionalGeneration.from_pretrained(
        os.path.join(folder, "model"), dtype=torch.float32).eval()
    changed = emulate_fp8(model)
    ids = load_file(os.path.join(folder, "golden.safetensors"))["input_ids"].to(torch.int64)[None]
    assert ids.shape[1] > GEMV_MAX_ROWS, "the prompt must take the prefill (FP8 GEMM) path"
    with torch.no_grad():
        prefill_logits = model(input_ids=ids, use_cache=False).logits[0].float()
        out = model.generate(input_ids=ids, max_new_tokens=NUM_GENERATED,
                             min_new_tokens=NUM_GENERATED, do_sample=False, output_logits=True,
                             return_dict_in_generate=True, pad_token_id=0, eos_token_id=None,
                             use_cache=True)
    gen_ids = out.sequences[0, ids.shape[1]:]
    step_logits = torch.stack([s[0].float() for s in out.logits])
    gaps = [float(g[0] - g[1]) for g in torch.topk(step_logits, 2, dim=-1).values]
    # generate's first logits come from the last row alone (the LM head's input not quantized, as
    # the GPU's one-row GEMV), the no-cache forward's from all rows (quantized): they must differ
    # by the input's FP8 rounding, and by no more.
    drift = float((step_logits[0] - prefill_logits[-1]).abs().max() / prefill_logits[-1].abs().max())
    assert 0 < drift < 0.1, "generate's prefill against the no-cache forward: %g" % drift
    save_file({"prefill_logits": prefill_logits.contiguous(),
               "step_logits": step_logits.contiguous(),
               "generated_ids": gen_ids.to(torch.int32)},
              os.path.join(folder, "fp8_golden.safetensors"))
    meta = dict(name=name, linear_layers_quantized=changed, gemv_max_rows=GEMV_MAX_ROWS,
                reference="transformers %s, torch %s, CPU float32 with FP8 e4m3 emulation "
                          "(weights per output row, the LM head's too; prefill inputs per row)" %
                          (transformers.__version__, torch.__version__),
                num_generated=NUM_GENERATED, top2_gaps=gaps, generated_ids=gen_ids.tolist())
    with open(os.path.join(folder, "fp8_golden.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"{name}: {changed} linear layers, min top-2 gap {min(gaps):.4f}, ids {gen_ids.tolist()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="fixture root, e.g. tests/data")
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for name in FIXTURES:
        build(args.data, name)


if __name__ == "__main__":
    main()
