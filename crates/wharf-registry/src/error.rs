//! Errors: storage failures (`StorageError`) and what the HTTP edge answers (`Error`, an
//! OCI error code with a message), rendered as `{"errors":[{"code","message","detail"}]}`.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A failure of the storage layer: the blob store, the upload area or the database.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// A row holds what its column cannot (the database was edited or damaged by hand).
    #[error("database table `{table}` holds `{value}` in column `{column}`: {reason}")]
    CorruptRow {
        table: &'static str,
        column: &'static str,
        value: String,
        reason: String,
    },
    /// A blocking task (file I/O, a lock) panicked or was cancelled: a bug, not bad input.
    #[error("internal error: the {task} task failed: {source}")]
    Internal {
        task: &'static str,
        source: tokio::task::JoinError,
    },
}

impl StorageError {
    /// For `spawn_blocking(..).await.map_err(StorageError::internal("fsync"))`.
    pub(crate) fn internal(
        task: &'static str,
    ) -> impl FnOnce(tokio::task::JoinError) -> StorageError {
        move |source| StorageError::Internal { task, source }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StorageError {
        let context = context.into();
        move |source| StorageError::Io { context, source }
    }
}

impl From<wharf_fs::FsError> for StorageError {
    fn from(e: wharf_fs::FsError) -> Self {
        StorageError::Io {
            context: format!("{} `{}`", e.action, e.path.display()),
            source: e.source,
        }
    }
}

/// The error codes of the OCI Distribution Spec (plus distribution's `UNKNOWN` for
/// server faults and `PAGINATION_NUMBER_INVALID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    RangeInvalid,
    PaginationNumberInvalid,
    Unsupported,
    Unauthorized,
    Denied,
    Unknown,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::SizeInvalid => "SIZE_INVALID",
            Code::RangeInvalid => "RANGE_INVALID",
            Code::PaginationNumberInvalid => "PAGINATION_NUMBER_INVALID",
            Code::Unsupported => "UNSUPPORTED",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Denied => "DENIED",
            Code::Unknown => "UNKNOWN",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Code::BlobUnknown
            | Code::BlobUploadUnknown
            | Code::ManifestUnknown
            | Code::NameUnknown => StatusCode::NOT_FOUND,
            Code::RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
            Code::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::Denied => StatusCode::FORBIDDEN,
            Code::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// What a request gets when it fails: a code, a message naming what is wrong, and the
/// status and extra headers the spec asks for.
#[derive(Debug)]
pub struct Error {
    pub code: Code,
    pub message: String,
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            status: code.status(),
            headers: Vec::new(),
        }
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: String) -> Self {
        if let Ok(value) = HeaderValue::try_from(value) {
            self.headers.push((name, value));
        }
        self
    }
}

impl From<StorageError> for Error {
    fn from(error: StorageError) -> Self {
        // The cause goes to the log, not to the client: it may name paths on the server.
        tracing::error!(%error, "storage failure");
        Error::new(Code::Unknown, "internal storage error")
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let body = json!({
            "errors": [{ "code": self.code.as_str(), "message": self.message, "detail": null }]
        });
        let mut response = (
            self.status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_task_is_an_internal_error_and_a_500_that_names_nothing() {
        let joined = tokio::task::spawn_blocking(|| -> u32 { panic!("boom at /srv/secret") }).await;
        let error = joined
            .map_err(StorageError::internal("upload fsync"))
            .unwrap_err();
        assert!(
            matches!(&error, StorageError::Internal { task: "upload fsync", source } if source.is_panic()),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .starts_with("internal error: the upload fsync task failed"),
            "{error}"
        );
        let answer = Error::from(error);
        assert_eq!(answer.status, axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answer.message, "internal storage error");
    }
}
