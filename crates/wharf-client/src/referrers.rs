//! Referrers (distribution-spec v1.1): the manifests whose `subject` is a given manifest
//! (signatures, SBOMs, attestations).
//!
//! Reading: `GET /v2/<name>/referrers/<digest>` (paged like tags); a registry without
//! that API answers 404, and then the spec's fallback is read instead: an index under the
//! tag `<alg>-<hex>` listing the referrers.
//!
//! Writing: a registry that stored a manifest with a `subject` says so with an
//! `OCI-Subject` header; when it does not, it has no referrers API, and the client that
//! pushed must add the manifest to that fallback tag's index itself
//! ([`Client::add_to_referrers_tag`]).

use wharf_spec::{media_type, Descriptor, Digest, ImageIndex, Manifest, RawManifest, Reference};

use crate::client::Client;
use crate::error::{ClientError, Result};
use crate::tags::json_page;

/// The fallback tag for referrers of `subject`: `sha256-<hex>` (the spec's tag schema,
/// truncated to a tag's 128 characters).
pub fn referrers_tag(subject: &Digest) -> String {
    let mut tag = format!("{}-{}", subject.algorithm().name(), subject.hex());
    tag.truncate(128);
    tag
}

impl Client {
    /// The descriptors of the manifests in `repository` whose `subject` is `subject`.
    pub async fn referrers(
        &self,
        repository: &Reference,
        subject: &Digest,
    ) -> Result<Vec<Descriptor>> {
        let path = format!("{}/referrers/{subject}", repository.path());
        let mut found = Vec::new();
        let listed = self
            .get_pages(
                repository,
                &path,
                Some(media_type::OCI_INDEX),
                &mut |body, registry, what| {
                    let index: ImageIndex = json_page(body, registry, what, "an image index")?;
                    found.extend(index.manifests);
                    Ok(())
                },
            )
            .await;
        match listed {
            Ok(()) => Ok(found),
            // No referrers API here (or no such repository): the tag schema decides.
            Err(e) if e.is_not_found() => Ok(self
                .referrers_tag_index(repository, subject)
                .await?
                .map(|index| index.manifests)
                .unwrap_or_default()),
            Err(e) => Err(e),
        }
    }

    /// The index under `subject`'s fallback tag, or None when the tag does not exist.
    async fn referrers_tag_index(
        &self,
        repository: &Reference,
        subject: &Digest,
    ) -> Result<Option<ImageIndex>> {
        let tagged = repository
            .with_tag(&referrers_tag(subject))
            .map_err(|e| ClientError::Setup(format!("referrers tag: {e}")))?;
        match self.resolve(&tagged).await {
            Ok(resolved) => match resolved.manifest.manifest() {
                Manifest::Index(index) => Ok(Some(index.clone())),
                Manifest::Image(_) => Err(ClientError::InvalidResponse {
                    registry: repository.domain().to_string(),
                    what: format!("referrers tag `{}`", tagged.familiar()),
                    reason: "it names an image manifest, not an index of referrers".into(),
                }),
            },
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Adds `manifest` (which has a `subject`) to the index under its subject's fallback
    /// tag in `repository`, creating the index when there is none; a no-op when it is
    /// listed already. For registries that do not track referrers themselves.
    pub async fn add_to_referrers_tag(
        &self,
        repository: &Reference,
        manifest: &RawManifest,
    ) -> Result<()> {
        let Some(subject) = manifest.manifest().subject() else {
            return Ok(());
        };
        let mut index = self
            .referrers_tag_index(repository, &subject.digest)
            .await?
            .unwrap_or_else(ImageIndex::empty);
        if index
            .manifests
            .iter()
            .any(|d| d.digest == *manifest.digest())
        {
            return Ok(());
        }
        index.manifests.push(referrer_descriptor(manifest));
        let bytes = serde_json::to_vec(&index).expect("an index serializes");
        let raw = RawManifest::parse(bytes, Some(media_type::OCI_INDEX)).map_err(|source| {
            ClientError::Manifest {
                reference: repository.familiar(),
                source,
            }
        })?;
        let tagged = repository
            .with_tag(&referrers_tag(&subject.digest))
            .map_err(|e| ClientError::Setup(format!("referrers tag: {e}")))?;
        self.put_manifest_only(&tagged, &raw).await.map(|_| ())
    }
}

/// How a referrers index lists `manifest`: its descriptor with the artifact type (the
/// manifest's own, else its config's media type, as the spec says) and its annotations.
fn referrer_descriptor(manifest: &RawManifest) -> Descriptor {
    let mut descriptor = manifest.descriptor();
    let (artifact_type, annotations) = match manifest.manifest() {
        Manifest::Image(m) => (
            m.artifact_type
                .clone()
                .or_else(|| Some(m.config.media_type.clone())),
            m.annotations.clone(),
        ),
        Manifest::Index(i) => (i.artifact_type.clone(), i.annotations.clone()),
    };
    descriptor.artifact_type = artifact_type;
    descriptor.annotations = annotations;
    descriptor
}
