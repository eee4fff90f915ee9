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
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import struct
import zlib
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
TEMPLATE_PATH = REPO / "scripts" / "granite_chat_template.jinja"

# --------------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------------

# cl100k / Llama-3 / "dbrx" split regex (spec s7: pre = dbrx).
SPLIT_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Granite 4.0 added tokens in their release order (spec s7). Second field: the `special` flag.
# The release puts them at ids 100256.. right after the BPE vocab; we do the same (right after our
# small BPE vocab), so the ids are small but the layout is the same.
ADDED_TOKENS = [
    ("<|pad|>", True),
    ("<|end_of_text|>", True),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|filename|>", True),
    ("<|reponame|>", True),
    ("<|start_of_role|>", True),
    ("<|end_of_role|>", True),
    ("<|unused_1|>", True),
    ("<|start_of_plugin|>", True),
    ("<|end_of_plugin|>", True),
    ("<|unk|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<tool_response>", False),
    ("</tool_response>", False),
    ("<think>", False),
    ("</think>", False),
    ("<think_on>", True),
    ("<think_off>", True),
    ("<schema>", True),
    ("</schema>", True),
    ("<tools>", True),
    ("</tools>", True),
    ("<documents>", True),
    ("</documents>", True),
]
BPE_VOCAB = 460  # 256 byte symbols + ~204 merges; + 28 added tokens = 488 ids
MODEL_VOCAB = 512  # embedding rows; rows 488..511 are padding, like the release (100284 ids, 100352 rows)

TRAIN_TEXT = """
The quick brown fox jumps over the lazy dog. A small model can still be tested carefully, one layer at a
time, until every number matches the reference. The engine reads the configuration, loads the weights,
and runs the same computation on the graphics card that the Python code runs on the processor.
Granite is a family of language models. The hybrid models mix state space layers with attention layers.
Most layers are Mamba layers; a few are attention layers without any position encoding. Every layer has a
feed forward network, and some models route each token to a few experts out of many.
You are a helpful assistant. Please ensure responses are professional, accurate, and safe.
What is the weather like in Paris today? It is sunny and warm, with a light wind from the west.
Can you help me write a short poem about the sea? The sea is wide, the sea is deep, it rocks the boats
and sings them to sleep.
The user asked a question, and the assistant answered it. Then the user asked another question.
The function returns a list of numbers: 1, 2, 3, 4, 5, 10, 20, 100, 1000, 2025, 3.14159, 42.
def add(a, b):
    return a + b

for i in range(10):
    print(i * i)

{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
{"type": "function", "function": {"name": "search", "description": "Search the web", "parameters": {}}}
Students read books in the library. Teachers explain ideas in the classroom. Doctors help people in the
hospital. Farmers grow food in the fields. Engineers build bridges, roads, and machines.
It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of
foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of light.
In the beginning the state is zero. Each new token updates the state, and the output reads from it.
The cache keeps the keys and values of the attention layers, and the recurrent state of the others.
She said: "I'll be there at 10:30, don't worry." He replied: "We're going to be late, aren't we?"
Numbers like 123456789 are split into groups of at most three digits by the tokenizer.
A café in Montréal serves crème brûlée. Naïve résumé, déjà vu, façade, jalapeño, Zürich, São Paulo.
The weather in Tokyo: 東京は晴れです。日本語のテキストも少し含めます。
Emoji are encoded with four bytes each, for example a party popper or a thumbs up.
Please answer the question using only the documents provided. If the answer is not in the documents,
say that you do not know. Return the result as a JSON object with the keys name and arguments.
The model generates one token at a time, and each token is chosen by taking the largest logit.
Prices: 100, 200, 300, 400, 500, 1000, 2000, 3000, 10000, 20000, 100000, 1000000 and 2000000 dollars.
Years: 1900, 1950, 2000, 2020, 2024, 2025. Wow!!! Really??? Yes... OK!!! Done??? Fine...
THAT'S IT. IT'S DONE. WE'LL SEE. I'VE GOT IT. YOU'RE RIGHT. SHE'D KNOW. HE'S HERE.
    indented code line
        deeper indented line


Two blank lines above, then text again.
"""


