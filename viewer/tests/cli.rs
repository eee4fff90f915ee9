//! The `granite-viewer` binary: clear errors without a window, and `--screenshot` under Xvfb.
use std::path::PathBuf;
use std::process::Command;

fn viewer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_granite-viewer"))
}

#[test]
fn help_mentions_the_fake_backend_is_for_tests() {
    let out = viewer().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in ["--model", "--screenshot", "--prompt", "--fake"] {
        assert!(text.contains(flag), "--help lacks {flag}:\n{text}");
    }
    assert!(text.contains("tests and documentation screenshots only"));
}

#[test]
fn bad_model_folder_is_a_clear_error() {
    let tmp = std::env::temp_dir().join(format!("granite-viewer-bad-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("config.json"), "{\"model_type\": \"llama\"}").unwrap();
    let cases: [(PathBuf, &str); 3] = [
        ("/nonexistent/granite".into(), "no such folder"),
        (tmp.join("config.json"), "not a folder"),
        (tmp.clone(), "granitemoehybrid"),
    ];
    for (dir, want) in cases {
        let out = viewer().arg("--model").arg(&dir).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", dir.display());
        assert!(
            err.contains(want),
            "{}: wanted `{want}` in: {err}",
            dir.display()
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let out = viewer().args(["--screenshot", "x.png"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "--screenshot without --prompt");
    std::fs::remove_dir_all(&tmp).ok();
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn screenshot_under_xvfb_writes_a_png() {
    if !have("xvfb-run") {
        // CI installs Xvfb (scripts/install-deps.sh) and sets GRANITE_REQUIRE_BACKEND.
        assert!(
            std::env::var("GRANITE_REQUIRE_BACKEND").is_err(),
            "xvfb-run is missing; run scripts/install-deps.sh"
        );
        eprintln!("skipped: xvfb-run is not installed");
        return;
    }
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let png = out_dir.join("viewer-screenshot.png");
    std::fs::remove_file(&png).ok();
    let out = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x800x24"])
        .arg(env!("CARGO_BIN_EXE_granite-viewer"))
        .args(["--fake", "--fake-delay-ms", "2", "--timeout", "240"])
        .arg("--screenshot")
        .arg(&png)
        .args(["--prompt", "What does a hybrid keep in memory?"])
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {err}", out.status.code());
    let img = image::open(&png).expect("a PNG").to_rgba8();
    assert!(
        img.width() >= 1000 && img.height() >= 600,
        "{}x{}",
        img.width(),
        img.height()
    );
    let first = img.get_pixel(0, 0);
    assert!(img.pixels().any(|p| p != first), "the screenshot is blank");
}

/// Sampling flags pin what they name; everything else follows the opened model's
/// generation_config.json defaults.
#[test]
fn flags_pin_settings_and_model_defaults_fill_the_rest() {
    use clap::Parser;
    use granite_viewer::backend::Settings;
    let args = granite_viewer::cli::Args::parse_from(["granite-viewer", "--temperature", "0.3"]);
    let pinned = granite_viewer::cli::settings(&args).unwrap();
    let mut s = Settings::default();
    pinned.apply(&mut s, Some((0.7, 0.8, 64)));
    assert_eq!((s.temperature, s.top_p, s.max_tokens), (0.3, 0.8, 64));
    let none = granite_viewer::cli::Args::parse_from(["granite-viewer"]);
    let mut s = Settings::default();
    granite_viewer::cli::settings(&none)
        .unwrap()
        .apply(&mut s, Some((0.0, 1.0, 32)));
    assert_eq!((s.temperature, s.top_p, s.max_tokens), (0.0, 1.0, 32));
    let bad = granite_viewer::cli::Args::parse_from(["granite-viewer", "--top-p", "0"]);
    assert!(granite_viewer::cli::settings(&bad).is_err());
}
