//! Errors in the shape OpenAI clients parse: `{"error": {"message", "type", "param", "code"}}`
//! with the status that says whose fault it was. A client's mistake is always a 4xx.
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Clone, Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<&'static str>,
}

impl ApiError {
    /// A 400 about the request itself.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param: None,
            code: None,
        }
    }

    /// A 400 naming the field at fault.
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        ApiError {
            param: Some(param.into()),
            code: Some("invalid_value"),
            ..ApiError::bad_request(message)
        }
    }

    /// A field OpenAI defines that this server does not implement (never silently ignored).
    pub fn unsupported(param: &str, what: &str) -> Self {
        ApiError {
            param: Some(param.into()),
            code: Some("unsupported_parameter"),
            ..ApiError::bad_request(format!("`{param}`: {what} is not supported by this server"))
        }
    }

    pub fn context_exceeded(prompt: usize, context: usize) -> Self {
        ApiError {
            param: Some("messages".into()),
            code: Some("context_length_exceeded"),
            ..ApiError::bad_request(format!(
                "this model's context is {context} tokens and the prompt is {prompt} tokens; \
                 at least one token must be left to generate"
            ))
        }
    }

    pub fn unknown_model(model: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            param: Some("model".into()),
            code: Some("model_not_found"),
            ..ApiError::bad_request(format!("the model `{model}` does not exist"))
        }
    }

    pub fn unauthorized() -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: Some("invalid_api_key"),
            ..ApiError::bad_request(
                "incorrect or missing API key (send `Authorization: Bearer KEY`)",
            )
        }
    }

    pub fn queue_full() -> Self {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            kind: "rate_limit_error",
            code: Some("queue_full"),
            ..ApiError::bad_request("the server is at capacity and its queue is full; retry later")
        }
    }

    pub fn not_found(path: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: Some("not_found"),
            ..ApiError::bad_request(format!("no route for {path}"))
        }
    }

    pub fn method_not_allowed(method: &axum::http::Method, path: &str) -> Self {
        ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: Some("method_not_allowed"),
            ..ApiError::bad_request(format!("{path} does not take {method}"))
        }
    }

    pub fn body_too_large(limit: usize) -> Self {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: Some("body_too_large"),
            ..ApiError::bad_request(format!("the request body is larger than {limit} bytes"))
        }
    }

    /// The server's own failure (a GPU error): the only 5xx.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "server_error",
            ..ApiError::bad_request(message)
        }
    }

    /// An engine error: bad input (a template that refuses the messages, token ids out of
    /// range, sampling settings) is the client's; the rest is ours.
    pub fn from_engine(e: &granite_engine::Error) -> Self {
        use granite_engine::Error;
        match e {
            Error::Input(_) | Error::Template(_) => ApiError::bad_request(e.to_string()),
            Error::OutOfMemory(_) => ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                ..ApiError::internal(e.to_string())
            },
            _ => ApiError::internal(e.to_string()),
        }
    }

    /// A body that could not be read: too large (413) or cut off.
    pub fn from_body(r: BytesRejection) -> Self {
        ApiError {
            status: r.status(),
            code: (r.status() == StatusCode::PAYLOAD_TOO_LARGE).then_some("body_too_large"),
            ..ApiError::bad_request(r.body_text())
        }
    }

    pub fn body(&self) -> serde_json::Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}
