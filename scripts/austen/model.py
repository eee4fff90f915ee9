"""The model: the GraniteMoeHybrid config.json dict in the released (legacy) layout (model_config_dict),
the model with the Mamba-2 reference initialisation (build_model) and the map from in-memory tensor names to
the on-disk names of released Granite 4.0 checkpoints (legacy_state_dict)."""

import math

import torch


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
