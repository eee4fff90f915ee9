//! `granite serve`: an OpenAI-compatible HTTP server, a thin front end on the engine's front
//! door. axum and tokio take requests; one scheduler thread owns the engine and every session
//! (see [`scheduler`]) and interleaves their steps; finished sessions stay as a prompt cache.
mod error;
mod metrics;
mod request;
mod routes;
pub mod scheduler;
mod tool_calls;

use std::net::SocketAddr;
use std::sync::Arc;

use granite_engine::Engine;

pub use scheduler::Limits;

/// How to serve.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub host: String,
    /// 0 picks a free port (printed on stdout).
    pub port: u16,
    pub api_key: Option<String>,
    pub limits: Limits,
}

/// Serves `engine` until Ctrl-C or SIGTERM. Prints `listening on http://ADDR` on stdout once the socket is
/// bound (tests and scripts read the port from it).
pub fn serve(engine: Engine, opts: ServeOptions) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(engine, opts))
}

async fn run(engine: Engine, opts: ServeOptions) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind((opts.host.as_str(), opts.port)).await?;
    let addr: SocketAddr = listener.local_addr()?;
    if !addr.ip().is_loopback() && opts.api_key.is_none() {
        eprintln!(
            "warning: serving on {addr}, reachable from other machines, without --api-key: \
             anyone who can reach it can use it"
        );
    }
    let metrics = Arc::new(metrics::Metrics::default());
    let model_id = engine.info().name.clone();
    let scheduler = scheduler::Scheduler::start(engine.clone(), opts.limits, metrics.clone())?;
    let state = routes::AppState::new(engine, model_id.clone(), scheduler, metrics, opts.api_key);
    println!("serving {model_id}: listening on http://{addr}");
    use std::io::Write;
    std::io::stdout().flush()?;
    let app = routes::router(Arc::new(state));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
}

/// Ctrl-C, or SIGTERM (what service managers and containers send) where there are signals.
async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
