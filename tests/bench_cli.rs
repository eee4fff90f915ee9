//! `granite bench` end to end on the bundled model: the JSON report holds the tests asked for,
//! with positive speeds, the bandwidth roof, dispatch counts and the sampling used.
use std::process::Command;

use serde_json::Value;

fn bench(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_granite"))
        .args(["bench", "--json", "-r", "1"])
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "granite bench {args:?} failed: {err}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {err}"))
}

#[test]
fn json_report_covers_prompt_generation_and_sampling() {
    let r = bench(&[
        "-p",
        "5",
        "-n",
        "4",
        "--temperature",
        "0.7",
        "--top-p",
        "0.9",
    ]);
    assert_eq!(r["sampling"], "temperature 0.7, top-k 0, top-p 0.9");
    let bw = &r["bandwidth"];
    assert!(bw["copy_gb_s"].as_f64().unwrap() > 0.0, "{bw}");
    assert!(bw["read_gb_s"].as_f64().unwrap() > 0.0, "{bw}");
    for pattern in ["read_interleaved_gb_s", "read_runs_gb_s"] {
        assert!(bw[pattern].as_f64().unwrap() > 0.0, "{bw}");
    }
    let tests: Vec<&Value> = r["results"].as_array().unwrap().iter().collect();
    let names: Vec<&str> = tests.iter().map(|t| t["test"].as_str().unwrap()).collect();
    assert_eq!(names, ["pp5", "tg4"]);
    for t in &tests {
        assert!(t["tok_s_mean"].as_f64().unwrap() > 0.0, "{t}");
        assert!(t["dispatches"].as_f64().unwrap() >= 1.0, "{t}");
    }
    let tg = tests[1];
    assert!(tg["bytes_per_token"].as_u64().unwrap() > 1_000_000, "{tg}");
    assert!(tg["fraction_of_read"].as_f64().unwrap() > 0.0, "{tg}");
    let greedy = bench(&["-p", "0", "-n", "2"]);
    assert_eq!(greedy["sampling"], "greedy");
    // The layout asked for is the one reported (and used: the run must still succeed).
    for (flag, want) in [("on", true), ("off", false)] {
        let r = bench(&[
            "-p",
            "3",
            "-n",
            "2",
            "--lane-rows",
            flag,
            "--fused-norms",
            flag,
        ]);
        assert_eq!(r["lane_rows"], want, "--lane-rows {flag}");
        assert_eq!(r["fused_norms"], want, "--fused-norms {flag}");
    }
}

/// `--sessions`: aggregate decode with several sessions at once, and each session's caches.
#[test]
fn sessions_report_aggregate_speed_and_cache_per_session() {
    let r = bench(&["-p", "0", "-n", "6", "--sessions", "1,3"]);
    let s = r["sessions"].as_array().unwrap();
    assert_eq!(s.len(), 2, "{r}");
    assert_eq!(s[0]["sessions"], 1);
    assert_eq!(s[1]["sessions"], 3);
    for row in s {
        assert_eq!(row["tokens"], 6);
        assert!(row["aggregate_tok_s"].as_f64().unwrap() > 0.0, "{row}");
        // The bundled model's caches: 4 Mamba layers' states plus 2 attention layers' KV.
        assert!(
            row["cache_bytes_per_session"].as_u64().unwrap() > 10_000,
            "{row}"
        );
    }
    assert!(s[0]["vs_one"].is_null());
    assert!(s[1]["vs_one"].as_f64().unwrap() > 0.0);
}

/// `--profile` counts dispatches and the buffer barriers they imply per decoded token: each
/// layer at least writes the residual stream that the next reads, so a token costs at least
/// one barrier per layer (the bundled model has 6).
#[test]
fn profile_counts_barriers_per_token() {
    let r = bench(&["-p", "0", "-n", "4", "--profile"]);
    let p = &r["results"][0]["profile"];
    let submissions = p["submissions"].as_f64().unwrap();
    let barriers = p["barriers"].as_f64().unwrap();
    let dispatches: f64 = p["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["dispatches"].as_f64().unwrap())
        .sum();
    assert!(submissions >= 1.0, "{p}");
    let per_token = barriers / submissions;
    assert!(per_token >= 6.0, "{per_token} barriers per token: {p}");
    assert!(
        barriers <= 8.0 * dispatches,
        "{barriers} barriers for {dispatches} dispatches"
    );
}
