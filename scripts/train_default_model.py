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
import bz2
import gzip
import json
import lzma
import math
import os
import random
import re
import struct
import sys
import time
import zlib

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JANEAUSTENR = "/usr/lib/R/site-library/janeaustenr"
NOVELS = [  # (R object name, title)
    ("sensesensibility", "Sense and Sensibility"),
    ("prideprejudice", "Pride and Prejudice"),
    ("mansfieldpark", "Mansfield Park"),
    ("emma", "Emma"),
    ("northangerabbey", "Northanger Abbey"),
    ("persuasion", "Persuasion"),
]

# Granite 4.0 added tokens, in Granite's id order (there: 100256..100283; here appended
# right after the BPE vocab).  special=False mirrors the Granite tokenizer for fim/tool/think.
ADDED_TOKENS = [
    ("<|pad|>", True), ("<|end_of_text|>", True),
    ("<|fim_prefix|>", False), ("<|fim_middle|>", False), ("<|fim_suffix|>", False), ("<|fim_pad|>", False),
    ("<|filename|>", True), ("<|reponame|>", True),
    ("<|start_of_role|>", True), ("<|end_of_role|>", True), ("<|unused_1|>", True),
    ("<|start_of_plugin|>", True), ("<|end_of_plugin|>", True), ("<|unk|>", True),
    ("<tool_call>", False), ("</tool_call>", False), ("<tool_response>", False), ("</tool_response>", False),
    ("<think>", False), ("</think>", False), ("<think_on>", True), ("<think_off>", True),
    ("<schema>", True), ("</schema>", True), ("<tools>", True), ("</tools>", True),
    ("<documents>", True), ("</documents>", True),
]
EOT = "<|end_of_text|>"
PAD = "<|pad|>"
# cl100k-style split used by Granite's tokenizer (llama.cpp pre-tokenizer "dbrx").
SPLIT_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")

SYSTEM_PROMPTS = [  # (weight, system content or None = template default)
    (0.6, None),
    (0.15, "You are a character in a novel by Jane Austen."),
    (0.15, "Reply in the style of Jane Austen."),
    (0.1, "You are a helpful assistant."),
]

GOLDEN_PROMPTS = [
    {"name": "fine_morning", "text": "It was a fine morning, and"},
    {"name": "truth_universally", "text": "It is a truth universally acknowledged"},
    {"name": "she_was", "text": "She was"},
    {"name": "chat_dance", "messages": [{"role": "user", "content": "Will you dance with me this evening, Miss Bennet?"}]},
]


# ----------------------------------------------------------------------------------------------
# 1. corpus: a minimal reader for R's XDR serialization + lazy-load databases (.rdx/.rdb)
# ----------------------------------------------------------------------------------------------
class _RReader:
    def __init__(self, buf):
        self.b, self.p, self.refs = buf, 0, []

    def i32(self):
        v = struct.unpack_from(">i", self.b, self.p)[0]
        self.p += 4
        return v

    def header(self):
        assert self.b[:2] == b"X\n", "only XDR-format R serialization is supported"
        self.p = 2
        version = self.i32()
        self.i32()  # writer R version
        self.i32()  # min reader version
        if version == 3:
            n = self.i32()
            self.p += n  # native encoding name
        return self

    def length(self):
        n = self.i32()
        if n == -1:
            hi, lo = self.i32(), self.i32()
            n = (hi << 32) + lo
        return n

    def item(self):
        flags = self.i32()
        t = flags & 0xFF
        has_attr, has_tag = bool(flags & (1 << 9)), bool(flags & (1 << 10))
        if t in (254, 253, 252, 251, 250, 242, 241):  # NULL, global/empty/base env, missing, ...
            return None
        if t == 255:  # REFSXP
            idx = flags >> 8 or self.i32()
            return self.refs[idx - 1]
        if t in (247, 249):  # PERSISTSXP, NAMESPACESXP
            self.i32()
            v = [self.item() for _ in range(self.i32())]
            self.refs.append(v)
            return v
        if t == 4:  # ENVSXP
            self.i32()
            env = {}
            self.refs.append(env)
            self.item()
            env["frame"], env["hashtab"] = self.item(), self.item()
            self.item()
            return env
        if t == 1:  # SYMSXP
            s = self.item()
            self.refs.append(s)
            return s
        if t in (2, 3, 5, 6, 17, 239, 240):  # pairlist-like: (tag, value) list
            if has_attr:
                self.item()
            tag = self.item() if has_tag else None
            car, cdr = self.item(), self.item()
            out = [(tag, car)]
            if isinstance(cdr, list) and cdr and isinstance(cdr[0], tuple):
                out += cdr
            return out
        if t == 9:  # CHARSXP
            n = self.i32()
            if n == -1:
                return None
            s = self.b[self.p:self.p + n]
            self.p += n
            levels = flags >> 12  # LATIN1_MASK = 4, UTF8_MASK = 8
            return s.decode("latin-1" if levels & 4 else "utf-8", errors="replace")
        if t in (10, 13):  # logical, integer
            n = self.length()
            v = list(struct.unpack_from(">%di" % n, self.b, self.p))
            self.p += 4 * n
        elif t in (14, 15):  # double, complex
            n = self.length() * (2 if t == 15 else 1)
            v = list(struct.unpack_from(">%dd" % n, self.b, self.p))
            self.p += 8 * n
        elif t in (16, 19, 20):  # character vector, list, expression
            v = [self.item() for _ in range(self.length())]
        elif t == 24:  # raw
            n = self.length()
            v = self.b[self.p:self.p + n]
            self.p += n
        else:
            raise ValueError("unsupported R SEXP type %d" % t)
        if has_attr:
            attr = self.item()
            names = dict(attr).get("names") if isinstance(attr, list) else None
            if names is not None and t == 19:
                return dict(zip(names, v))
        return v


