//! Typed errors of the core. They become HTTP responses in exactly one place:
//! [`crate::http::error_response`].

use crate::storage::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Malformed input: wrong JSON types, unknown fields, bad paths.
    #[error("{0}")]
    BadRequest(String),
    /// No or unusable credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Credentials are fine but lack the scope or reach.
    #[error("403 Forbidden")]
    Forbidden,
    /// The thing named does not exist (or is invisible to the caller).
    /// Holds what was looked for, e.g. "Group".
    #[error("{}", not_found_message(.0))]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("Request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// Model validation failures, one message per problem, in field order.
    #[error("Validation failed: {}", .0.join(", "))]
    Validation(Vec<String>),
    #[error("405 Method Not Allowed")]
    MethodNotAllowed,
    /// Every upstream that could have answered failed.
    #[error("{0}")]
    Upstream(String),
    #[error("storage error: {0}")]
    Store(#[from] StoreError),
}

impl CoreError {
    pub fn validation(message: impl Into<String>) -> Self {
        CoreError::Validation(vec![message.into()])
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

fn not_found_message(what: &str) -> String {
    if what.is_empty() {
        "404 Not Found".into()
    } else {
        format!("404 {what} Not Found")
    }
}
