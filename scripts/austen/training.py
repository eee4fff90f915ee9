"""The train stage: batches of prose windows or packed chat conversations (Sampler), the held-out loss
under bf16 autocast (evaluate) and the training loop with its wall-clock or step budget, checkpoints and
logs in <work-dir> (train)."""

import json
import math
import os
import time

import numpy as np
import torch

from .model import build_model, model_config_dict
from .tokenizer import EOT, PAD


class Sampler:
    """Rows are either a prose window that starts at a paragraph start, or packed chat conversations
    starting at a conversation start (both length T+1 -> inputs/labels)."""

    def __init__(self, prose_ids, para_starts, chat_ids, chat_starts, T, chat_frac, seed):
        self.prose, self.pstarts = prose_ids, para_starts[para_starts < len(prose_ids) - T - 1]
        self.chat, self.cstarts = chat_ids, chat_starts[chat_starts < len(chat_ids) - T - 1]
        self.T, self.chat_frac = T, chat_frac
        self.rng = np.random.default_rng(seed)

    def row(self):
        if self.rng.random() < self.chat_frac:
            s = self.cstarts[self.rng.integers(len(self.cstarts))]
            return self.chat[s:s + self.T + 1]
        s = self.pstarts[self.rng.integers(len(self.pstarts))]
        return self.prose[s:s + self.T + 1]

    def batch(self, B):
        return torch.from_numpy(np.stack([self.row() for _ in range(B)]).astype(np.int64))


@torch.no_grad()
def evaluate(model, batches):
    model.eval()
    tot, n = 0.0, 0
    for x in batches:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(input_ids=x[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                                 x[:, 1:].reshape(-1), reduction="sum")
        tot += loss.item()
        n += x[:, 1:].numel()
    model.train()
    return tot / n


def train(args):
    from tokenizers import Tokenizer

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    tok = Tokenizer.from_file(os.path.join(args.work_dir, "tokenizer.json"))
    d = np.load(os.path.join(args.work_dir, "data.npz"))
    cfg = model_config_dict(args, tok.get_vocab_size(), tok.token_to_id(EOT), tok.token_to_id(PAD))
    model = build_model(cfg, args.seed)
    n_params = sum(p.numel() for p in model.parameters())  # tied: embedding counted once
    print("params:", n_params, flush=True)

    T, B = args.seq_len, args.batch
    sampler = Sampler(d["prose"], d["pstarts"], d["chat"], d["cstarts"], T, args.chat_frac, args.seed)
    vs_prose = Sampler(d["vprose"], d["vpstarts"], d["vchat"], d["vcstarts"], T, 0.0, args.seed + 7)
    vs_chat = Sampler(d["vprose"], d["vpstarts"], d["vchat"], d["vcstarts"], T, 1.0, args.seed + 8)
    val_prose = [vs_prose.batch(8) for _ in range(args.val_batches)]
    val_chat = [vs_chat.batch(8) for _ in range(max(1, args.val_batches // 2))]

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim >= 2 and "embed_tokens" not in name else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    ckpt_path = os.path.join(args.work_dir, "ckpt.pt")
    step, elapsed_prev, log = 0, 0.0, []
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed_prev, log = ck["step"], ck["elapsed"], ck["log"]
        sampler.rng = ck["rng"]
        print("resumed at step", step, flush=True)

    fwd = torch.compile(model) if args.compile else model
    model.train()
    budget = args.time_budget_min * 60.0

    def progress(elapsed):
        return step / args.max_steps if args.max_steps else elapsed / budget

    def save(elapsed):
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed,
                    "log": log, "rng": sampler.rng, "config": cfg}, ckpt_path + ".tmp")
        os.replace(ckpt_path + ".tmp", ckpt_path)

    t_start = time.time() - elapsed_prev
    last_ckpt = last_eval = time.time()
    ema = None
    tokens_seen = step * B * T
    t_tok, n_tok = time.time(), 0
    while True:
        elapsed = time.time() - t_start
        frac = progress(elapsed)
        if frac >= 1.0:
            break
        warm = min(1.0, (step + 1) / args.warmup)
        lr = args.lr * warm * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        x = sampler.batch(B)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = fwd(input_ids=x, labels=x, output_router_logits=True)
        loss = out.loss
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        tokens_seen += B * T
        n_tok += B * T
        ce = (loss - model.config.router_aux_loss_coef * out.aux_loss).item()
        ema = ce if ema is None else 0.98 * ema + 0.02 * ce
        if step % 25 == 0:
            now = time.time()
            tps = n_tok / (now - t_tok)
            t_tok, n_tok = now, 0
            print(f"step {step} t={elapsed/60:.1f}m lr={lr:.2e} loss={ce:.3f} ema={ema:.3f} aux={out.aux_loss.item():.3f} "
                  f"gnorm={gn.item():.2f} tok/s={tps:.0f} seen={tokens_seen/1e6:.2f}M", flush=True)
            log.append({"step": step, "elapsed_s": round(elapsed, 1), "lr": lr, "loss": round(ce, 4),
                        "ema": round(ema, 4), "tok_s": round(tps)})
        if time.time() - last_eval > args.eval_every_min * 60:
            vp, vc = evaluate(model, val_prose), evaluate(model, val_chat)
            print(f"== eval step {step}: val_prose={vp:.3f} val_chat={vc:.3f}", flush=True)
            log.append({"step": step, "elapsed_s": round(elapsed, 1), "val_prose": round(vp, 4), "val_chat": round(vc, 4)})
            last_eval = time.time()
        if time.time() - last_ckpt > args.ckpt_every_min * 60:
            save(time.time() - t_start)
            last_ckpt = time.time()
    elapsed = time.time() - t_start
    vp, vc = evaluate(model, val_prose), evaluate(model, val_chat)
    n_val_tok = sum(b[:, 1:].numel() for b in val_prose)
    stats = {
        "params": n_params, "steps": step, "batch": B, "seq_len": T, "tokens_seen": tokens_seen,
        "train_wall_s": round(elapsed, 1), "tokens_per_s": round(tokens_seen / elapsed),
        "final_train_loss_ema": round(ema, 4), "final_val_prose_loss": round(vp, 4), "final_val_chat_loss": round(vc, 4),
        "val_prose_tokens_evaluated": n_val_tok, "lr": args.lr, "compile": args.compile, "threads": args.threads,
        "torch": torch.__version__,
    }
    print("final:", json.dumps(stats), flush=True)
    save(elapsed)
    with open(os.path.join(args.work_dir, "train_stats.json"), "w") as f:
        json.dump({"stats": stats, "log": log}, f, indent=1)
    return stats
