"""The prepare stage: corpus, tokenizer and chat conversations encoded into token streams with their
piece starts (encode_stream, prose_pieces), written to <work-dir>/data.npz, tokenizer.json, tok/ and
data_stats.json (prepare)."""

import json
import os
import random

import numpy as np

from .chat import build_conversations
from .corpus import REPO, load_corpus
from .tokenizer import EOT, save_tokenizer, train_tokenizer


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
