#!/usr/bin/env python3
"""Train the small default model bundled with the engine (assets/granite-austen/).

Dev-only tool; the engine never runs Python.  It builds a tiny GraniteMoeHybrid
("Granite 4.0 H"-shaped) language model trained on Jane Austen's six novels, so
that the engine's first run writes real English, while still exercising every
code path a released Granite 4.0 hybrid needs: Mamba-2 mixers and NoPE GQA
attention layers, routed top-k experts plus a shared MLP, the Granite
multipliers, tied embeddings, and the Granite chat template / special tokens.

Pipeline (all stages run by default):
  1. corpus   - read the novels from the Debian package r-cran-janeaustenr
                (R lazy-load database; parsed here, R is not needed), split into
                paragraphs, hold out the last 3% of each novel.
  2. tokenizer- byte-level BPE (tokenizers lib, cl100k/"dbrx" split regex as in
                Granite) + Granite's added/special tokens appended at the end.
  3. chat     - consecutive dialogue paragraphs become user/assistant turns,
                rendered with scripts/granite_chat_template.jinja.
  4. train    - GraniteMoeHybridForCausalLM from transformers, bf16 autocast,
                torch.compile, 1 CPU thread, ~80% prose windows / ~20% chat;
                stops at a wall-clock budget (or --max-steps for an exact rerun).
  5. export   - config.json (legacy "mamba"/"attention" layer_types),
                model.safetensors (bf16, legacy on-disk tensor names, no
                lm_head.weight), tokenizer.json, tokenizer_config.json (with the
                chat template), generation_config.json, README.md.
  6. golden   - reload the exported bf16 checkpoint in float32 and write greedy
                reference continuations + logit margins to
                tests/fixtures/default_model_golden.json.

Usage (from the repo root, with the pinned scripts/requirements-dev.txt installed
and `apt-get install r-cran-janeaustenr`):
    OMP_NUM_THREADS=1 python scripts/train_default_model.py
    OMP_NUM_THREADS=1 python scripts/train_default_model.py --max-steps 2800   # fixed-length rerun
    python scripts/train_default_model.py --stage export    # re-export from the last checkpoint
"""

import argparse
import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# This file is the command line; the code is in the scripts/austen/ package next to it, one module per
# concept. Put this folder on sys.path so the package imports from any cwd (after the environment above is set,
# before anything loads torch or tokenizers).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from austen.corpus import REPO  # noqa: E402
from austen.export import export, final_eval  # noqa: E402
from austen.golden import golden  # noqa: E402
from austen.prepare import prepare  # noqa: E402
from austen.readme import samples, write_readme  # noqa: E402
from austen.training import train  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", choices=["all", "prepare", "train", "export", "golden"], default="all")
    ap.add_argument("--out", default=os.path.join(REPO, "assets", "granite-austen"))
    ap.add_argument("--golden", default=os.path.join(REPO, "tests", "fixtures", "default_model_golden.json"))
    ap.add_argument("--work-dir", default="/tmp/granite-austen-work")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--val-frac", type=float, default=0.03)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--attn-layers", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--mamba-d-head", type=int, default=64)
    ap.add_argument("--d-state", type=int, default=64)
    ap.add_argument("--experts", type=int, default=4)
    ap.add_argument("--expert-ffn", type=int, default=96)
    ap.add_argument("--shared-ffn", type=int, default=192)
    ap.add_argument("--logits-scaling", type=float, default=4.0)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--chat-frac", type=float, default=0.2)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--time-budget-min", type=float, default=40.0)
    ap.add_argument("--max-steps", type=int, default=0, help="train exactly this many steps (schedule by steps)")
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--eval-every-min", type=float, default=5.0)
    ap.add_argument("--ckpt-every-min", type=float, default=5.0)
    ap.add_argument("--val-batches", type=int, default=4)
    ap.add_argument("--golden-new-tokens", type=int, default=32)
    ap.add_argument("--small-margin", type=float, default=0.1)
    args = ap.parse_args()

    if not args.max_steps and args.stage in ("all", "train"):
        print(f"training for a wall-clock budget of {args.time_budget_min} min", flush=True)
    if args.stage in ("all", "prepare"):
        prepare(args)
    if args.stage in ("all", "train"):
        train(args)
    if args.stage in ("all", "export"):
        export(args)
    if args.stage in ("all", "export", "golden"):
        fe = final_eval(args)
        gold = golden(args)
        res = samples(args)
        data_stats = json.load(open(os.path.join(args.work_dir, "data_stats.json")))
        train_stats = json.load(open(os.path.join(args.work_dir, "train_stats.json")))
        write_readme(args, data_stats, train_stats, res, gold, fe)


if __name__ == "__main__":
    main()