def _r_unserialize(buf):
    return _RReader(buf).header().item()


def _rdb_blob(buf, off, length):
    c = buf[off:off + length]
    n = struct.unpack(">I", c[:4])[0]
    kind = c[4:5]
    if kind == b"Z":
        out = zlib.decompress(c[5:])
    elif kind == b"2":
        out = bz2.decompress(c[5:])
    elif kind == b"X":
        out = lzma.decompress(c[5:])
    elif kind == b"0":
        out = c[5:]
    else:  # plain zlib (R's default lazy-load compression)
        out = zlib.decompress(c[4:])
    assert len(out) == n, "corrupt R lazy-load blob"
    return out


def read_r_lazyload(prefix):
    raw = open(prefix + ".rdx", "rb").read()
    idx = _r_unserialize(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else _rdb_blob(raw, 0, len(raw)))
    rdb = open(prefix + ".rdb", "rb").read()
    return {name: _r_unserialize(_rdb_blob(rdb, off, ln)) for name, (off, ln) in idx["variables"].items()}


_HEADING = re.compile(r"^(CHAPTER|Chapter|VOLUME|Volume)\b|^(THE )?END\b|^\(?[0-9]{4}\)?$")


def novel_paragraphs(lines):
    """Lines of one novel -> cleaned prose paragraphs (front matter and chapter headings dropped)."""
    paras, cur = [], []
    for line in lines + [""]:
        line = (line or "").strip()
        if line:
            cur.append(line)
        elif cur:
            paras.append(" ".join(cur))
            cur = []
    # drop everything before the first chapter heading (title page, advertisement)
    first = next(i for i, p in enumerate(paras) if re.match(r"^(CHAPTER|Chapter)\b", p))
    out = []
    for p in paras[first:]:
        if _HEADING.match(p) or not re.search(r"[a-z]", p):
            continue
        p = p.replace("_", "")  # Gutenberg italics markers
        p = re.sub(r"\s+", " ", p).strip()
        if p:
            out.append(p)
    return out


def load_corpus(val_frac):
    data = read_r_lazyload(os.path.join(JANEAUSTENR, "data", "Rdata"))
    train, val = {}, {}
    for key, title in NOVELS:
        paras = novel_paragraphs(data[key])
        n_val = max(1, int(round(len(paras) * val_frac)))
        train[title], val[title] = paras[:-n_val], paras[-n_val:]
    return train, val


# ----------------------------------------------------------------------------------------------
# 2. tokenizer
# ----------------------------------------------------------------------------------------------
def train_tokenizer(train_paras, vocab_size):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - len(ADDED_TOKENS), min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    texts = [p + "\n\n" for paras in train_paras.values() for p in paras]
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    assert tok.get_vocab_size() == vocab_size - len(ADDED_TOKENS), tok.get_vocab_size()
    tok.add_tokens([AddedToken(t, special=s, normalized=False) for t, s in ADDED_TOKENS])
    assert tok.get_vocab_size() == vocab_size
    return tok


def save_tokenizer(tok, out_dir, chat_template, max_len):
    """tokenizer.json + tokenizer_config.json in the layout of Granite 4.0 releases."""
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    added = {}
    for content, special in ADDED_TOKENS:
        added[str(tok.token_to_id(content))] = {
            "content": content, "lstrip": False, "normalized": False, "rstrip": False,
            "single_word": False, "special": special}
    cfg = {
        "add_bos_token": False,
        "add_eos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": added,
        "bos_token": EOT,
        "chat_template": chat_template,
        "clean_up_tokenization_spaces": False,
        "eos_token": EOT,
        "errors": "replace",
        "extra_special_tokens": {},
        "model_max_length": max_len,
        "pad_token": PAD,
        "padding_side": "left",
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": "<|unk|>",
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2, ensure_ascii=False)
        f.write("\n")