def build_tokenizer():
    """Train a tiny byte-level BPE with Granite's pre-tokenizer and added tokens."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SPLIT_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    lines = [l for l in TRAIN_TEXT.split("\n")]
    tok.train_from_iterator(lines * 3, trainer=trainer)
    assert tok.get_vocab_size() == BPE_VOCAB, tok.get_vocab_size()
    for content, special in ADDED_TOKENS:
        t = AddedToken(content, single_word=False, lstrip=False, rstrip=False, normalized=False, special=special)
        if special:
            tok.add_special_tokens([t])
        else:
            tok.add_tokens([t])
    assert tok.get_vocab_size() == BPE_VOCAB + len(ADDED_TOKENS)
    return tok


def token_id(tok, content):
    i = tok.token_to_id(content)
    assert i is not None, content
    return i


def tokenizer_config(tok, chat_template: str) -> dict:
    decoder = {}
    for content, special in ADDED_TOKENS:
        decoder[str(token_id(tok, content))] = {
            "content": content,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": special,
        }
    return {
        "add_bos_token": False,
        "add_eos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": decoder,
        "bos_token": "<|end_of_text|>",
        "chat_template": chat_template,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|end_of_text|>",
        "errors": "replace",
        "extra_special_tokens": {},
        "model_max_length": 1000000000000000019884624838656,
        "pad_token": "<|pad|>",
        "padding_side": "left",
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": "<|unk|>",
        "vocab_size": BPE_VOCAB + len(ADDED_TOKENS),
    }


def write_tokenizer_files(tok, folder: Path, chat_template: str):
    tok.save(str(folder / "tokenizer.json"), pretty=True)
    with open(folder / "tokenizer_config.json", "w") as f:
        json.dump(tokenizer_config(tok, chat_template), f, indent=2, ensure_ascii=False)
        f.write("\n")
    specials = {
        "bos_token": "<|end_of_text|>",
        "eos_token": "<|end_of_text|>",
        "pad_token": "<|pad|>",
        "unk_token": "<|unk|>",
    }
    with open(folder / "special_tokens_map.json", "w") as f:
        json.dump({k: {"content": v, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False}
                   for k, v in specials.items()}, f, indent=2)
        f.write("\n")


# --------------------------------------------------------------------------------------------------
# Fixture model definitions
# --------------------------------------------------------------------------------------------------

# Legacy (released-checkpoint) config.json layout, as written by transformers 4.5x for the
# ibm-granite/granite-4.0-* repos: layer_types uses "mamba"/"attention", RoPE base as top-level
# rope_theta (+ rope_scaling null), dtype key "torch_dtype", no time_step_limit key.
LEGACY_TRANSFORMERS_VERSION = "4.56.0"


def legacy_config(
    *,
    hidden,
    layer_types,
    heads,
    kv_heads,
    vocab=MODEL_VOCAB,
    experts=0,
    top_k=0,
    intermediate,
    shared,
    mamba_heads,
    mamba_d_head,
    d_state,
    n_groups=1,
    d_conv=4,
    chunk=256,
    emb_mult=12.0,
    res_mult=0.22,
    logits_scaling=6.0,
    pos_type="nope",
    rope_theta=10000.0,
    tied=True,
    max_pos=131072,
    init_range=0.15,
    bos=None,
    eos=None,
    pad=None,
):
    head_dim = hidden // heads
    assert head_dim * heads == hidden
    assert mamba_heads * mamba_d_head == 2 * hidden
    return {
        "architectures": ["GraniteMoeHybridForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "attention_multiplier": 1.0 / head_dim,
        "bos_token_id": bos,
        "embedding_multiplier": emb_mult,
        "eos_token_id": eos,
        "hidden_act": "silu",
        "hidden_size": hidden,
        "init_method": "mup",
        "initializer_range": init_range,
        "intermediate_size": intermediate,
        "layer_types": list(layer_types),
        "logits_scaling": logits_scaling,
        "mamba_chunk_size": chunk,
        "mamba_conv_bias": True,
        "mamba_d_conv": d_conv,
        "mamba_d_head": mamba_d_head,
        "mamba_d_state": d_state,
        "mamba_expand": 2,
        "mamba_n_groups": n_groups,
        "mamba_n_heads": mamba_heads,
        "mamba_proj_bias": False,
        "max_position_embeddings": max_pos,
        "model_type": "granitemoehybrid",
        "normalization_function": "rmsnorm",
        "num_attention_heads": heads,
        "num_experts_per_tok": top_k,
        "num_hidden_layers": len(layer_types),
        "num_key_value_heads": kv_heads,
        "num_local_experts": experts,
        "output_router_logits": False,
        "pad_token_id": pad,
        "position_embedding_type": pos_type,
        "residual_multiplier": res_mult,
        "rms_norm_eps": 1e-05,
        "rope_scaling": None,
        "rope_theta": rope_theta,
        "router_aux_loss_coef": 0.0,
        "shared_intermediate_size": shared,
        "tie_word_embeddings": tied,
        "torch_dtype": "bfloat16",
        "transformers_version": LEGACY_TRANSFORMERS_VERSION,
        "use_cache": True,
        "vocab_size": vocab,
    }


PROMPT_PLAIN = (
    "The engine reads the configuration, loads the weights, and runs the same computation on the "
    "graphics card. In 2025 we had 1000000 users!!! THAT'S IT."
)
PROMPT_UTF8 = "A café in Montréal: crème brûlée. 東京は晴れ 🎉 She said: \"I'll be there at 10:30, don't worry.\""
PROMPT_CODE = "def add(a, b):\n    return a + b\n\nfor i in range(10):\n    print(add(i, 2000))\n"

FIXTURES_SPEC = {
    # Hybrid, routed MoE + shared MLP, NoPE attention (rope_theta present but unused), tied, GQA 6/2,
    # chunk 8 with a 40+ token chat prompt (several chunks + a short tail chunk).
    "moe_nope": dict(
        layout="legacy",
        cfg=dict(
            hidden=48, layer_types=["mamba", "mamba", "attention", "mamba"], heads=6, kv_heads=2,
            experts=4, top_k=2, intermediate=20, shared=28, mamba_heads=6, mamba_d_head=16, d_state=12,
            chunk=8, emb_mult=12.0, res_mult=0.22, logits_scaling=6.0, pos_type="nope", tied=True,
        ),
        prompt=dict(chat=[{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": "What is the weather like in Paris today?"}]),
        logits_positions=[0, 7, 8, 16, -1],
        init=dict(std=0.15, emb_std=0.03, out_gain=2.5, final_norm=(4.0, 12.0)),
    ),
    # Hybrid with attention first and last, dense FFN (no experts), RoPE (theta 1e4, rope_theta key),
    # MQA (1 kv head), untied lm_head.
    "dense_rope": dict(
        layout="legacy",
        cfg=dict(
            hidden=40, layer_types=["attention", "mamba", "mamba", "attention"], heads=5, kv_heads=1,
            experts=0, top_k=0, intermediate=36, shared=36, mamba_heads=5, mamba_d_head=16, d_state=16,
            chunk=16, emb_mult=12.0, res_mult=0.22, logits_scaling=4.0, pos_type="rope", rope_theta=10000.0,
            tied=False,
        ),
        prompt=dict(text=PROMPT_PLAIN),
        logits_positions=[0, 1, 15, 16, -1],
        init=dict(std=0.15, emb_std=0.03, out_gain=2.5, final_norm=(0.6, 1.4)),
    ),
    # Every layer attention (like the dense Micro/1B/350M), RoPE theta 1e7, dense FFN, tied. The mamba_*
    # keys are meaningless leftovers, as in the released dense configs.
    "attn_only": dict(
        layout="legacy",
        cfg=dict(
            hidden=36, layer_types=["attention"] * 3, heads=6, kv_heads=3, experts=0, top_k=0,
            intermediate=44, shared=44, mamba_heads=8, mamba_d_head=9, d_state=256, chunk=256,
            emb_mult=12.0, res_mult=0.263, logits_scaling=10.0, pos_type="rope", rope_theta=10000000.0,
            tied=True,
        ),
        prompt=dict(text=PROMPT_CODE),
        logits_positions=[0, 5, -1],
        init=dict(std=0.2, emb_std=0.03, out_gain=2.5, final_norm=(4.0, 12.0)),
    ),
    # mamba_n_groups = 2, MoE 5 experts top-2, mostly mamba, finite time_step_limit that clamps,
    # written by transformers' own save_pretrained (transformers-5 layout).
    "mamba_groups": dict(
        layout="v5",
        cfg=dict(
            hidden=56, layer_types=["mamba", "mamba", "attention", "mamba", "mamba"], heads=4, kv_heads=2,
            experts=5, top_k=2, intermediate=24, shared=32, mamba_heads=8, mamba_d_head=14, d_state=16,
            n_groups=2, chunk=12, emb_mult=12.0, res_mult=0.22, logits_scaling=8.0, pos_type="nope",
            tied=True,
        ),
        time_step_limit=(0.05, 0.5),
        prompt=dict(text=PROMPT_UTF8),
        logits_positions=[0, 11, 12, 30, -1],
        init=dict(std=0.15, emb_std=0.03, out_gain=2.5, final_norm=(4.0, 12.0)),
    ),
}

N_GREEDY = 20
MARGIN_REL = 2e-3


def legacy_name(name: str) -> str:
    """transformers-5 in-memory parameter name -> on-disk (released) tensor name."""
    return (
        name.replace("block_sparse_moe.experts.gate_up_proj", "block_sparse_moe.input_linear.weight")
        .replace("block_sparse_moe.experts.down_proj", "block_sparse_moe.output_linear.weight")
        .replace("block_sparse_moe.router.weight", "block_sparse_moe.router.layer.weight")
    )


def inv_softplus(y):
    import torch

    return y + torch.log(-torch.expm1(-y))


OUTPUT_MATRICES = ("mamba.out_proj.weight", "self_attn.o_proj.weight", "shared_mlp.output_linear.weight",
                   "block_sparse_moe.experts.down_proj")


def randomize(model, seed: int, std: float, emb_std: float, out_gain: float = 1.0, final_norm=(0.6, 1.4),
              dt_lo=0.03, dt_hi=0.6, a_lo=0.3, a_hi=2.5, dt_row_scale=0.35):
    """Random init with activations of order one and SSM decays exp(dt*A) roughly in 0.3..0.99.

    With tied embeddings a random model tends to "echo" the input token (its own embedding dominates the
    logit of that token), so the fixtures use a small embedding std, larger output projections (out_gain)
    so that the sublayers dominate the residual stream, and a large final-norm weight to bring the logits
    back to order one."""
    """Random init with activations of order one and SSM decays exp(dt*A) roughly in 0.3..0.99."""
    import torch

    g = torch.Generator().manual_seed(seed)
    cfg = model.config
    with torch.no_grad():
        for name, p in model.named_parameters():
            shape = p.shape
            if name == "model.norm.weight":
                v = final_norm[0] + (final_norm[1] - final_norm[0]) * torch.rand(shape, generator=g)
            elif name.endswith("layernorm.weight") or name.endswith("mamba.norm.weight"):
                v = 0.6 + 0.8 * torch.rand(shape, generator=g)
            elif name.endswith("conv1d.weight"):
                v = 0.35 * torch.randn(shape, generator=g)
            elif name.endswith("conv1d.bias"):
                v = 0.2 * torch.randn(shape, generator=g)
            elif name.endswith("A_log"):
                v = torch.log(a_lo + (a_hi - a_lo) * torch.rand(shape, generator=g))
            elif name.endswith("dt_bias"):
                u = torch.rand(shape, generator=g)
                dt = torch.exp(math.log(dt_lo) + u * (math.log(dt_hi) - math.log(dt_lo)))
                v = inv_softplus(dt)
            elif name.endswith("mamba.D"):
                v = 0.2 + 1.3 * torch.rand(shape, generator=g)
            elif name == "model.embed_tokens.weight":
                v = emb_std * torch.randn(shape, generator=g)
            else:
                v = std * torch.randn(shape, generator=g)
                if name.endswith(OUTPUT_MATRICES):
                    v *= out_gain
                if name.endswith("mamba.in_proj.weight"):
                    di = cfg.mamba_expand * cfg.hidden_size
                    conv_dim = di + 2 * cfg.mamba_n_groups * cfg.mamba_d_state
                    v[di + conv_dim:] *= dt_row_scale  # dt rows: keep dt_bias dominant, input-dependent
            p.copy_(v)
        # bf16 rounding: the reference is computed from exactly the weights that go to disk
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).to(torch.float32))


class Probe:
    """Forward hooks: per-layer hidden states and Mamba dt / decay statistics."""

    def __init__(self, model):
        import torch

        self.model = model
        self.handles = []
        self.layer_out = {}
        self.dt = []
        self.decay = []
        self.emb = None
        self.final = None
        inner = model.model
        cfg = model.config
        self.handles.append(inner.embed_tokens.register_forward_hook(self._emb))
        self.handles.append(inner.norm.register_forward_hook(self._final))
        for i, layer in enumerate(inner.layers):
            self.handles.append(layer.register_forward_hook(self._layer(i)))
            if layer.mamba is not None:
                self.handles.append(layer.mamba.in_proj.register_forward_hook(self._inproj(layer.mamba)))

    def _emb(self, m, inp, out):
        self.emb = out.detach()[0] * self.model.config.embedding_multiplier

    def _final(self, m, inp, out):
        self.final = out.detach()[0]

    def _layer(self, i):
        def f(m, inp, out):
            o = out[0] if isinstance(out, tuple) else out
            self.layer_out[i] = o.detach()[0]

        return f

    def _inproj(self, mamba):
        import torch

        def f(m, inp, out):
            raw = out.detach()[0, :, -mamba.num_heads:]
            dt = torch.nn.functional.softplus(raw + mamba.dt_bias.detach())
            self.dt.append(dt.flatten())
            lim = mamba.time_step_limit
            dtc = torch.clamp(dt, lim[0], lim[1]) if lim is not None else dt
            A = -torch.exp(mamba.A_log.detach().float())
            self.decay.append(torch.exp(dtc * A).flatten())

        return f

    def reset(self):
        self.layer_out = {}
        self.dt = []
        self.decay = []

    def remove(self):
        for h in self.handles:
            h.remove()


def ablations(model, prompt_ids, base_logits):
    """Zero one path at a time; report the relative change of the prompt logits and of the argmaxes."""
    import torch

    def zero_hook(m, inp, out):
        if isinstance(out, tuple):
            return (torch.zeros_like(out[0]),) + tuple(out[1:])
        return torch.zeros_like(out)

    paths = []
    for i, layer in enumerate(model.model.layers):
        if layer.mamba is not None:
            paths.append((f"layer{i}.mamba", layer.mamba))
        else:
            paths.append((f"layer{i}.attention", layer.self_attn))
        paths.append((f"layer{i}.shared_mlp", layer.shared_mlp))
        if layer.block_sparse_moe is not None:
            paths.append((f"layer{i}.moe", layer.block_sparse_moe))
    res = {}
    base_arg = torch.argmax(base_logits, dim=-1)
    for label, mod in paths:
        h = mod.register_forward_hook(zero_hook)
        with torch.no_grad():
            lg = model(torch.tensor([prompt_ids]), use_cache=False).logits[0].float()
        h.remove()
        rel = float((lg - base_logits).norm() / base_logits.norm())
        changed = int((torch.argmax(lg, dim=-1) != base_arg).sum())
        res[label] = {"rel_logit_change": round(rel, 4), "argmax_changed": changed}
    return res


def top2_gap(row):
    import torch

    v = torch.topk(row, 2).values
    return float(v[0] - v[1])


def reference(model, prompt_ids, pad_id):
    """float32 reference: prompt logits (no cache), greedy by full recompute, and greedy via generate()."""
    import torch
    from transformers import GenerationConfig

    ids = torch.tensor([prompt_ids])
    with torch.no_grad():
        logits = model(ids, use_cache=False).logits[0].float()
        seq = list(prompt_ids)
        greedy, gaps, maxabs, glogits = [], [], [], []
        for _ in range(N_GREEDY):
            row = model(torch.tensor([seq]), use_cache=False).logits[0, -1].float()
            nxt = int(torch.argmax(row))
            greedy.append(nxt)
            gaps.append(top2_gap(row))
            maxabs.append(float(row.abs().max()))
            glogits.append(row)
            seq.append(nxt)
        # cached path 1: manual prefill + one-token decode steps with the hybrid cache
        out = model(ids, use_cache=True)
        cache = out.cache
        cached = [int(torch.argmax(out.logits[0, -1]))]
        cached_logits = [out.logits[0, -1].float()]
        for _ in range(N_GREEDY - 1):
            out = model(torch.tensor([[cached[-1]]]), cache=cache, use_cache=True)
            cache = out.cache
            cached.append(int(torch.argmax(out.logits[0, -1])))
            cached_logits.append(out.logits[0, -1].float())
        # cached path 2: generate() (eos disabled so it always produces N_GREEDY tokens)
        gc = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=N_GREEDY, eos_token_id=None,
                              bos_token_id=None, pad_token_id=pad_id, use_cache=True)
        gen = model.generate(ids, generation_config=gc)
    gen_ids = gen[0, len(prompt_ids):].tolist()
    cached_maxdiff = max(float((a - b).abs().max()) for a, b in zip(cached_logits, glogits))
    prompt_gaps = [top2_gap(logits[i]) for i in range(logits.shape[0])]
    min_margin = min(prompt_gaps + gaps)
    max_abs = max(float(logits.abs().max()), max(maxabs))
    return dict(
        logits=logits,
        argmax=[int(x) for x in torch.argmax(logits, dim=-1)],
        greedy=greedy,
        greedy_logits=glogits,
        generate=gen_ids,
        cached=cached,
        cached_maxdiff=cached_maxdiff,
        min_margin=min_margin,
        max_abs=max_abs,
        prompt_gaps=prompt_gaps,
        greedy_gaps=gaps,
    )


def _versions():
    import tokenizers
    import torch
    import transformers

    return dict(transformers_version=transformers.__version__, torch_version=torch.__version__,
                tokenizers_version=tokenizers.__version__)


def load_hf_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


def fl(x):
    """float32 value -> JSON float (shortest repr of the exact float32 value as a double)."""
    return float(x)


def summarize_hidden(probe, positions):
    out = {}
    for pos in positions:
        out[str(pos)] = {
            "embed_scaled": [fl(v) for v in probe.emb[pos]],
            "layers": [[fl(v) for v in probe.layer_out[i][pos]] for i in sorted(probe.layer_out)],
            "final_norm": [fl(v) for v in probe.final[pos]],
        }
    return out


def build_fixture(name: str, spec: dict, tok, template: str, max_seeds: int = 400, log=print):
    import torch
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModelForCausalLM, GraniteMoeHybridForCausalLM

    out_dir = FIXTURES / name
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    write_tokenizer_files(tok, out_dir, template)
    hf_tok = load_hf_tokenizer(out_dir)

    if "chat" in spec["prompt"]:
        prompt_text = hf_tok.apply_chat_template(spec["prompt"]["chat"], tokenize=False, add_generation_prompt=True)
    else:
        prompt_text = spec["prompt"]["text"]
    prompt_ids = hf_tok(prompt_text)["input_ids"]
    raw_ids = tok.encode(prompt_text, add_special_tokens=True).ids
    assert prompt_ids == raw_ids, (prompt_ids, raw_ids)
    assert len(prompt_ids) >= 30, len(prompt_ids)
    assert hf_tok.decode(prompt_ids) == prompt_text

    eos = token_id(tok, "<|end_of_text|>")
    pad = token_id(tok, "<|pad|>")
    cfg_dict = legacy_config(**spec["cfg"], bos=eos, eos=eos, pad=pad, init_range=spec["init"]["std"])
    if spec.get("time_step_limit"):
        cfg_dict["time_step_limit"] = list(spec["time_step_limit"])

    with tempfile.TemporaryDirectory() as tmp:
        with open(Path(tmp) / "config.json", "w") as f:
            json.dump(cfg_dict, f)
        config = AutoConfig.from_pretrained(tmp)
    config._attn_implementation = "eager"

    positions = [p if p >= 0 else len(prompt_ids) + p for p in spec["logits_positions"]]
    chosen = None
    for seed in range(max_seeds):
        torch.manual_seed(seed)
        model = GraniteMoeHybridForCausalLM(config).eval()
        randomize(model, seed, **spec["init"])
        probe = Probe(model)
        ref = reference(model, prompt_ids, pad)
        margin_ok = ref["min_margin"] >= MARGIN_REL * ref["max_abs"]
        echo = sum(int(a == b) for a, b in zip(ref["argmax"], prompt_ids)) / len(prompt_ids)
        distinct = len(set(ref["greedy"]))
        ok = margin_ok and echo < 0.3 and distinct >= 3
        log(f"  {name} seed {seed}: min_margin {ref['min_margin']:.5f} max_abs {ref['max_abs']:.3f} "
            f"rel {ref['min_margin'] / ref['max_abs']:.2e} echo {echo:.2f} distinct-greedy {distinct} "
            f"{'OK' if ok else 'redraw'}")
        probe.remove()
        if ok:
            chosen = (seed, model)
            break
    assert chosen is not None, f"{name}: no seed with a safe margin"
    seed, model = chosen

    # ---- write the checkpoint ----
    if spec["layout"] == "legacy":
        with open(out_dir / "config.json", "w") as f:
            json.dump(cfg_dict, f, indent=2)
            f.write("\n")
        sd = {}
        for k, v in model.state_dict().items():
            if k == "lm_head.weight" and config.tie_word_embeddings:
                continue
            sd[legacy_name(k)] = v.detach().to(torch.bfloat16).contiguous()
        save_file(sd, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
        gen_cfg = {"_from_model_config": True, "bos_token_id": eos, "eos_token_id": eos, "pad_token_id": pad,
                   "transformers_version": LEGACY_TRANSFORMERS_VERSION}
        with open(out_dir / "generation_config.json", "w") as f:
            json.dump(gen_cfg, f, indent=2)
            f.write("\n")
    else:
        model.to(torch.bfloat16).save_pretrained(str(out_dir))
        model.to(torch.float32)
    del model

    # ---- reload from disk in float32 and compute the reference from the on-disk weights ----
    model, info = AutoModelForCausalLM.from_pretrained(
        str(out_dir), dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
    model.eval()
    bad = {k: v for k, v in info.items() if v}
    assert not bad, f"{name}: loading info {bad}"
    from safetensors import safe_open

    with safe_open(str(out_dir / "model.safetensors"), "pt") as f:
        disk = {k: f.get_tensor(k) for k in f.keys()}
    msd = {legacy_name(k): v for k, v in model.state_dict().items()}
    for k, v in disk.items():
        assert v.dtype == torch.bfloat16, (k, v.dtype)
        assert torch.equal(v.float(), msd[k]), k
    expected_disk = set(msd) - ({"lm_head.weight"} if model.config.tie_word_embeddings else set())
    assert set(disk) == expected_disk, (set(disk) ^ expected_disk)

    probe = Probe(model)
    ref = reference(model, prompt_ids, pad)
    probe.reset()
    with torch.no_grad():
        model(torch.tensor([prompt_ids]), use_cache=False)
    hidden = summarize_hidden(probe, sorted({0, len(prompt_ids) - 1}))
    abl = ablations(model, prompt_ids, ref["logits"])
    dt = torch.cat(probe.dt) if probe.dt else None
    decay = torch.cat(probe.decay) if probe.decay else None
    probe.remove()

    assert ref["min_margin"] >= MARGIN_REL * ref["max_abs"]
    assert [int(torch.argmax(ref["logits"][i])) for i in range(len(prompt_ids))] == ref["argmax"]
    cached_ok = ref["cached"] == ref["greedy"]
    generate_ok = ref["generate"] == ref["greedy"]

    lim = model.config.time_step_limit
    ssm_stats = None
    if dt is not None:
        ssm_stats = {
            "dt_min": fl(dt.min()), "dt_max": fl(dt.max()),
            "dt_quantiles_10_50_90": [fl(x) for x in torch.quantile(dt, torch.tensor([0.1, 0.5, 0.9]))],
            "decay_min": fl(decay.min()), "decay_max": fl(decay.max()),
            "decay_quantiles_10_50_90": [fl(x) for x in torch.quantile(decay, torch.tensor([0.1, 0.5, 0.9]))],
        }
        if lim is not None and math.isfinite(lim[1]):
            ssm_stats["time_step_limit"] = list(lim)
            ssm_stats["frac_dt_clamped_low"] = fl((dt < lim[0]).float().mean())
            ssm_stats["frac_dt_clamped_high"] = fl((dt > lim[1]).float().mean())

    expected = dict(_versions())
    expected.update({
        "fixture": name,
        "seed": seed,
        "config_layout": "transformers-5 save_pretrained" if spec["layout"] == "v5" else "released (transformers 4.5x)",
        "prompt_text": prompt_text,
        "prompt_ids": prompt_ids,
        "argmax": ref["argmax"],
        "logits_positions": positions,
        "logits": [[fl(v) for v in ref["logits"][p]] for p in positions],
        "greedy_ids": ref["greedy"],
        "greedy_method": "argmax of full recompute (use_cache=False) over prompt + generated tokens",
        "greedy_cached_ids": ref["cached"],
        "greedy_cached_matches": cached_ok,
        "greedy_generate_ids": ref["generate"],
        "greedy_generate_matches": generate_ok,
        "greedy_cached_max_abs_logit_diff": fl(ref["cached_maxdiff"]),
        "last_greedy_logits": [fl(v) for v in ref["greedy_logits"][-1]],
        "min_margin": fl(ref["min_margin"]),
        "max_abs_logit": fl(ref["max_abs"]),
        "margin_rel_threshold": MARGIN_REL,
        "prompt_top2_gaps": [fl(x) for x in ref["prompt_gaps"]],
        "greedy_top2_gaps": [fl(x) for x in ref["greedy_gaps"]],
        "ssm_stats": ssm_stats,
        "ablations": abl,
        "ablations_note": "each path's output zeroed in turn: relative L2 change of the prompt logits, and how many "
                          "prompt-position argmaxes change (shows that every path matters)",
        "hidden_states": hidden,
        "hidden_states_note": "per position: embed_tokens[id]*embedding_multiplier, output of every decoder layer "
                              "(residual stream), final RMSNorm output (before lm_head); float32 reference",
    })
    with open(out_dir / "expected.json", "w") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write("\n")
    log(f"  {name}: seed {seed}, {len(prompt_ids)} prompt tokens, min_margin {expected['min_margin']:.5f} "
        f"(max |logit| {expected['max_abs_logit']:.3f}); cached decode matches: {cached_ok}; "
        f"generate matches: {generate_ok}; ssm {ssm_stats}")
    return expected


# --------------------------------------------------------------------------------------------------
# Chat template fixture
# --------------------------------------------------------------------------------------------------

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city. Units: 'celsius' or 'fahrenheit' (<default> & more).",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name, e.g. Zürich or 東京"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search_docs",
            "description": "Search the documentation and return the top results.",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string"},
                    "max_results": {"type": "integer", "minimum": 1, "maximum": 10},
                },
                "required": ["query"],
            },
        },
    },
]

DOCUMENTS = [
    {"doc_id": 1, "title": "Granite", "text": "Granite 4.0 mixes Mamba-2 and attention layers."},
    {"doc_id": 2, "title": "Cache", "text": "Mamba layers keep a fixed-size state."},
]

CONVERSATIONS = [
    dict(name="system_multi_turn", add_generation_prompt=True, messages=[
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "Answer with OK."},
        {"role": "assistant", "content": "OK"},
        {"role": "user", "content": "Again, please."},
    ]),
    dict(name="system_multi_turn_no_gen", add_generation_prompt=False, messages=[
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "Answer with OK."},
        {"role": "assistant", "content": "OK"},
    ]),
    dict(name="no_system_default", add_generation_prompt=True, messages=[
        {"role": "user", "content": "Hello! How are you?"},
    ]),
    dict(name="no_system_default_no_gen", add_generation_prompt=False, messages=[
        {"role": "user", "content": "Hello!"},
        {"role": "assistant", "content": "Hi there."},
    ]),
    dict(name="tools_with_system", add_generation_prompt=True, tools=TOOLS, messages=[
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "What's the weather in Paris?"},
    ]),
    dict(name="tools_no_system", add_generation_prompt=True, tools=TOOLS, messages=[
        {"role": "user", "content": "What's the weather in Paris?"},
    ]),
    dict(name="tool_call_round_trip", add_generation_prompt=True, tools=TOOLS, messages=[
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}},
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}},
        ]},
        {"role": "tool", "content": "{\"temperature\": 21, \"sky\": \"sunny\"}"},
        {"role": "tool", "content": "{\"temperature\": 25, \"sky\": \"cloudy\"}"},
        {"role": "assistant", "content": "Paris: 21 °C, sunny. Rome: 25 °C, cloudy."},
        {"role": "user", "content": "Thanks!"},
    ]),
    dict(name="tool_call_with_content_and_string_args", add_generation_prompt=False, tools=TOOLS, messages=[
        {"role": "user", "content": "Find docs about caches."},
        {"role": "assistant", "content": "Let me search.", "tool_calls": [
            {"type": "function", "function": {"name": "search_docs",
                                              "arguments": "{\"query\": \"cache\", \"max_results\": 3}"}},
        ]},
        {"role": "tool", "content": "Mamba layers keep a fixed-size state."},
        {"role": "assistant", "content": "Mamba layers keep a fixed-size state."},
    ]),
    dict(name="later_system_messages", add_generation_prompt=True, messages=[
        {"role": "system", "content": "First system."},
        {"role": "user", "content": "One."},
        {"role": "system", "content": "Second system, in place."},
        {"role": "assistant", "content": "Two."},
        {"role": "user", "content": "Three."},
    ]),
    dict(name="documents_with_system", add_generation_prompt=True, documents=DOCUMENTS, messages=[
        {"role": "system", "content": "Answer from the documents."},
        {"role": "user", "content": "What does Granite 4.0 mix?"},
    ]),
    dict(name="tools_and_documents_no_system", add_generation_prompt=True, tools=TOOLS[:1], documents=DOCUMENTS[:1],
         messages=[{"role": "user", "content": "Hi"}]),
    dict(name="list_content_parts", add_generation_prompt=True, messages=[
        {"role": "system", "content": [{"type": "text", "text": "Part one."}, {"type": "text", "text": "Part two."}]},
        {"role": "user", "content": [{"type": "text", "text": "Line A"}, {"type": "text", "text": "Line B"}]},
    ]),
    dict(name="unicode_content", add_generation_prompt=True, messages=[
        {"role": "user", "content": "Café, 日本語, emoji 🎉👍🏽 and a newline\nhere."},
    ]),
]

UTF8_STRINGS = [
    "café crème brûlée",
    "日本語のテキスト",
    "emoji 🎉👍🏽 done",
    "Zürich → 東京 ✓",
    "<|start_of_role|>user<|end_of_role|>héllo 🎉<|end_of_text|>",
]


def build_chat_fixture(tok, template: str, log=print):
    hf_tok = load_hf_tokenizer(FIXTURES / "moe_nope")
    out = dict(_versions())
    out.update({
        "template_file": "scripts/granite_chat_template.jinja (identical to tokenizer_config.json chat_template)",
        "render_call": "tokenizer.apply_chat_template(messages, tools=tools, documents=documents, tokenize=False, "
                       "add_generation_prompt=add_generation_prompt)",
        "notes": [
            "tools/documents are JSON-serialized by the template's `tojson` filter; transformers' tojson is "
            "json.dumps(x, ensure_ascii=False) with separators ', ' and ': ', insertion key order, no HTML escaping.",
            "transformers renders with trim_blocks=True, lstrip_blocks=True; the template strips all whitespace via "
            "'-' markers so the output does not depend on these settings.",
            "token ids are from the moe_nope tokenizer (tokenizer(text) with add_special_tokens default; "
            "add_bos_token is false so no BOS is added).",
        ],
        "conversations": [],
    })
    for conv in CONVERSATIONS:
        kwargs = {}
        if "tools" in conv:
            kwargs["tools"] = conv["tools"]
        if "documents" in conv:
            kwargs["documents"] = conv["documents"]
        text = hf_tok.apply_chat_template(conv["messages"], tokenize=False,
                                          add_generation_prompt=conv["add_generation_prompt"], **kwargs)
        ids = hf_tok(text)["input_ids"]
        assert ids == tok.encode(text).ids
        assert hf_tok.decode(ids) == text
        entry = {"name": conv["name"], "messages": conv["messages"], "tools": conv.get("tools"),
                 "documents": conv.get("documents"), "add_generation_prompt": conv["add_generation_prompt"],
                 "expected": text, "ids": ids}
        out["conversations"].append(entry)
    # the same template through plain jinja2 without trim/lstrip must give the same strings
    import jinja2

    env = jinja2.Environment(extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = lambda x, **k: json.dumps(x, ensure_ascii=False)
    t = env.from_string(template)
    for entry in out["conversations"]:
        s = t.render(messages=entry["messages"], tools=entry["tools"], documents=entry["documents"],
                     add_generation_prompt=entry["add_generation_prompt"], bos_token="<|end_of_text|>",
                     eos_token="<|end_of_text|>")
        assert s == entry["expected"], entry["name"]

    strings = []
    for s in UTF8_STRINGS:
        enc = tok.encode(s)
        ids = enc.ids
        assert hf_tok(s)["input_ids"] == ids
        assert hf_tok.decode(ids) == s
        byte_level = {v: k for k, v in _bytes_to_unicode().items()}
        token_bytes = []
        for i in ids:
            piece = tok.id_to_token(i)
            if tok.get_added_tokens_decoder().get(i) is not None:
                token_bytes.append(piece.encode("utf-8").hex())
            else:
                token_bytes.append(bytes(byte_level[c] for c in piece).hex())
        assert bytes.fromhex("".join(token_bytes)).decode("utf-8") == s
        strings.append({"text": s, "ids": ids, "tokens": [tok.id_to_token(i) for i in ids],
                        "token_bytes_hex": token_bytes,
                        "decode_skip_special": hf_tok.decode(ids, skip_special_tokens=True)})
    out["utf8_strings"] = strings
    out["special_token_ids"] = {c: token_id(tok, c) for c, _ in ADDED_TOKENS}
    out["eos_token_id"] = token_id(tok, "<|end_of_text|>")
    with open(FIXTURES / "chat_template.json", "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    log(f"  chat_template.json: {len(out['conversations'])} conversations, {len(strings)} utf-8 strings")


def _bytes_to_unicode():
    """GPT-2 byte-level mapping (byte -> printable unicode char)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


