//! `granite-viewer`: the desktop window. See `granite-viewer --help`.
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use granite_viewer::cli::{self, Args};
use granite_viewer::headless::Script;
use granite_viewer::{ViewerApp, engine_backend, fake::FakeBackend};

fn main() -> ExitCode {
    let args = Args::parse();
    let dir = cli::model_dir(&args);
    // A wrong --model fails here, on the terminal. The bundled model may be absent from a
    // checkout: then the window opens and says so, and another folder can be opened.
    if (args.model.is_some() || args.screenshot.is_some())
        && let Err(e) = cli::check_model_dir(&dir)
    {
        eprintln!("granite-viewer: {e}");
        return ExitCode::from(2);
    }
    let opener = if args.fake {
        FakeBackend::opener(Duration::from_millis(args.fake_delay_ms), true)
    } else {
        match cli::device_options(&args) {
            Ok(o) => engine_backend::opener(o),
            Err(e) => {
                eprintln!("granite-viewer: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let pinned = match cli::settings(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("granite-viewer: {e}");
            return ExitCode::from(2);
        }
    };
    let mut app = ViewerApp::new(opener, dir);
    pinned.apply(&mut app.settings, None);
    app.pinned = pinned;
    let mut outcome = None;
    if let (Some(file), Some(prompt)) = (&args.screenshot, &args.prompt) {
        let script = Script::new(
            prompt.clone(),
            file.clone(),
            Duration::from_secs(args.timeout),
        );
        outcome = Some(script.outcome());
        app = app.with_script(script);
    }

    let (w, h) = args.size;
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Granite viewer")
            .with_inner_size([w, h])
            .with_resizable(args.screenshot.is_none()),
        renderer: eframe::Renderer::Wgpu,
        ..Default::default()
    };
    let run = eframe::run_native(
        "granite-viewer",
        options,
        Box::new(move |_cc| Ok(Box::new(app))),
    );
    if let Err(e) = run {
        eprintln!("granite-viewer: cannot open the window: {e}");
        return ExitCode::from(1);
    }
    match outcome.map(|o| o.lock().ok().and_then(|mut o| o.take())) {
        None => ExitCode::SUCCESS,
        Some(Some(Ok(file))) => {
            eprintln!("granite-viewer: saved {}", file.display());
            ExitCode::SUCCESS
        }
        Some(Some(Err(e))) => {
            eprintln!("granite-viewer: {e}");
            ExitCode::from(1)
        }
        Some(None) => {
            eprintln!("granite-viewer: the window closed before the screenshot was taken");
            ExitCode::from(1)
        }
    }
}
