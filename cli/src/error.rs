//! The CLI's one error type.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Inc(#[from] inc_shared::Error),
    #[error("template.yaml: {0}")]
    Template(String),
    #[error("local AWS endpoint: {0}")]
    Moto(String),
    #[error("AWS: {0}")]
    Aws(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The INC API refused a request, or could not be reached.
    #[error("{0}")]
    Api(String),
}

impl Error {
    pub fn aws(e: impl std::fmt::Display) -> Self {
        Error::Aws(e.to_string())
    }
}