# --------------------------------------------------------------------------------------------------
# Config variants: what transformers 5 writes when it re-saves a released-layout config
# --------------------------------------------------------------------------------------------------


def build_config_variants(names, log=print):
    from transformers import AutoConfig

    out_dir = FIXTURES / "config_variants"
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for name in names:
        src = FIXTURES / name / "config.json"
        if not src.exists():
            continue
        cfg = AutoConfig.from_pretrained(str(FIXTURES / name))
        with tempfile.TemporaryDirectory() as tmp:
            cfg.save_pretrained(tmp)
            shutil.copy(Path(tmp) / "config.json", out_dir / f"{name}.transformers5.json")
        log(f"  config_variants/{name}.transformers5.json")


# --------------------------------------------------------------------------------------------------
# Perf-model mode: random bf16 checkpoints with the released configs (spec s1.2), streamed to disk
# --------------------------------------------------------------------------------------------------

PERF_MODELS = {
    "h-350m": dict(hidden=768, layers=32, attn=[10, 13, 17, 27], heads=12, kv_heads=4, mamba_heads=48,
                   mamba_d_head=32, d_state=128, experts=0, top_k=0, intermediate=2048, shared=2048,
                   res_mult=0.246, logits_scaling=3.0, max_pos=32768),
    "h-1b": dict(hidden=1536, layers=40, attn=[5, 15, 25, 35], heads=12, kv_heads=4, mamba_heads=48,
                 mamba_d_head=64, d_state=128, experts=0, top_k=0, intermediate=4096, shared=4096,
                 res_mult=0.22, logits_scaling=6.0, max_pos=131072),
    "h-micro": dict(hidden=2048, layers=40, attn=[5, 15, 25, 35], heads=32, kv_heads=8, mamba_heads=64,
                    mamba_d_head=64, d_state=128, experts=0, top_k=0, intermediate=8192, shared=8192,
                    res_mult=0.22, logits_scaling=8.0, max_pos=131072),
    "h-tiny": dict(hidden=1536, layers=40, attn=[5, 15, 25, 35], heads=12, kv_heads=4, mamba_heads=48,
                   mamba_d_head=64, d_state=128, experts=64, top_k=6, intermediate=512, shared=1024,
                   res_mult=0.22, logits_scaling=6.0, max_pos=131072),
}
PERF_VOCAB = 100352
SHARD_BYTES = 2 * 1024**3


