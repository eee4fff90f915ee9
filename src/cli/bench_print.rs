//! `granite bench`'s markdown report: the results table, the profiles, the sessions table.
use super::bench::Report;
use super::bench_sessions;

pub(super) fn print_markdown(r: &Report) {
    println!("model: {} ({})", r.model, r.shape);
    println!("generation tests sample: {}", r.sampling);
    println!(
        "adapter: {} — {} — {} — f16: {}, subgroups: {}, fused norms: {}, lane rows: {}",
        r.adapter, r.backend, r.driver, r.f16, r.subgroups, r.fused_norms, r.lane_rows
    );
    let bw = &r.bandwidth;
    println!(
        "bandwidth (same run, {} MiB buffers): copy {:.2} GB/s (read+write; buffer copy {:.2}, \
         copy kernel {:.2}), read-only kernel {:.2} GB/s (interleaved {:.2}, runs {:.2})\n",
        bw.probe_bytes >> 20,
        bw.copy_gb_s,
        bw.buffer_copy_gb_s,
        bw.kernel_copy_gb_s,
        bw.read_gb_s,
        bw.read_interleaved_gb_s,
        bw.read_runs_gb_s
    );
    println!(
        "| test | t/s | bytes/token | GB/s | of copy bw | of read bw | host ms/token | dispatches |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for t in &r.results {
        let opt =
            |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map(f).unwrap_or_else(|| "–".into());
        println!(
            "| {} | {:.2} ± {:.2} | {} | {} | {} | {} | {:.3} | {} |",
            t.test,
            t.tok_s_mean,
            t.tok_s_std,
            t.bytes_per_token
                .map(|b| format!("{:.1} MB", b as f64 / 1e6))
                .unwrap_or_else(|| "–".into()),
            opt(t.achieved_gb_s, &|g| format!("{g:.2}")),
            opt(t.fraction_of_copy, &|f| format!("{:.0}%", f * 100.0)),
            opt(t.fraction_of_read, &|f| format!("{:.0}%", f * 100.0)),
            t.host_ms_per_token,
            opt(t.dispatches, &|d| format!("{d:.0}")),
        );
    }
    for t in &r.results {
        if let Some(p) = &t.profile {
            let per = if t.test.starts_with("tg") {
                p.submissions.max(1) as f64
            } else {
                1.0
            };
            let unit = if t.test.starts_with("tg") {
                "per token"
            } else {
                "per prompt"
            };
            println!(
                "\nprofile {} ({unit}; {} dispatches, {} buffer barriers{}):",
                t.test,
                p.total_dispatches() as f64 / per,
                p.barriers as f64 / per,
                if p.timed {
                    ""
                } else {
                    ", no timestamp queries: counts only"
                }
            );
            let total: f64 = p.families.iter().map(|f| f.seconds).sum();
            let mut fams = p.families.clone();
            fams.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
            for f in fams {
                println!(
                    "  {:<14} {:>6.1} dispatches {:>9.3} ms {:>5.1}%",
                    f.family,
                    f.dispatches as f64 / per,
                    f.seconds * 1e3 / per,
                    100.0 * f.seconds / total.max(1e-12)
                );
            }
        }
    }
    bench_sessions::print(&r.sessions);
}
