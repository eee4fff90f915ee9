//! `GET /v1/models`, `/health` and `/metrics`.
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{Shared, unix_time};

pub async fn models(State(state): State<Shared>) -> Json<Value> {
    Json(json!({
        "object": "list",
        "data": [{
            "id": state.model_id,
            "object": "model",
            "created": unix_time(),
            "owned_by": "granite",
            "context_length": state.scheduler.limits().context,
        }],
    }))
}

pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn metrics(State(state): State<Shared>) -> impl IntoResponse {
    let text = state.metrics.render(&state.engine);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