def perf_config(name, tok):
    p = PERF_MODELS[name]
    eos = token_id(tok, "<|end_of_text|>")
    pad = token_id(tok, "<|pad|>")
    layer_types = ["attention" if i in p["attn"] else "mamba" for i in range(p["layers"])]
    cfg = legacy_config(
        hidden=p["hidden"], layer_types=layer_types, heads=p["heads"], kv_heads=p["kv_heads"], vocab=PERF_VOCAB,
        experts=p["experts"], top_k=p["top_k"], intermediate=p["intermediate"], shared=p["shared"],
        mamba_heads=p["mamba_heads"], mamba_d_head=p["mamba_d_head"], d_state=p["d_state"], chunk=256,
        emb_mult=12.0, res_mult=p["res_mult"], logits_scaling=p["logits_scaling"], pos_type="nope",
        rope_theta=10000.0, tied=True, max_pos=p["max_pos"], init_range=0.1, bos=eos, eos=eos, pad=pad)
    return cfg


def checkpoint_tensors(cfg: dict):
    """(on-disk name, shape, init kind) for every tensor of a released-layout checkpoint (spec s3)."""
    H, V = cfg["hidden_size"], cfg["vocab_size"]
    nq, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = H // nq
    E, I, S = cfg["num_local_experts"], cfg["intermediate_size"], cfg["shared_intermediate_size"]
    nH, P, N, G, K = (cfg["mamba_n_heads"], cfg["mamba_d_head"], cfg["mamba_d_state"], cfg["mamba_n_groups"],
                      cfg["mamba_d_conv"])
    Di = cfg["mamba_expand"] * H
    assert nH * P == Di
    conv_dim = Di + 2 * G * N
    t = [("model.embed_tokens.weight", [V, H], "normal"), ("model.norm.weight", [H], "ones")]
    if not cfg["tie_word_embeddings"]:
        t.append(("lm_head.weight", [V, H], "normal"))
    for i, kind in enumerate(cfg["layer_types"]):
        p = f"model.layers.{i}."
        t += [(p + "input_layernorm.weight", [H], "ones"), (p + "post_attention_layernorm.weight", [H], "ones"),
              (p + "shared_mlp.input_linear.weight", [2 * S, H], "normal"),
              (p + "shared_mlp.output_linear.weight", [H, S], "normal")]
        if E > 0:
            t += [(p + "block_sparse_moe.router.layer.weight", [E, H], "normal"),
                  (p + "block_sparse_moe.input_linear.weight", [E, 2 * I, H], "normal"),
                  (p + "block_sparse_moe.output_linear.weight", [E, H, I], "normal")]
        if kind == "mamba":
            t += [(p + "mamba.in_proj.weight", [2 * Di + 2 * G * N + nH, H], "normal"),
                  (p + "mamba.conv1d.weight", [conv_dim, 1, K], "conv"),
                  (p + "mamba.conv1d.bias", [conv_dim], "zeros"),
                  (p + "mamba.dt_bias", [nH], "dt_bias"),
                  (p + "mamba.A_log", [nH], "A_log"),
                  (p + "mamba.D", [nH], "ones"),
                  (p + "mamba.norm.weight", [Di], "ones"),
                  (p + "mamba.out_proj.weight", [H, Di], "normal")]
        else:
            t += [(p + "self_attn.q_proj.weight", [nq * hd, H], "normal"),
                  (p + "self_attn.k_proj.weight", [nkv * hd, H], "normal"),
                  (p + "self_attn.v_proj.weight", [nkv * hd, H], "normal"),
                  (p + "self_attn.o_proj.weight", [H, nq * hd], "normal")]
    return sorted(t, key=lambda x: x[0])


