//! The one error type of the shared crate, and of the functions built on it.
//!
//! Each variant maps to exactly one HTTP status (see [`Error::status`]), so a
//! handler never has to decide between "bad input" and "dependency down".

use std::borrow::Cow;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed: 400.
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: Cow<'static, str>,
        field: Option<String>,
    },
    /// No or unknown credentials: 401.
    #[error("a valid `Authorization: Api-Key <key>` header is required")]
    Unauthorized,
    /// No, bad or expired recipient token on an app's route (contract 14):
    /// 401. An API key is not one.
    #[error(
        "a valid `Authorization: Bearer <recipient token>` header is required (POST /v1/recipients/{{id}}/token makes one)"
    )]
    NotRecipient,
    /// Nothing of that id for this account: 404.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with what is stored: 409.
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: Cow<'static, str>,
    },
    /// The body is larger than the limit: 413.
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// The body's media type is not one the route reads: 415.
    #[error("Content-Type must be one of: {expected}")]
    UnsupportedMediaType { expected: &'static str },
    /// Well-formed, but a rule forbids it: 422.
    #[error("{message}")]
    Unprocessable {
        code: &'static str,
        message: Cow<'static, str>,
        field: Option<String>,
    },
    /// A dependency (DynamoDB, SQS) failed: 503, nothing was accepted.
    #[error("a dependency is unavailable: {0}")]
    Dependency(String),
    /// Accepted and stored, but not yet fully handed on (SQS failed after
    /// the write): 503 with this message, and a retry is safe.
    #[error("{0}")]
    NotYetQueued(&'static str),
    /// A dependency failed while a write stood staged that the next
    /// request may take over only after `retry_after_secs`: 503 with that
    /// `Retry-After`, nothing sent.
    #[error(
        "a dependency is unavailable; nothing was sent, please retry after {retry_after_secs} s"
    )]
    StagedNotQueued {
        retry_after_secs: u64,
        cause: String,
    },
    /// The function's configuration is missing or invalid (start-up only).
    #[error("configuration: {0}")]
    Config(String),
}

impl Error {
    pub fn bad_request(
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
        field: Option<&str>,
    ) -> Self {
        Error::BadRequest {
            code,
            message: message.into(),
            field: field.map(str::to_owned),
        }
    }

    pub fn unprocessable(
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
        field: Option<&str>,
    ) -> Self {
        Error::Unprocessable {
            code,
            message: message.into(),
            field: field.map(str::to_owned),
        }
    }

    /// Wraps any SDK or I/O failure of a dependency.
    pub fn dependency(err: impl std::fmt::Display) -> Self {
        Error::Dependency(err.to_string())
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest { .. } => 400,
            Error::Unauthorized | Error::NotRecipient => 401,
            Error::NotFound(_) => 404,
            Error::Conflict { .. } => 409,
            Error::PayloadTooLarge { .. } => 413,
            Error::UnsupportedMediaType { .. } => 415,
            Error::Unprocessable { .. } => 422,
            Error::Dependency(_)
            | Error::NotYetQueued(_)
            | Error::StagedNotQueued { .. }
            | Error::Config(_) => 503,
        }
    }

    /// The stable snake_case code clients can match on.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest { code, .. }
            | Error::Conflict { code, .. }
            | Error::Unprocessable { code, .. } => code,
            Error::Unauthorized | Error::NotRecipient => "unauthorized",
            Error::NotFound(_) => "not_found",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::UnsupportedMediaType { .. } => "unsupported_media_type",
            Error::Dependency(_)
            | Error::NotYetQueued(_)
            | Error::StagedNotQueued { .. }
            | Error::Config(_) => "service_unavailable",
        }
    }

    /// The field the error is about, as a dotted path.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::BadRequest { field, .. } | Error::Unprocessable { field, .. } => {
                field.as_deref()
            }
            _ => None,
        }
    }

    /// The seconds a `503` asks the client to wait before retrying.
    pub fn retry_after_secs(&self) -> u64 {
        match self {
            Error::StagedNotQueued {
                retry_after_secs, ..
            } => *retry_after_secs,
            _ => 1,
        }
    }
}
