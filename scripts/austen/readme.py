"""The model card: a few greedy and sampled outputs (samples) and --out/README.md with data, architecture,
training and sample sections (write_readme)."""

import json
import math
import os

import torch

from .corpus import JANEAUSTENR
from .tokenizer import ADDED_TOKENS, EOT


def samples(args):
    """A few extra greedy samples for the model card (not part of the golden fixture)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.out)
    model = AutoModelForCausalLM.from_pretrained(args.out, dtype=torch.float32).eval()
    eos = tok.convert_tokens_to_ids(EOT)
    res = []
    prompts = [("raw", "It was a fine morning, and"), ("raw", "Elizabeth could not help"),
               ("chat", "What do you think of Mr. Darcy?"), ("chat", "Shall we walk to Meryton tomorrow?")]
    prompts += [("raw-sampled", "It was a fine morning, and"), ("chat-sampled", "What do you think of Mr. Darcy?")]
    for kind, p in prompts:
        text = p if kind.startswith("raw") else tok.apply_chat_template([{"role": "user", "content": p}],
                                                                         add_generation_prompt=True, tokenize=False)
        ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        kw = {"do_sample": False}
        if kind.endswith("sampled"):
            torch.manual_seed(args.seed)
            kw = {"do_sample": True, "temperature": 0.8, "top_p": 0.9, "top_k": 0}
        out = model.generate(ids, max_new_tokens=64, eos_token_id=eos, pad_token_id=tok.pad_token_id, **kw)
        res.append({"kind": kind, "prompt": p, "output": tok.decode(out[0, ids.shape[1]:], skip_special_tokens=False)})
        print(res[-1], flush=True)
    return res


def write_readme(args, data_stats, train_stats, sample_res, gold, fe):
    cfg = json.load(open(os.path.join(args.out, "config.json")))
    size = os.path.getsize(os.path.join(args.out, "model.safetensors"))
    s = train_stats["stats"]
    n_mamba = cfg["layer_types"].count("mamba")
    attn_idx = [i for i, t in enumerate(cfg["layer_types"]) if t == "attention"]
    hd = cfg["hidden_size"] // cfg["num_attention_heads"]
    tpc = 1.0 / data_stats["chars_per_token"]
    bpc = lambda loss: loss * tpc / math.log(2)  # noqa: E731
    gen_lines = []
    for r in sample_res:
        how = ("sampled (temperature 0.8, top-p 0.9, torch seed %d)" % args.seed) if r["kind"].endswith("sampled") \
            else "greedy"
        gen_lines.append(f"* {r['kind'].split('-')[0]} prompt `{r['prompt']}`, {how}:\n\n  ```text\n  "
                         + r["output"].replace("\n", "\n  ") + "\n  ```")
    evals = [e for e in train_stats["log"] if "val_prose" in e]
    curve = "\n".join(f"| {e['step']} | {e['elapsed_s']/60:.1f} | {e['val_prose']:.3f} | {e['val_chat']:.3f} |" for e in evals)
    text = f"""# granite-austen — a tiny Granite-4.0-H-shaped demo model

**What it is:** a {s['params']/1e6:.2f}M-parameter `GraniteMoeHybridForCausalLM` trained from scratch, for about
{s['train_wall_s']/60:.0f} minutes on one CPU core, on the six novels of Jane Austen. It is the default model the
engine bundles so that a first run writes real (if Austen-flavoured and often nonsensical) English, and a
small, fast fixture that exercises every architectural path of the IBM Granite 4.0 hybrid ("H") models:
Mamba-2 mixers, NoPE grouped-query attention, routed top-k experts plus a shared MLP, the Granite
multipliers, tied embeddings, and the Granite chat template and special tokens.

**What it is not:** it is **not** IBM's Granite, contains no IBM weights, and knows nothing beyond what a
tiny model can pick up from ~4 MB of 19th-century novels. It does not follow instructions, cannot use tools,
and makes things up. Greedy decoding soon falls into loops, and its chat replies are generic Austen
dialogue lines that barely depend on the question (often the very same sentence) — but it does answer in
the assistant turn and stops with `<|end_of_text|>`. Use it to check that the engine runs, not to judge
output quality.

## Data and licenses

* Text: *Sense and Sensibility*, *Pride and Prejudice*, *Mansfield Park*, *Emma*, *Northanger Abbey*,
  *Persuasion* by Jane Austen — public domain. Read from the Debian package `r-cran-janeaustenr`
  (R package janeaustenr {__import__('re').search(r'Version: (.*)', open(os.path.join(JANEAUSTENR, 'DESCRIPTION')).read()).group(1)} by Julia Silge, MIT license; text from Project Gutenberg).
* Preparation: paragraphs, front matter and chapter headings removed, `_italics_` markers stripped.
  The last {args.val_frac:.0%} of each novel's paragraphs is held out.
  Training prose: {data_stats['train_paragraphs']} paragraphs, {data_stats['train_prose_chars']/1e6:.2f}M characters,
  {data_stats['train_prose_tokens']/1e6:.2f}M tokens ({data_stats['chars_per_token']:.2f} chars/token).