def f32_to_bf16_bits(a: np.ndarray) -> np.ndarray:
    u = a.astype(np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def _tensor_chunks(name, shape, kind, std, seed, chunk=1 << 23):
    n = int(np.prod(shape))
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    if kind == "normal" or kind == "conv":
        s = std if kind == "normal" else 0.1
        done = 0
        while done < n:
            m = min(chunk, n - done)
            yield f32_to_bf16_bits(rng.standard_normal(m, dtype=np.float32) * np.float32(s))
            done += m
        return
    if kind == "ones":
        v = np.ones(n, np.float32)
    elif kind == "zeros":
        v = np.zeros(n, np.float32)
    elif kind == "A_log":
        v = np.log(np.arange(1, n + 1, dtype=np.float32))
    elif kind == "dt_bias":
        dt = np.exp(np.log(1e-3) + rng.random(n, dtype=np.float32) * (np.log(0.1) - np.log(1e-3)))
        v = (dt + np.log(-np.expm1(-dt))).astype(np.float32)
    else:
        raise ValueError(kind)
    yield f32_to_bf16_bits(v)


def write_safetensors_streaming(path: Path, entries, std, seed):
    header = {"__metadata__": {"format": "pt"}}
    off = 0
    for name, shape, _ in entries:
        nbytes = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, off + nbytes]}
        off += nbytes
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for name, shape, kind in entries:
            for part in _tensor_chunks(name, shape, kind, std, seed):
                f.write(part.tobytes())
    return off


