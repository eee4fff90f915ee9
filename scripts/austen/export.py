"""The export stage: the last checkpoint written to --out as a released-layout checkpoint (config.json,
bf16 model.safetensors, generation_config.json, tokenizer files: export), and the final losses of the
exported weights (final_eval)."""

import json
import os

import numpy as np
import torch

from .corpus import REPO
from .model import build_model, legacy_state_dict
from .tokenizer import save_tokenizer


def export(args):
    from safetensors.torch import save_file
    from tokenizers import Tokenizer
    import transformers

    ck = torch.load(os.path.join(args.work_dir, "ckpt.pt"), weights_only=False)
    cfg = dict(ck["config"])
    cfg["transformers_version"] = transformers.__version__
    model = build_model(cfg, args.seed)
    model.load_state_dict(ck["model"])
    os.makedirs(args.out, exist_ok=True)
    sd = legacy_state_dict(model)
    save_file(sd, os.path.join(args.out, "model.safetensors"), metadata={"format": "pt"})
    os.chmod(os.path.join(args.out, "model.safetensors"), 0o644)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(dict(sorted(cfg.items())), f, indent=2)
        f.write("\n")
    gen = {"_from_model_config": True, "bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"],
           "pad_token_id": cfg["pad_token_id"], "transformers_version": transformers.__version__,
           # Greedy decoding makes this tiny model loop on one sentence; these read well.
           "do_sample": True, "temperature": 0.7, "top_p": 0.9, "repetition_penalty": 1.1}
    with open(os.path.join(args.out, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)
        f.write("\n")
    tok = Tokenizer.from_file(os.path.join(args.work_dir, "tokenizer.json"))
    template = open(os.path.join(REPO, "scripts", "granite_chat_template.jinja")).read()
    save_tokenizer(tok, args.out, template, cfg["max_position_embeddings"])
    print("exported", sorted(os.listdir(args.out)), flush=True)


def final_eval(args):
    """Losses of the *exported* bf16 weights (loaded in float32): the whole held-out prose and chat
    streams in non-overlapping windows, and an equally large fixed sample of training prose windows."""
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(args.threads)
    model = AutoModelForCausalLM.from_pretrained(args.out, dtype=torch.float32).eval()
    d = np.load(os.path.join(args.work_dir, "data.npz"))
    T = args.seq_len

    def windows(stream, starts):
        return [torch.from_numpy(stream[s:s + T + 1].astype(np.int64)) for s in starts]

    def loss_of(rows):
        tot, n = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(rows), 8):
                x = torch.stack(rows[i:i + 8])
                logits = model(input_ids=x[:, :-1]).logits.float()
                tot += torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1),
                                                         reduction="sum").item()
                n += x[:, 1:].numel()
        return tot / n, n

    val_rows = windows(d["vprose"], range(0, len(d["vprose"]) - T - 1, T))
    chat_rows = windows(d["vchat"], range(0, len(d["vchat"]) - T - 1, T))
    rng = np.random.default_rng(args.seed + 99)
    train_rows = windows(d["prose"], sorted(rng.integers(0, len(d["prose"]) - T - 1, len(val_rows))))
    res = {}
    for name, rows in (("train_prose", train_rows), ("val_prose", val_rows), ("val_chat", chat_rows)):
        loss, n = loss_of(rows)
        res[name] = {"loss": round(loss, 4), "tokens": n}
    print("final eval (exported bf16 weights, fp32):", json.dumps(res), flush=True)
    with open(os.path.join(args.work_dir, "final_eval.json"), "w") as f:
        json.dump(res, f, indent=1)
    return res
