//! One module a page (or a family of pages). Each checks that the viewer may read the
//! repository before it reads anything else.

pub mod delete;
pub mod files;
pub mod home;
pub mod image;
pub mod repository;

use axum::http::StatusCode;
use axum::response::Response;
use wharf_registry::auth::Action;
use wharf_registry::gate::Access;
use wharf_registry::service::check_name;
use wharf_spec::Digest;

use crate::render::{self, Viewer};

/// Repositories, tags and files listed on one page at most.
pub const PAGE: u32 = 50;

/// The repository `name` if the viewer may read it; else the "not found" page, the same
/// for a name that is malformed, does not exist, or is hidden from this viewer.
pub fn readable(access: &Access<'_>, viewer: &Viewer, name: &str) -> Result<(), Response> {
    if check_name(name).is_err() || !access.can(name, Action::Pull) {
        return Err(render::not_found(viewer));
    }
    Ok(())
}

pub fn digest(viewer: &Viewer, text: &str) -> Result<Digest, Response> {
    text.parse().map_err(|_| render::not_found(viewer))
}

/// A registry error on a page: unknown names and manifests are "not found"; anything
/// else is the registry's trouble, said as such.
pub fn failed(viewer: &Viewer, error: wharf_registry::Error) -> Response {
    use wharf_registry::Code;
    match error.code {
        Code::NameUnknown | Code::ManifestUnknown | Code::BlobUnknown => render::not_found(viewer),
        _ => render::problem(
            viewer,
            StatusCode::INTERNAL_SERVER_ERROR,
            "The registry failed",
            &error.message,
        ),
    }
}

/// Small blobs (configs) read whole at most this large.
const SMALL_BLOB: u64 = 1 << 20;

/// A config (or another small blob) read whole and checked against its digest; None when
/// it is missing, too large or does not match.
pub async fn read_small(
    registry: &wharf_registry::Registry,
    descriptor: &wharf_spec::Descriptor,
) -> Option<Vec<u8>> {
    use futures_util::TryStreamExt;
    if descriptor.size > SMALL_BLOB {
        return None;
    }
    let stream = registry
        .read_blob(&descriptor.digest, 0..descriptor.size)
        .await
        .ok()?;
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await.ok()?;
    let bytes = chunks.concat();
    (Digest::of_bytes(descriptor.digest.algorithm(), &bytes) == descriptor.digest).then_some(bytes)
}

/// `linux/amd64` for an index entry; None for what is not a platform's image (the
/// attestation manifests BuildKit adds as `unknown/unknown`).
pub fn platform_label(entry: &wharf_spec::Descriptor) -> Option<String> {
    let platform = entry.platform.as_ref()?;
    if platform.os == "unknown" || entry.annotation(ATTESTATION_OF).is_some() {
        return None;
    }
    Some(platform.to_string())
}

/// BuildKit marks an index entry that attests another entry with this annotation.
const ATTESTATION_OF: &str = "vnd.docker.reference.digest";
