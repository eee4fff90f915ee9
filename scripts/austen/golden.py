"""The golden fixture: greedy reference continuations with logit margins of the exported checkpoint,
reloaded in float32, for the engine's tests (GOLDEN_PROMPTS, greedy_reference, golden; written to
--golden, by default tests/fixtures/default_model_golden.json)."""

import json
import os
import sys

import torch

from .tokenizer import EOT


GOLDEN_PROMPTS = [
    {"name": "fine_morning", "text": "It was a fine morning, and"},
    {"name": "truth_universally", "text": "It is a truth universally acknowledged"},
    {"name": "she_was", "text": "She was"},
    {"name": "chat_dance", "messages": [{"role": "user", "content": "Will you dance with me this evening, Miss Bennet?"}]},
]


def greedy_reference(model, prompt_ids, eos_id, max_new):
    """Greedy decoding by full re-forward each step (prefill path only), float32."""
    ids = list(prompt_ids)
    steps = []
    with torch.no_grad():
        for _ in range(max_new):
            logits = model(input_ids=torch.tensor([ids])).logits[0, -1].float()
            top = torch.topk(logits, 2)
            nxt = int(top.indices[0])
            steps.append({"id": nxt, "top1_logit": round(float(top.values[0]), 5), "top2_id": int(top.indices[1]),
                          "margin": round(float(top.values[0] - top.values[1]), 5)})
            ids.append(nxt)
            if nxt == eos_id:
                break
    return steps


def golden(args):
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(args.threads)
    tok = AutoTokenizer.from_pretrained(args.out)
    model = AutoModelForCausalLM.from_pretrained(args.out, dtype=torch.float32)
    model.eval()
    # the reloaded checkpoint must be exactly the bf16-rounded training weights
    ck = torch.load(os.path.join(args.work_dir, "ckpt.pt"), weights_only=False)
    sd = model.state_dict()
    for k, v in ck["model"].items():
        assert torch.equal(sd[k], v.to(torch.bfloat16).float()), k
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr(), "embeddings not tied"

    eos = tok.convert_tokens_to_ids(EOT)
    cases = []
    for p in GOLDEN_PROMPTS:
        if "messages" in p:
            text = tok.apply_chat_template(p["messages"], add_generation_prompt=True, tokenize=False)
        else:
            text = p["text"]
        prompt_ids = tok(text, add_special_tokens=False)["input_ids"]
        steps = greedy_reference(model, prompt_ids, eos, args.golden_new_tokens)
        gen_ids = [s["id"] for s in steps]
        hf = model.generate(torch.tensor([prompt_ids]), max_new_tokens=args.golden_new_tokens, do_sample=False,
                            eos_token_id=eos, pad_token_id=tok.pad_token_id)[0, len(prompt_ids):].tolist()
        margins = [s["margin"] for s in steps]
        case = {"name": p["name"], "kind": "chat" if "messages" in p else "raw"}
        if "messages" in p:
            case["messages"] = p["messages"]
            case["add_generation_prompt"] = True
        case.update({
            "prompt_text": text,
            "prompt_ids": prompt_ids,
            "greedy_ids": gen_ids,
            "greedy_text": tok.decode(gen_ids, skip_special_tokens=False),
            "stopped_on_eos": bool(gen_ids and gen_ids[-1] == eos),
            "steps": steps,
            "min_margin": min(margins),
            "small_margin_steps": [i for i, m in enumerate(margins) if m < args.small_margin],
            "hf_generate_with_cache_matches": hf == gen_ids,
        })
        cases.append(case)
        print(f"[{p['name']}] {text!r} -> {case['greedy_text']!r} (min margin {min(margins):.4f})", flush=True)
    out = {
        "description": ("Greedy reference outputs of assets/granite-austen (bf16 safetensors loaded into float32) "
                        "computed with transformers GraniteMoeHybridForCausalLM, re-running the full prefill "
                        "for every step (no cache). 'margin' = top1 - top2 logit (after logits_scaling); "
                        "steps whose margin is below small_margin_threshold may legitimately flip under "
                        "bf16/f16 arithmetic."),
        "model_dir": "assets/granite-austen",
        "dtype": "float32 (weights stored as bfloat16)",
        "max_new_tokens": args.golden_new_tokens,
        "eos_token_id": eos,
        "small_margin_threshold": args.small_margin,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "tokenizers": __import__("tokenizers").__version__, "python": sys.version.split()[0]},
        "cases": cases,
    }
    with open(args.golden, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    return out
