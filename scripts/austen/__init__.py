"""Code behind scripts/train_default_model.py (the command-line entry point), one concept per module:
corpus (the janeaustenr R lazy-load reader and the novels' paragraphs), tokenizer (byte-level BPE and the
Granite tokenizer files), chat (conversations from Austen's dialogue), model (config, init, on-disk tensor
names), prepare (the encoded token streams), training (sampler, evaluation, training loop), export (the
bf16 checkpoint and its final losses), golden (greedy reference outputs for the engine's tests) and readme
(samples and the model card). Dev-only; CI never runs it. Import it through train_default_model.py, which
sets the thread-count environment before anything loads torch or tokenizers."""