# ----------------------------------------------------------------------------------------------
# 3. chat pairs from Austen's dialogue
# ----------------------------------------------------------------------------------------------
def speech_of(p):
    """Spoken words of a paragraph (narration removed), or None if it is not a clean dialogue paragraph."""
    if p.count('"') < 2 or p.count('"') % 2:
        return None
    quotes = [q.strip() for q in re.findall(r'"([^"]*)"', p) if q.strip()]
    if not quotes:
        return None
    narration = re.sub(r'"[^"]*"', "", p)
    if len(narration) > 0.6 * len(p):  # mostly narration: skip
        return None
    s = " ".join(quotes)
    s = re.sub(r"\s+", " ", s).strip()
    s = re.sub(r"[,;:\-]+$", ".", s)
    if len(s) < 8 or len(s) > 600:
        return None
    return s


def build_conversations(paras_by_novel, rng):
    convs = []
    for paras in paras_by_novel.values():
        run = []
        for p in paras + [""]:
            s = speech_of(p) if p else None
            if s is not None:
                run.append(s)
                continue
            # every start position (overlapping windows): each reply is also seen as a prompt
            for i in range(len(run) - 1):
                k = min(rng.choice([2, 2, 2, 4, 4, 6]), (len(run) - i) // 2 * 2)
                turns = run[i:i + k]
                msgs = []
                r = rng.random()
                acc = 0.0
                for w, sysmsg in SYSTEM_PROMPTS:
                    acc += w
                    if r < acc:
                        if sysmsg:
                            msgs.append({"role": "system", "content": sysmsg})
                        break
                for j, t in enumerate(turns):
                    msgs.append({"role": "user" if j % 2 == 0 else "assistant", "content": t})
                convs.append(msgs)
            run = []
    return convs


# ----------------------------------------------------------------------------------------------
# 4. model
# ----------------------------------------------------------------------------------------------
def model_config_dict(args, vocab_size, eot_id, pad_id):
    H, heads = args.hidden, args.heads
    layer_types = ["attention" if i in args.attn_layers else "mamba" for i in range(args.layers)]
    return {
        "architectures": ["GraniteMoeHybridForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "attention_multiplier": 1.0 / (H // heads),
        "bos_token_id": eot_id,
        "embedding_multiplier": 12.0,
        "eos_token_id": eot_id,
        "hidden_act": "silu",
        "hidden_size": H,
        "init_method": "mup",
        "initializer_range": 0.02,
        "intermediate_size": args.expert_ffn,
        "layer_types": layer_types,
        "logits_scaling": args.logits_scaling,
        "mamba_chunk_size": 64,
        "mamba_conv_bias": True,
        "mamba_d_conv": 4,
        "mamba_d_head": args.mamba_d_head,
        "mamba_d_state": args.d_state,
        "mamba_expand": 2,
        "mamba_n_groups": 1,
        "mamba_n_heads": 2 * H // args.mamba_d_head,
        "mamba_proj_bias": False,
        "max_position_embeddings": 4096,
        "model_type": "granitemoehybrid",
        "normalization_function": "rmsnorm",
        "num_attention_heads": heads,
        "num_experts_per_tok": 2,
        "num_hidden_layers": args.layers,
        "num_key_value_heads": args.kv_heads,
        "num_local_experts": args.experts,
        "output_router_logits": False,
        "pad_token_id": pad_id,
        "position_embedding_type": "nope",
        "residual_multiplier": 0.22,
        "rms_norm_eps": 1e-5,
        "rope_scaling": None,
        "rope_theta": 10000.0,
        "router_aux_loss_coef": 0.01,
        "shared_intermediate_size": args.shared_ffn,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "vocab_size": vocab_size,
    }


def build_model(cfg_dict, seed):
    from transformers import GraniteMoeHybridConfig, GraniteMoeHybridForCausalLM

    kw = {k: v for k, v in cfg_dict.items() if k not in ("architectures", "model_type", "torch_dtype")}
    config = GraniteMoeHybridConfig(**kw)
    torch.manual_seed(seed)
    model = GraniteMoeHybridForCausalLM(config)
    # Mamba-2 reference initialisation (dt log-uniform in [1e-3, 1e-1], A in [1, 16]) instead of
    # transformers' dt_bias=1 / A=1..nH, which forgets very quickly at this size.
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for layer in model.model.layers:
            if layer.mamba is None:
                continue
            m = layer.mamba
            n = m.num_heads
            dt = torch.exp(torch.rand(n, generator=g) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
            dt = dt.clamp(min=1e-4)
            m.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
            m.A_log.copy_(torch.log(torch.empty(n).uniform_(1, 16, generator=g)))
            m.D.fill_(1.0)
    return model


def legacy_state_dict(model):
    """In-memory (transformers v5) names -> the on-disk names of released Granite 4.0 checkpoints."""
    out = {}
    for k, v in model.state_dict().items():
        if k == "lm_head.weight":
            continue  # tied to model.embed_tokens.weight
        k2 = k.replace("block_sparse_moe.experts.gate_up_proj", "block_sparse_moe.input_linear.weight")
        k2 = k2.replace("block_sparse_moe.experts.down_proj", "block_sparse_moe.output_linear.weight")
        k2 = k2.replace("block_sparse_moe.router.weight", "block_sparse_moe.router.layer.weight")
        out[k2] = v.detach().to(torch.bfloat16).contiguous()
    return out


# ----------------------------------------------------------------------------------------------
# data sampling
# ----------------------------------------------------------------------------------------------
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


def encode_stream(tok, pieces):
    """Encode pieces separately (so piece starts are token starts) and concatenate."""
    ids, starts = [], []
    for enc in tok.encode_batch(pieces, add_special_tokens=False):
        starts.append(len(ids))
        ids.extend(enc.ids)
    return np.array(ids, dtype=np.int32), np.array(starts, dtype=np.int64)


def prose_pieces(paras_by_novel):
    pieces = []
    for paras in paras_by_novel.values():
        pieces += [p + "\n\n" for p in paras[:-1]] + [paras[-1] + EOT]
    return pieces


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


# ----------------------------------------------------------------------------------------------
# main stages
# ----------------------------------------------------------------------------------------------
def prepare(args):
    from tokenizers import Tokenizer

    random.seed(args.seed)
    train_p, val_p = load_corpus(args.val_frac)
    os.makedirs(args.work_dir, exist_ok=True)
    tok_path = os.path.join(args.work_dir, "tokenizer.json")
    tok = train_tokenizer(train_p, args.vocab)
    tok.save(tok_path)
    tok = Tokenizer.from_file(tok_path)

    template = open(os.path.join(REPO, "scripts", "granite_chat_template.jinja")).read()
    tmp_tok_dir = os.path.join(args.work_dir, "tok")
    os.makedirs(tmp_tok_dir, exist_ok=True)
    save_tokenizer(tok, tmp_tok_dir, template, 4096)
    from transformers import AutoTokenizer
    hf_tok = AutoTokenizer.from_pretrained(tmp_tok_dir)

    rng = random.Random(args.seed)
    convs_train = build_conversations(train_p, rng)
    convs_val = build_conversations(val_p, rng)
    rng.shuffle(convs_train)
    render = lambda msgs: hf_tok.apply_chat_template(msgs, tokenize=False)  # noqa: E731

    prose_ids, pstarts = encode_stream(tok, prose_pieces(train_p))
    vprose_ids, vpstarts = encode_stream(tok, prose_pieces(val_p))
    chat_ids, cstarts = encode_stream(tok, [render(c) for c in convs_train])
    vchat_ids, vcstarts = encode_stream(tok, [render(c) for c in convs_val])
    n_chars = sum(len(p) + 2 for ps in train_p.values() for p in ps)
    stats = {
        "train_paragraphs": sum(len(v) for v in train_p.values()),
        "val_paragraphs": sum(len(v) for v in val_p.values()),
        "train_prose_chars": n_chars,
        "train_prose_tokens": int(len(prose_ids)),
        "val_prose_tokens": int(len(vprose_ids)),
        "train_conversations": len(convs_train),
        "val_conversations": len(convs_val),
        "train_chat_tokens": int(len(chat_ids)),
        "val_chat_tokens": int(len(vchat_ids)),
        "chars_per_token": n_chars / len(prose_ids),
        "example_conversation": render(convs_train[0]),
    }
    np.savez(os.path.join(args.work_dir, "data.npz"), prose=prose_ids, pstarts=pstarts, vprose=vprose_ids,
             vpstarts=vpstarts, chat=chat_ids, cstarts=cstarts, vchat=vchat_ids, vcstarts=vcstarts)
    with open(os.path.join(args.work_dir, "data_stats.json"), "w") as f:
        json.dump(stats, f, indent=2)
    print("data:", json.dumps({k: v for k, v in stats.items() if k != "example_conversation"}), flush=True)
    print("example conversation:\n" + stats["example_conversation"], flush=True)
    return stats


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
           "pad_token_id": cfg["pad_token_id"], "transformers_version": transformers.__version__}
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
  {max(e.get('tok_s', 0) for e in train_stats['log'])} tokens/s while the core was not shared with other jobs).
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
