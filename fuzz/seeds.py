#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/seed-*) from the test
fixtures plus a few hand-written edge cases. Standard library only; run from anywhere:

    python3 fuzz/seeds.py

Existing seed-* files are replaced; inputs the fuzzer added (hash-named files) are kept.
"""
import json
import struct
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
FIXTURES = FUZZ.parent / "tests" / "fixtures"
MODELS = ["moe_nope", "dense_rope", "attn_only", "mamba_groups"]
SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2,
         "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8}


def write_seeds(target, seeds):
    out = FUZZ / "corpus" / target
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("seed-*"):
        old.unlink()
    for name, data in seeds.items():
        if isinstance(data, str):
            data = data.encode()
        (out / f"seed-{name}").write_bytes(data)


def safetensors(tensors, metadata=True, pad=True):
    """tensors: list of (name, dtype, shape); data is a byte pattern."""
    header = {"__metadata__": {"format": "pt"}} if metadata else {}
    data = bytearray()
    for name, dtype, shape in tensors:
        n = SIZES[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + n]}
        data += bytes((i * 7 + 3) % 256 for i in range(n))
    h = json.dumps(header, separators=(",", ":")).encode()
    while pad and len(h) % 8:
        h += b" "
    return struct.pack("<Q", len(h)) + h + bytes(data)


def shrink(shape):
    return [min(d, 2) for d in shape]


def safetensors_seeds():
    seeds = {}
    for m in MODELS:
        raw = (FIXTURES / m / "model.safetensors").read_bytes()
        n = struct.unpack("<Q", raw[:8])[0]
        header = json.loads(raw[8:8 + n])
        # The real header, every shape cut to at most 2 per dim, so the file stays tiny but valid.
        tensors = [(k, v["dtype"], shrink(v["shape"])) for k, v in header.items() if k != "__metadata__"]
        seeds[f"{m}-shrunk"] = safetensors(tensors[:12])
        # The real first bytes: a complete header whose data is cut off.
        seeds[f"{m}-head"] = raw[:min(len(raw), 8 + n + 64)]
    seeds["empty-object"] = safetensors([], metadata=False)
    seeds["metadata-only"] = safetensors([])
    seeds["every-dtype"] = safetensors([(f"t.{d}", d, [2]) for d in SIZES])
    seeds["scalar-and-empty"] = safetensors([("s", "F32", []), ("z", "BF16", [0, 3]), ("v", "F16", [3])])
    seeds["unpadded"] = safetensors([("a", "BF16", [2, 3]), ("b", "F32", [4])], pad=False)
    seeds["short"] = b"\x08\x00\x00\x00"
    return seeds


def config_seeds():
    seeds = {m: (FIXTURES / m / "config.json").read_text() for m in MODELS}
    for p in sorted((FIXTURES / "config_variants").glob("*.json")):
        seeds[p.stem.replace(".", "-")] = p.read_text()
    hybrid = {
        "model_type": "granitemoehybrid", "vocab_size": 64, "hidden_size": 16,
        "num_hidden_layers": 4, "layer_types": ["mamba", "attention", "mamba", "attention"],
        "num_attention_heads": 4, "num_key_value_heads": 2, "attention_multiplier": 0.25,
        "position_embedding_type": "nope", "max_position_embeddings": 4096, "rms_norm_eps": 1e-5,
        "hidden_act": "silu", "embedding_multiplier": 12.0, "residual_multiplier": 0.22,
        "logits_scaling": 6.0, "num_local_experts": 4, "num_experts_per_tok": 2,
        "intermediate_size": 8, "shared_intermediate_size": 12, "mamba_n_heads": 4,
        "mamba_d_head": 8, "mamba_n_groups": 1, "mamba_d_state": 8, "mamba_d_conv": 4,
        "mamba_expand": 2, "mamba_chunk_size": 256, "mamba_conv_bias": True,
        "mamba_proj_bias": True, "attention_bias": True, "tie_word_embeddings": False,
        "bos_token_id": 60, "eos_token_id": [60, 61], "pad_token_id": None,
    }
    seeds["tiny-hybrid"] = json.dumps(hybrid)
    rope = dict(hybrid, position_embedding_type="rope", rope_theta=1e7,
                rope_scaling={"rope_type": "default", "rope_theta": 5e5}, mamba_d_head="auto",
                layers_block_type=hybrid["layer_types"], layer_types=None, head_dim=4)
    seeds["tiny-rope-auto"] = json.dumps(rope)
    seeds["python-literals"] = json.dumps(hybrid)[:-1] + ', "time_step_limit": [0.0, Infinity], "x": NaN, "y": -Infinity}'
    seeds["defaults-only"] = '{"model_type": "granitemoehybrid"}'
    t5 = dict(hybrid, layer_types=["linear_attention", "full_attention", "linear_attention", "full_attention"],
              time_step_limit=[0.0, {"__float__": "Infinity"}], rms_norm_eps={"__float__": "1e-5"})
    seeds["transformers5-tags"] = json.dumps(t5)
    return seeds


def tokenizer_config_seeds():
    real = (FIXTURES / MODELS[0] / "tokenizer_config.json").read_text()
    base = json.loads(real)
    seeds = {"granite": real}

    def with_template(t, **extra):
        d = {"bos_token": "<|end_of_text|>", "eos_token": "<|end_of_text|>", "pad_token": "<|pad|>",
             "unk_token": "<|unk|>", "add_bos_token": False, "chat_template": t}
        d.update(extra)
        return json.dumps(d, ensure_ascii=False)

    seeds["list-form"] = json.dumps({"chat_template": [{"name": "tool_use", "template": "x"},
                                                       {"name": "default", "template": base["chat_template"]}],
                                     "bos_token": {"content": "<|end_of_text|>", "special": True},
                                     "add_bos_token": True})
    seeds["no-template"] = '{"eos_token": "<|end_of_text|>", "chat_template": null}'
    small = {
        "loop": "{% for m in messages %}<|start_of_role|>{{ m.role }}<|end_of_role|>{{ m.content }}{{ eos_token }}\n{% endfor %}{% if add_generation_prompt %}<|start_of_role|>assistant<|end_of_role|>{% endif %}",
        "tojson": "{{ tools | tojson(indent=2) }}{{ documents | tojson(ensure_ascii=True, sort_keys=True) }}{{ messages[2].tool_calls[0].function.arguments | tojson(separators=[',', ':']) }}",
        "pycompat": "{% for k, v in messages[0].items() %}{{ k.upper() }}={{ v | string | trim }}{% endfor %}{{ 'a,b'.split(',') | join('|') }}{{ ' x '.strip() }}{{ messages | length }}",
        "macro-ns": "{% macro r(n) %}{% if n > 0 %}{{ n }}{{ r(n - 1) }}{% endif %}{% endmacro %}{{ r(5) }}{% set ns = namespace(x=[]) %}{% for i in range(3) %}{% set ns.x = ns.x + [i] %}{% endfor %}{{ ns.x }}",
        "raise": "{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}",
        "strftime": "{{ strftime_now('%Y-%m-%d %H:%M %A %B %-d %j') }}",
        "loop-controls": "{% for m in messages %}{% if loop.index > 2 %}{% break %}{% endif %}{% if m.content is none %}{% continue %}{% endif %}{{ loop.index0 }}{{ m.content }}{% endfor %}",
        "syntax-error": "{% for m in messages %}{{ m.role }",
    }
    # Hostile templates (see engine/tests/loader_regressions_template.rs): mutations of them
    # probe the fuel, recursion and size limits.
    small.update({
        "hostile-loops": "{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}{% endfor %}{% endfor %}",
        "hostile-expo": "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
        "hostile-deep": "{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% for j in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}{% endfor %}{{ ns.x }}",
        "hostile-recursion": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        "hostile-indent": "{{ tools | tojson(indent=1000000000000) }}{{ tools | tojson(indent=' ' * 99999) }}",
        "hostile-strings": "{% for i in range(100000) %}{{ 'x' * 90000000 }}{{ (range(100000) | list) * 1000 }}{% endfor %}",
    })
    for name, t in small.items():
        seeds[name] = with_template(t)
    return seeds


def index_seeds():
    shards = [
        ("model-00001-of-00002.safetensors", ["model.embed_tokens.weight", "model.norm.weight",
                                               "model.layers.0.input_layernorm.weight",
                                               "model.layers.0.post_attention_layernorm.weight",
                                               "model.layers.0.self_attn.q_proj.weight",
                                               "model.layers.0.self_attn.k_proj.weight"]),
        ("model-00002-of-00002.safetensors", ["model.layers.0.self_attn.v_proj.weight",
                                               "model.layers.0.self_attn.o_proj.weight",
                                               "model.layers.0.shared_mlp.input_linear.weight",
                                               "model.layers.0.shared_mlp.output_linear.weight",
                                               "model.layers.0.extra.weight"]),
    ]
    full = {name: shard for shard, names in shards for name in names}
    seeds = {
        "valid": json.dumps({"metadata": {"total_size": 92}, "weight_map": full}, indent=2),
        "subset": json.dumps({"weight_map": {k: v for k, v in list(full.items())[:3]}}),
        "wrong-shard": json.dumps({"weight_map": dict(full, **{"model.norm.weight": shards[1][0]})}),
        "missing-shard": json.dumps({"weight_map": dict(full, extra="model-00003-of-00003.safetensors")}),
        "traversal": json.dumps({"weight_map": {"a": "../model-00001-of-00002.safetensors"}}),
        "not-a-shard": json.dumps({"weight_map": {"a": "config.json"}}),
        "empty": '{"weight_map": {}}',
    }
    return seeds


if __name__ == "__main__":
    write_seeds("safetensors_header", safetensors_seeds())
    write_seeds("safetensors_index", index_seeds())
    write_seeds("config_json", config_seeds())
    write_seeds("tokenizer_config", tokenizer_config_seeds())
    for d in sorted((FUZZ / "corpus").iterdir()):
        files = list(d.iterdir())
        print(f"{d.name}: {len(files)} files, {sum(f.stat().st_size for f in files)} bytes")
