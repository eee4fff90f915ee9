//! The HTTP side: routes, the shared state, the API key check, and the JSON 404.
mod chat;
mod completions;
mod info;
mod stream;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use granite_engine::{Engine, GenerateOptions, Input};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::scheduler::{Job, JobEvent, Scheduler};

/// What every handler reads.
pub struct AppState {
    pub engine: Engine,
    /// The name clients give as `model`.
    pub model_id: String,
    pub scheduler: Scheduler,
    pub metrics: Arc<Metrics>,
    pub api_key: Option<String>,
    next_id: AtomicU64,
}

pub type Shared = Arc<AppState>;

impl AppState {
    pub fn new(
        engine: Engine,
        model_id: String,
        scheduler: Scheduler,
        metrics: Arc<Metrics>,
        api_key: Option<String>,
    ) -> Self {
        AppState {
            engine,
            model_id,
            scheduler,
            metrics,
            api_key,
            next_id: AtomicU64::new(1),
        }
    }

    /// A fresh id for a response (`chatcmpl-…`, `cmpl-…`).
    pub fn response_id(&self, prefix: &str) -> String {
        let n = self.next_id.fetch_add(1, Relaxed);
        format!("{prefix}-{:x}{n:06}", unix_time())
    }

    /// The sampling the model recommends, for fields a request leaves out.
    pub fn model_sampling(&self) -> granite_engine::SamplingParams {
        self.engine.default_options().sampling
    }

    pub fn check_model(&self, model: &str) -> Result<(), ApiError> {
        if model == self.model_id {
            Ok(())
        } else {
            Err(ApiError::unknown_model(model))
        }
    }

    /// Submits a generation; its events arrive on the returned receiver.
    pub fn submit(
        &self,
        input: Input,
        prompt: Vec<u32>,
        opts: GenerateOptions,
    ) -> Result<UnboundedReceiver<JobEvent>, ApiError> {
        let (events, rx) = unbounded_channel();
        self.scheduler.submit(Job {
            input,
            prompt,
            opts,
            events,
        })?;
        Ok(rx)
    }

    /// Tokenizing a long prompt is CPU work: it runs off the async threads.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> granite_engine::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || f(&engine))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(|e| ApiError::from_engine(&e))
    }
}

pub fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Request bodies larger than this are refused with 413 before they are read.
pub const MAX_BODY: usize = 4 << 20;

pub fn router(state: Shared) -> Router {
    let v1 = Router::new()
        .route("/v1/models", get(info::models))
        .route("/v1/models/{id}", get(info::model))
        .route("/v1/chat/completions", post(chat::handler))
        .route("/v1/completions", post(completions::handler))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    Router::new()
        .merge(v1)
        .route("/health", get(info::health))
        .route("/metrics", get(info::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(refuse_large_bodies))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// With `--api-key`, `/v1/*` wants `Authorization: Bearer KEY`.
async fn require_key(State(state): State<Shared>, req: Request, next: Next) -> Response {
    if let Some(key) = &state.api_key {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(key.as_str()) {
            return ApiError::unauthorized().into_response();
        }
    }
    next.run(req).await
}

/// A body announced larger than [`MAX_BODY`] is refused before a byte of it is read (bodies
/// sent without a length are cut off at the limit by `DefaultBodyLimit` while being read).
async fn refuse_large_bodies(req: Request, next: Next) -> Response {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_BODY as u64) {
        return ApiError::body_too_large(MAX_BODY).into_response();
    }
    next.run(req).await
}

async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(&method, uri.path())
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(uri.path())
}
