//! The client's errors. Each names the registry, reference, repository or digest at fault,
//! and none ever holds a credential, a token or a full URL (pre-signed redirect URLs carry
//! signatures in their query).

use std::path::PathBuf;

use wharf_spec::{Digest, ManifestError};

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("cannot reach registry `{registry}`: {reason}")]
    Unreachable { registry: String, reason: String },

    /// A `401`. `credentials`: whether the client had credentials for the registry (sent
    /// them, or used them for its token); then access was denied to an identity, and
    /// logging in is not the remedy.
    #[error("{}: registry `{registry}` {reason}", if *credentials { "access denied" } else { "unauthorized" })]
    Unauthorized {
        registry: String,
        reason: String,
        credentials: bool,
    },

    /// A `403`; `credentials` as for [`ClientError::Unauthorized`].
    #[error("{}: registry `{registry}` refused access to `{repository}`: {message}", if *credentials { "access denied" } else { "denied" })]
    Denied {
        registry: String,
        repository: String,
        message: String,
        credentials: bool,
    },

    #[error("manifest for `{reference}` not found: {message} ({code})")]
    ManifestUnknown {
        reference: String,
        code: String,
        message: String,
    },

    #[error("blob `{digest}` not found in repository `{repository}` on registry `{registry}`")]
    BlobUnknown {
        registry: String,
        repository: String,
        digest: Digest,
    },

    #[error("repository `{repository}` not found on registry `{registry}`: {message}")]
    RepositoryUnknown {
        registry: String,
        repository: String,
        message: String,
    },

    #[error("registry `{registry}` answered {status} to {what}: {message}")]
    Registry {
        registry: String,
        what: String,
        status: u16,
        code: Option<String>,
        message: String,
    },

    #[error("invalid manifest for `{reference}`: {source}")]
    Manifest {
        reference: String,
        #[source]
        source: ManifestError,
    },

    #[error("manifest for `{reference}` is {size} bytes or more, over the {limit}-byte limit")]
    ManifestTooLarge {
        reference: String,
        size: u64,
        limit: u64,
    },

    #[error("{what} from registry `{registry}` has digest `{actual}`, expected `{expected}`")]
    DigestMismatch {
        registry: String,
        what: String,
        expected: Digest,
        actual: Digest,
    },

    #[error("blob `{digest}` from registry `{registry}`: expected {expected} bytes, {actual}")]
    SizeMismatch {
        registry: String,
        digest: Digest,
        expected: u64,
        actual: String,
    },

    #[error("`{reference}` has no manifest for platform `{wanted}`; it has: {}", list(.available))]
    PlatformNotFound {
        reference: String,
        wanted: String,
        available: Vec<String>,
    },

    #[error("`{reference}`: index `{index}` is nested more than {max} indexes deep; wharf follows {max}")]
    IndexTooDeep {
        reference: String,
        index: Digest,
        max: usize,
    },

    #[error("`{reference}` is a single-platform manifest, not an index")]
    NotAnIndex { reference: String },

    #[error("download of blob `{digest}` from registry `{registry}` failed at byte {offset} after {attempts} attempts to resume: {reason}")]
    Interrupted {
        registry: String,
        digest: Digest,
        offset: u64,
        attempts: u32,
        reason: String,
    },

    #[error("blob `{digest}`: cannot resume at byte {offset}, past its size of {size} bytes")]
    InvalidOffset {
        digest: Digest,
        offset: u64,
        size: u64,
    },

    #[error("invalid response from registry `{registry}` to {what}: {reason}")]
    InvalidResponse {
        registry: String,
        what: String,
        reason: String,
    },

    #[error("token server for registry `{registry}` failed: {reason}")]
    Token { registry: String, reason: String },

    #[error("credentials for registry `{registry}`: {reason}")]
    Credentials { registry: String, reason: String },

    #[error("config file `{}`: {reason}", .path.display())]
    Config { path: PathBuf, reason: String },

    #[error("invalid client setup: {0}")]
    Setup(String),
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "no platforms at all".to_string()
    } else {
        items
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl ClientError {
    /// Whether nothing listens at the registry's address (the connection was refused).
    pub fn is_connection_refused(&self) -> bool {
        matches!(self, ClientError::Unreachable { reason, .. } if reason.ends_with(CONNECTION_REFUSED))
    }

    /// Whether the registry said the thing asked for does not exist (as opposed to failing).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            ClientError::ManifestUnknown { .. }
                | ClientError::BlobUnknown { .. }
                | ClientError::RepositoryUnknown { .. }
        )
    }

    /// One line telling the user what to do about it, when there is something to do.
    pub fn hint(&self) -> Option<String> {
        match self {
            ClientError::Unauthorized {
                credentials: true,
                ..
            }
            | ClientError::Denied {
                credentials: true,
                ..
            } => Some(
                "check the repository name, and that the account is allowed to access it".into(),
            ),
            ClientError::Unauthorized { registry, .. } | ClientError::Denied { registry, .. } => {
                Some(format!(
                    "log in with `wharf login {registry}`, or check the repository name"
                ))
            }
            ClientError::PlatformNotFound { .. } => {
                Some("pick one of the listed platforms with `--platform`".to_string())
            }
            ClientError::Unreachable { registry, .. } if self.is_connection_refused() => Some(
                format!("nothing listens at `{registry}`: is the registry running, on that port?"),
            ),
            ClientError::Unreachable { registry, reason } if reason.contains("certificate") => {
                Some(format!(
                    "trust the registry's CA with `--ca-cert FILE` (or `ca-certs` in the config file), or list `{registry}` in `insecure-registries`"
                ))
            }
            ClientError::Manifest {
                source: ManifestError::Schema1(_),
                ..
            } => Some("re-push the image with a current Docker, buildah or wharf".to_string()),
            _ => None,
        }
    }
}

/// A transport error as text, without the URL reqwest would put in it, with its causes.
pub(crate) fn describe(error: reqwest::Error) -> String {
    // hyper's layers (`error sending request: client error (Connect): tcp connect error:
    // Connection refused (os error 111)`) say nothing more than this.
    if crate::retry::is_refused(&error) {
        return CONNECTION_REFUSED.to_string();
    }
    let error = error.without_url();
    let mut out = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// How a refused connection ends an `Unreachable` error's reason.
const CONNECTION_REFUSED: &str = "connection refused";

/// A URL fit for messages and logs: scheme, host and path, no query (signatures, state).
pub(crate) fn redact(url: &reqwest::Url) -> String {
    format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    ) + url.path()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_drops_query_and_userinfo() {
        let url = reqwest::Url::parse(
            "https://user:pw@s3.example.com:8443/bucket/blob?X-Amz-Signature=secret",
        )
        .unwrap();
        assert_eq!(redact(&url), "https://s3.example.com:8443/bucket/blob");
    }

    #[test]
    fn platform_error_lists_what_there_is() {
        let e = ClientError::PlatformNotFound {
            reference: "docker.io/library/busybox:latest".into(),
            wanted: "linux/s390x".into(),
            available: vec!["linux/amd64".into(), "linux/arm64".into()],
        };
        assert_eq!(
            e.to_string(),
            "`docker.io/library/busybox:latest` has no manifest for platform `linux/s390x`; it has: `linux/amd64`, `linux/arm64`"
        );
        assert!(e.hint().unwrap().contains("--platform"));
    }
}
