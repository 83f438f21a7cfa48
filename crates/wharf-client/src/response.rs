//! Reading registry answers: bodies with a size cap, and OCI error bodies
//! (`{"errors":[{"code":"MANIFEST_UNKNOWN","message":…}]}`) turned into [`ClientError`]s
//! that name what was asked for.

use bytes::{Bytes, BytesMut};
use reqwest::{Response, StatusCode};
use serde::Deserialize;
use wharf_spec::Digest;

use crate::error::{describe, ClientError, Result};

/// The `Content-Length` header itself: for a `HEAD` answer, reqwest's
/// `content_length()` is the (empty) body's, not the resource's.
pub(crate) fn header_length(response: &Response) -> Option<u64> {
    response
        .headers()
        .get(reqwest::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Reads a whole body, failing once it passes `limit` bytes (before buffering more).
pub(crate) async fn read_capped(
    mut response: Response,
    limit: u64,
    registry: &str,
    what: &str,
) -> Result<Bytes> {
    let too_large = |size: u64| ClientError::InvalidResponse {
        registry: registry.to_string(),
        what: what.to_string(),
        reason: format!("body of {size} bytes or more is over the {limit}-byte limit"),
    };
    if let Some(len) = response.content_length().filter(|&l| l > limit) {
        return Err(too_large(len));
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ClientError::Unreachable {
            registry: registry.to_string(),
            reason: format!("reading the answer to {what}: {}", describe(e)),
        })?
    {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large((body.len() + chunk.len()) as u64));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// What a failed request was about, so its error can name it.
pub(crate) enum Subject<'a> {
    Manifest {
        reference: &'a str,
    },
    Blob {
        repository: &'a str,
        digest: &'a Digest,
    },
    Repository {
        repository: &'a str,
    },
    /// The registry's list of repositories.
    Catalog,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// The OCI error code and message of a body, or a short excerpt of a body that is not one.
fn parse_error_body(status: StatusCode, body: &[u8]) -> (Option<String>, String) {
    if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) {
        if let Some(first) = parsed.errors.first() {
            let message = if first.message.is_empty() {
                first.code.to_ascii_lowercase().replace('_', " ")
            } else {
                first.message.clone()
            };
            return (Some(first.code.clone()).filter(|c| !c.is_empty()), message);
        }
    }
    let text = String::from_utf8_lossy(body);
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let text: String = text.chars().take(200).collect();
    let message = if text.is_empty() || text.starts_with('<') {
        status
            .canonical_reason()
            .unwrap_or("no explanation")
            .to_ascii_lowercase()
    } else {
        text
    };
    (None, message)
}

/// The error for an unsuccessful answer.
pub(crate) async fn error_from(
    response: Response,
    registry: &str,
    what: &str,
    subject: Subject<'_>,
) -> ClientError {
    let status = response.status();
    let used = response.extensions().get::<CredentialsUsed>().is_some();
    let body = read_capped(response, 64 * 1024, registry, what)
        .await
        .unwrap_or_default();
    let mut error = classify(status, &body, registry, what, subject);
    if let ClientError::Unauthorized { credentials, .. } | ClientError::Denied { credentials, .. } =
        &mut error
    {
        *credentials = used;
    }
    error
}

/// Marks a response to a request made with the user's credentials (sent, or used for the
/// request's token), so a refusal can say that this identity was denied.
#[derive(Clone, Copy)]
pub(crate) struct CredentialsUsed;

fn classify(
    status: StatusCode,
    body: &[u8],
    registry: &str,
    what: &str,
    subject: Subject<'_>,
) -> ClientError {
    let (code, message) = parse_error_body(status, body);
    let repository = match &subject {
        Subject::Manifest { reference } => reference,
        Subject::Blob { repository, .. } | Subject::Repository { repository } => repository,
        Subject::Catalog => "the catalog",
    }
    .to_string();
    match (status, subject) {
        (StatusCode::UNAUTHORIZED, _) => ClientError::Unauthorized {
            registry: registry.to_string(),
            reason: format!("refused {what}: {message}"),
            credentials: false,
        },
        (StatusCode::FORBIDDEN, _) => ClientError::Denied {
            registry: registry.to_string(),
            repository,
            message,
            credentials: false,
        },
        (StatusCode::NOT_FOUND, Subject::Manifest { reference }) => ClientError::ManifestUnknown {
            reference: reference.to_string(),
            code: code.unwrap_or_else(|| "MANIFEST_UNKNOWN".into()),
            message,
        },
        (StatusCode::NOT_FOUND, Subject::Blob { repository, digest })
            if code.as_deref() != Some("NAME_UNKNOWN") =>
        {
            ClientError::BlobUnknown {
                registry: registry.to_string(),
                repository: repository.to_string(),
                digest: digest.clone(),
            }
        }
        (StatusCode::NOT_FOUND, Subject::Catalog) => ClientError::Registry {
            registry: registry.to_string(),
            what: what.to_string(),
            status: status.as_u16(),
            code,
            message: format!("{message} (this registry does not list its repositories)"),
        },
        (StatusCode::NOT_FOUND, _) => ClientError::RepositoryUnknown {
            registry: registry.to_string(),
            repository,
            message,
        },
        _ => ClientError::Registry {
            registry: registry.to_string(),
            what: what.to_string(),
            status: status.as_u16(),
            code,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_errors_name_the_subject() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}}]}"#;
        let e = classify(
            StatusCode::NOT_FOUND,
            body,
            "localhost:5000",
            "GET manifest",
            Subject::Manifest {
                reference: "localhost:5000/app:nope",
            },
        );
        assert_eq!(
            e.to_string(),
            "manifest for `localhost:5000/app:nope` not found: manifest unknown (MANIFEST_UNKNOWN)"
        );
        assert!(e.is_not_found());

        let d = Digest::sha256_of(b"x");
        let e = classify(
            StatusCode::NOT_FOUND,
            b"",
            "r.io",
            "GET blob",
            Subject::Blob {
                repository: "a/b",
                digest: &d,
            },
        );
        assert!(matches!(e, ClientError::BlobUnknown { .. }), "{e}");

        let e = classify(
            StatusCode::INTERNAL_SERVER_ERROR,
            b"<html>oops</html>",
            "r.io",
            "GET /v2/a/tags/list",
            Subject::Repository { repository: "a" },
        );
        assert_eq!(
            e.to_string(),
            "registry `r.io` answered 500 to GET /v2/a/tags/list: internal server error"
        );
        let e = classify(
            StatusCode::FORBIDDEN,
            br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#,
            "r.io",
            "GET",
            Subject::Repository { repository: "a" },
        );
        assert!(e.to_string().contains("denied"), "{e}");
    }
}
