//! `GET /v1/models`, `/health` and `/metrics`.
use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{Shared, unix_time};
use crate::error::ApiError;

fn model_card(state: &Shared) -> Value {
    json!({
        "id": state.model_id,
        "object": "model",
        "created": unix_time(),
        "owned_by": "granite",
        "context_length": state.scheduler.limits().context,
    })
}

pub async fn models(State(state): State<Shared>) -> Json<Value> {
    Json(json!({"object": "list", "data": [model_card(&state)]}))
}

/// `GET /v1/models/{id}` (the client's `models.retrieve`).
pub async fn model(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.check_model(&id)?;
    Ok(Json(model_card(&state)))
}

pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn metrics(State(state): State<Shared>) -> impl IntoResponse {
    let text = state.metrics.render(&state.engine);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