def make_perf(name: str, out: Path, seed: int = 0, log=print):
    out = out.resolve()
    if str(out).startswith(str(REPO.resolve()) + os.sep):
        raise SystemExit("--out must be outside the repository")
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    template = TEMPLATE_PATH.read_text()
    cfg = perf_config(name, tok)
    with open(out / "config.json", "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    with open(out / "generation_config.json", "w") as f:
        json.dump({"_from_model_config": True, "bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"],
                   "pad_token_id": cfg["pad_token_id"], "transformers_version": LEGACY_TRANSFORMERS_VERSION}, f, indent=2)
        f.write("\n")
    write_tokenizer_files(tok, out, template)
    for old in list(out.glob("model*.safetensors")) + list(out.glob("model.safetensors.index.json")):
        old.unlink()
    entries = checkpoint_tensors(cfg)
    sizes = [int(np.prod(s)) * 2 for _, s, _ in entries]
    total = sum(sizes)
    shards, cur, cur_bytes = [], [], 0
    for e, b in zip(entries, sizes):
        if cur and cur_bytes + b > SHARD_BYTES:
            shards.append(cur)
            cur, cur_bytes = [], 0
        cur.append(e)
        cur_bytes += b
    shards.append(cur)
    std = cfg["initializer_range"] * 0.2  # 0.02, the usual init std
    if len(shards) == 1:
        write_safetensors_streaming(out / "model.safetensors", shards[0], std, seed)
        log(f"  wrote {out / 'model.safetensors'} ({total / 2**30:.2f} GiB)")
    else:
        weight_map = {}
        for k, shard in enumerate(shards):
            fname = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
            write_safetensors_streaming(out / fname, shard, std, seed)
            weight_map.update({n: fname for n, _, _ in shard})
            log(f"  wrote {fname} ({sum(int(np.prod(s)) * 2 for _, s, _ in shard) / 2**30:.2f} GiB)")
        with open(out / "model.safetensors.index.json", "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
            f.write("\n")
    params = sum(int(np.prod(s)) for _, s, _ in entries)
    log(f"  {name}: {len(entries)} tensors, {params / 1e9:.3f} B params, {total / 2**30:.2f} GiB bf16, "
        f"{len(shards)} file(s)")


def read_safetensors_headers(folder: Path):
    shapes = {}
    files = sorted(folder.glob("model*.safetensors"))
    for fp in files:
        with open(fp, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            h = json.loads(f.read(n))
        h.pop("__metadata__", None)
        for k, v in h.items():
            assert v["dtype"] == "BF16"
            shapes[k] = list(v["shape"])
    return shapes


def check_perf_names(cfg: dict, shapes: dict | None = None, log=print):
    """Compare our tensor list (or a written checkpoint's headers) with what transformers expects."""
    import torch
    from transformers import AutoConfig, GraniteMoeHybridForCausalLM

    with tempfile.TemporaryDirectory() as tmp:
        with open(Path(tmp) / "config.json", "w") as f:
            json.dump(cfg, f)
        config = AutoConfig.from_pretrained(tmp)
    with torch.device("meta"):
        model = GraniteMoeHybridForCausalLM(config)
    want = {legacy_name(k): list(v.shape) for k, v in model.state_dict().items()}
    if config.tie_word_embeddings:
        want.pop("lm_head.weight")
    have = shapes if shapes is not None else {n: s for n, s, _ in checkpoint_tensors(cfg)}
    assert set(want) == set(have), sorted(set(want) ^ set(have))[:10]
    for k in want:
        assert want[k] == have[k], (k, want[k], have[k])
    n = sum(int(np.prod(s)) for s in want.values())
    log(f"  tensor names/shapes match transformers ({len(want)} tensors, {n / 1e9:.3f} B params); "
        f"layer_types after load: {sorted(set(config.layer_types))}")


def check_perf_load(folder: Path, log=print):
    """Full transformers load (float32) + a short forward; only sensible for the small models."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, info = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}
    assert not bad, bad
    tok = AutoTokenizer.from_pretrained(str(folder))
    ids = tok("Hello, Granite!")["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([ids]), use_cache=False).logits
    assert logits.shape[-1] == PERF_VOCAB and torch.isfinite(logits).all()
    log(f"  loaded with transformers: no missing/unexpected keys; forward OK, logits {tuple(logits.shape)}")


# --------------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------------


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

    import torch

    torch.set_num_threads(1)

    if args.perf:
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
