//! `granite inspect`: what a model is made of and what its caches cost, from config.json and
//! the safetensors headers (no GPU needed).
use clap::Args;
use granite_engine::inspect::InspectReport;
use granite_engine::{LayerKind, ModelConfig, TensorCategory};

use super::model_arg::ModelArg;

#[derive(Args)]
pub struct InspectArgs {
    #[command(flatten)]
    model: ModelArg,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Context lengths (tokens) at which to show the per-session cache size.
    #[arg(long, value_delimiter = ',', default_values_t = [4096u64, 32768, 131072])]
    context: Vec<u64>,
}

pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    let d = granite_engine::describe_at(&args.model.source()?, &args.context)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(());
    }
    print_text(&d.model, &d.config, &d.report);
    if let Some(g) = &d.gguf {
        println!("\n{}", g.text().trim_end());
    }
    Ok(())
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", b / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", b / 1_048_576.0),
        _ => format!("{:.2} GiB", b / 1_073_741_824.0),
    }
}

fn params(n: u64) -> String {
    match n {
        0..10_000 => format!("{n}"),
        10_000..10_000_000 => format!("{:.1} K", n as f64 / 1e3),
        10_000_000..10_000_000_000 => format!("{:.1} M", n as f64 / 1e6),
        _ => format!("{:.2} B", n as f64 / 1e9),
    }
}

fn print_text(dir: &str, cfg: &ModelConfig, r: &InspectReport) {
    let pattern: String = cfg
        .layer_types
        .iter()
        .map(|k| if *k == LayerKind::Mamba { 'M' } else { 'A' })
        .collect();
    println!("model        {dir}");
    println!(
        "layers       {} ({} Mamba-2, {} attention): {pattern}",
        r.n_layers, r.n_mamba_layers, r.n_attention_layers
    );
    println!(
        "hidden       {}  vocab {}  tied embeddings: {}",
        cfg.hidden_size, cfg.vocab_size, cfg.tie_word_embeddings
    );
    if r.n_attention_layers > 0 {
        println!(
            "attention    {} heads, {} KV heads, head dim {}, scale {}, positions: {:?}",
            cfg.num_attention_heads,
            cfg.num_key_value_heads,
            cfg.head_dim,
            cfg.attention_multiplier,
            cfg.position_embedding
        );
    }
    if r.n_mamba_layers > 0 {
        println!(
            "mamba-2      {} heads × {} dims, state {}, {} group(s), conv {}, chunk {}",
            cfg.mamba_n_heads,
            cfg.mamba_d_head,
            cfg.mamba_d_state,
            cfg.mamba_n_groups,
            cfg.mamba_d_conv,
            cfg.mamba_chunk_size
        );
    }
    if cfg.has_experts() {
        println!(
            "ffn          {} routed experts (top {}) of width {} + shared MLP of width {}",
            cfg.num_local_experts,
            cfg.num_experts_per_tok,
            cfg.intermediate_size,
            cfg.shared_intermediate_size
        );
    } else {
        println!(
            "ffn          dense (shared MLP of width {})",
            cfg.shared_intermediate_size
        );
    }
    println!(
        "multipliers  embedding {} residual {} logits ÷{}",
        cfg.embedding_multiplier, cfg.residual_multiplier, cfg.logits_scaling
    );
    println!("\nweights (GPU storage: f16, SSM vectors f32)");
    println!(
        "  {:<18} {:>10} {:>12} {:>12}",
        "category", "params", "bytes", "active/token"
    );
    for c in &r.weights.categories {
        if c.count.params == 0 || c.category == TensorCategory::Other {
            continue;
        }
        let name = format!("{:?}", c.category);
        println!(
            "  {:<18} {:>10} {:>12} {:>12}",
            name,
            params(c.count.params),
            human(c.count.bytes),
            params(c.count.active_params)
        );
    }
    let t = r.weights.total;
    println!(
        "  {:<18} {:>10} {:>12} {:>12}",
        "total",
        params(t.params),
        human(t.bytes),
        params(t.active_params)
    );
    println!("\ncache per session (KV f16 grows with context; conv + SSM state f32 is fixed)");
    println!(
        "  KV {} per token; recurrent state {}",
        human(r.kv_bytes_per_token),
        human(r.recurrent_state_bytes)
    );
    println!(
        "  {:>9} {:>12} {:>12} {:>12} {:>14} {:>8}",
        "context", "KV", "state", "total", "all-attention", "saving"
    );
    for c in &r.cache {
        let state = c.conv_state_bytes + c.ssm_state_bytes;
        let saving = if c.all_attention_kv_bytes > 0 {
            format!(
                "{:.0}%",
                100.0 * (1.0 - c.total_bytes as f64 / c.all_attention_kv_bytes as f64)
            )
        } else {
            "-".into()
        };
        println!(
            "  {:>9} {:>12} {:>12} {:>12} {:>14} {:>8}",
            c.context,
            human(c.kv_bytes),
            human(state),
            human(c.total_bytes),
            human(c.all_attention_kv_bytes),
            saving
        );
    }
}
