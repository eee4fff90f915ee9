#!/usr/bin/env python3
"""Reference fixtures for the Granite 4.0 hybrid engine (dev-only; CI never runs this).

Two modes:

  python scripts/make_fixtures.py                       # (re)write tests/fixtures/*
  python scripts/make_fixtures.py --only moe_nope       # one fixture (+ chat_template.json if moe_nope)
  python scripts/make_fixtures.py --perf h-350m --out /tmp/perf-h350m [--check]
                                                       # random-weight checkpoint with a released config

Needs the versions pinned in scripts/requirements-dev.txt (torch, transformers, tokenizers, safetensors,
numpy). Everything runs on CPU with one thread; no network access is needed (HF_HUB_OFFLINE is forced).

Fixture mode builds small random-weight GraniteMoeHybridForCausalLM checkpoints in the on-disk layout of
released checkpoints (config.json, bf16 model.safetensors with the legacy tensor names, tokenizer.json,
tokenizer_config.json with the chat template) and an expected.json holding float32 reference logits
computed by transformers from the bf16-rounded weights. See tests/fixtures/README.md.

This file is the command line; the code is in the scripts/fixtures/ package, one module per concept.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# the code lives in the scripts/fixtures/ package next to this file; make it importable from any cwd
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixtures.build import build_config_variants, build_fixture  # noqa: E402
from fixtures.chat import build_chat_fixture  # noqa: E402
from fixtures.configs import FIXTURES, FIXTURES_SPEC, TEMPLATE_PATH  # noqa: E402
from fixtures.perf import (  # noqa: E402
    PERF_MODELS,
    SHARD_BYTES,
    check_perf_load,
    check_perf_names,
    make_perf,
    perf_config,
    read_safetensors_headers,
)
from fixtures.tokenizer import build_tokenizer  # noqa: E402


def dir_size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", choices=sorted(FIXTURES_SPEC), help="build only these fixtures")
    ap.add_argument("--perf", choices=sorted(PERF_MODELS), help="write a random-weight perf checkpoint")
    ap.add_argument("--out", type=Path, help="output folder for --perf (outside the repo)")
    ap.add_argument("--check", action="store_true",
                    help="with --perf: verify names/shapes against transformers (and load it if <= 2 GB)")
    ap.add_argument("--check-names-only", action="store_true",
                    help="with --perf: only compare the tensor list with transformers (meta device), write nothing")
    ap.add_argument("--max-seeds", type=int, default=400)
    args = ap.parse_args()

    if args.perf:
        # Writing a perf checkpoint needs numpy and tokenizers only; its checks import
        # transformers themselves.
        tok = build_tokenizer()
        cfg = perf_config(args.perf, tok)
        if args.check_names_only:
            check_perf_names(cfg)
            return
        if not args.out:
            ap.error("--perf needs --out")
        make_perf(args.perf, args.out)
        if args.check:
            check_perf_names(cfg, read_safetensors_headers(args.out))
            if dir_size(args.out) < SHARD_BYTES:
                check_perf_load(args.out)
        return

    import torch

    torch.set_num_threads(1)
    tok = build_tokenizer()
    template = TEMPLATE_PATH.read_text()
    FIXTURES.mkdir(parents=True, exist_ok=True)
    names = args.only or list(FIXTURES_SPEC)
    for name in names:
        print(f"[{name}]")
        build_fixture(name, FIXTURES_SPEC[name], tok, template, max_seeds=args.max_seeds)
    if "moe_nope" in names:
        print("[chat_template]")
        build_chat_fixture(tok, template)
    if not args.only:
        print("[config_variants]")
        build_config_variants(["moe_nope", "dense_rope", "attn_only"])
    print(f"tests/fixtures total: {dir_size(FIXTURES) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