* Chat data: runs of consecutive dialogue paragraphs become user/assistant turns (1–3 exchanges; narration
  such as "said he" removed), rendered with the Granite chat template (`scripts/granite_chat_template.jinja`;
  60% with the template's default system prompt, the rest with one of three short system prompts):
  {data_stats['train_conversations']} conversations, {data_stats['train_chat_tokens']/1e6:.2f}M tokens.
  Training rows: {args.chat_frac:.0%} chat, {1-args.chat_frac:.0%} prose windows.
* No third-party model weights are involved: the model is trained from random initialisation on the
  public-domain text above only.

## Architecture

| field | value |
|---|---|
| model_type / class | `granitemoehybrid` / `GraniteMoeHybridForCausalLM` |
| parameters | {s['params']:,} (embedding tied with lm_head, counted once) |
| model.safetensors | {size/1e6:.2f} MB, bfloat16, released-checkpoint tensor names (`block_sparse_moe.input_linear.weight`, …; no `lm_head.weight`) |
| vocab_size | {cfg['vocab_size']} (byte-level BPE, {cfg['vocab_size']-len(ADDED_TOKENS)} BPE tokens + {len(ADDED_TOKENS)} Granite added tokens at the end) |
| hidden_size | {cfg['hidden_size']} |
| layers | {cfg['num_hidden_layers']}: {n_mamba} Mamba-2, {len(attn_idx)} attention at indices {attn_idx} (`layer_types`: {cfg['layer_types']}) |
| attention | {cfg['num_attention_heads']} query heads, {cfg['num_key_value_heads']} KV heads (GQA), head_dim {hd}, `position_embedding_type: nope`, `attention_multiplier` = 1/{hd} = {cfg['attention_multiplier']} |
| Mamba-2 | `mamba_n_heads` {cfg['mamba_n_heads']} × `mamba_d_head` {cfg['mamba_d_head']} (d_inner {cfg['mamba_n_heads']*cfg['mamba_d_head']}), `mamba_d_state` {cfg['mamba_d_state']}, `mamba_n_groups` 1, `mamba_d_conv` 4, `mamba_chunk_size` {cfg['mamba_chunk_size']}, conv bias, no proj bias |
| FFN | {cfg['num_local_experts']} routed experts, top-{cfg['num_experts_per_tok']}, `intermediate_size` {cfg['intermediate_size']}, + shared MLP `shared_intermediate_size` {cfg['shared_intermediate_size']} (SiLU-gated) |
| multipliers | `embedding_multiplier` {cfg['embedding_multiplier']}, `residual_multiplier` {cfg['residual_multiplier']}, `logits_scaling` {cfg['logits_scaling']} (divides logits) |
| norms | RMSNorm, eps {cfg['rms_norm_eps']} |
| tokens | `<|end_of_text|>` = bos = eos = {cfg['eos_token_id']}, `<|pad|>` = {cfg['pad_token_id']}; `add_bos_token: false` |
| context | trained on {s['seq_len']}-token windows (`max_position_embeddings` {cfg['max_position_embeddings']} is informational for NoPE) |

## Training

* transformers {gold['versions']['transformers']}, torch {gold['versions']['torch']}, tokenizers {gold['versions']['tokenizers']}; seed {args.seed}.
* AdamW (β 0.9/0.95, weight decay {args.wd} on matrices), peak LR {args.lr}, {args.warmup}-step warmup, cosine decay to
  {args.min_lr_frac:.0%} over a wall-clock budget; batch {s['batch']} × {s['seq_len']} tokens; bf16 autocast; `torch.compile`;
  router load-balancing loss 0.01; Mamba-2 reference init of `dt_bias` / `A_log`.
* {s['steps']} steps, {s['tokens_seen']/1e6:.2f}M tokens seen, {s['train_wall_s']/60:.1f} min wall time on {s['threads']} CPU thread
  ({s['tokens_per_s']} tokens/s on average including compilation and evaluation; up to
  {max((e.get('tok_s', 0) for e in train_stats['log']), default=s['tokens_per_s'])} tokens/s while the core was not shared with other jobs).
* Final losses of the shipped bf16 weights (evaluated in float32, nats/token, {s['seq_len']}-token windows):
  training prose {fe['train_prose']['loss']:.3f} ({fe['train_prose']['tokens']} tokens sampled),
  **held-out prose {fe['val_prose']['loss']:.3f}** (≈ {bpc(fe['val_prose']['loss']):.2f} bits/char; all {fe['val_prose']['tokens']} held-out tokens),
  held-out chat {fe['val_chat']['loss']:.3f} ({fe['val_chat']['tokens']} tokens; includes the easy, repeated system prompts).
  Running training loss at the end (EMA over mixed prose/chat batches, bf16): {s['final_train_loss_ema']:.3f}.

Held-out losses during training (bf16 autocast, {args.val_batches} fixed batches of 8 × {s['seq_len']} tokens):

| step | minutes | held-out prose loss | held-out chat loss |
|---|---|---|---|
{curve}

## Sample outputs (transformers, float32 from the bf16 weights)

{chr(10).join(gen_lines)}

Reference token ids and logit margins for the engine's tests: `tests/fixtures/default_model_golden.json`.

## Retraining

```sh
sudo apt-get install r-cran-janeaustenr
python -m venv .venv && .venv/bin/pip install -r scripts/requirements-dev.txt
OMP_NUM_THREADS=1 .venv/bin/python scripts/train_default_model.py --time-budget-min {args.time_budget_min:g}
# fixed-length alternative (same step count; LR schedule by step instead of by wall clock):
OMP_NUM_THREADS=1 .venv/bin/python scripts/train_default_model.py --max-steps {s['steps']}
```

The script writes this directory (including this README) and `tests/fixtures/default_model_golden.json`.
Training stops at a wall-clock budget, so a rerun on another machine sees a different number of steps
unless `--max-steps` is given.
"""
    with open(os.path.join(args.out, "README.md"), "w") as f:
        f.write(text)
