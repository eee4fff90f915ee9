"""Stage 2, tokenizer: Granite 4.0's added/special tokens (ADDED_TOKENS, EOT, PAD), the cl100k-style split
regex (SPLIT_REGEX), training the byte-level BPE on the training prose (train_tokenizer) and writing
tokenizer.json + tokenizer_config.json in the layout of Granite 4.0 releases (save_tokenizer)."""

import json
import os


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
