//! Manifests: resolving a reference to its exact manifest or index bytes (digest checked
//! against `Docker-Content-Digest` and the reference's own digest), picking one platform
//! out of an index, and putting a manifest.

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use wharf_spec::{
    media_type, Descriptor, Digest, ImageIndex, Manifest, Platform, RawManifest, Reference,
    MAX_MANIFEST_SIZE,
};

use crate::auth::Scope;
use crate::client::Client;
use crate::endpoint::Endpoint;
use crate::error::{ClientError, Result};
use crate::response::{error_from, header_length, read_capped, Subject};
use crate::transport::{Body, Call};

const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

/// A reference resolved to a manifest or an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// What was asked for, as [`Reference::canonical`] (a digest wins over a tag).
    pub reference: Reference,
    /// Points at `manifest`: its media type, digest and size.
    pub descriptor: Descriptor,
    pub manifest: RawManifest,
}

impl Resolved {
    /// The reference pinned to what it resolved to: `name@sha256:…`.
    pub fn pinned(&self) -> Reference {
        self.reference.with_digest(self.descriptor.digest.clone())
    }

    pub fn index(&self) -> Option<&ImageIndex> {
        match self.manifest.manifest() {
            Manifest::Index(i) => Some(i),
            Manifest::Image(_) => None,
        }
    }

    /// The index entry for `platform`; the error lists the platforms the index has.
    pub fn select_platform(&self, platform: &Platform) -> Result<&Descriptor> {
        let index = self.index().ok_or_else(|| ClientError::NotAnIndex {
            reference: self.reference.familiar(),
        })?;
        select_platform(index, platform).ok_or_else(|| ClientError::PlatformNotFound {
            reference: self.reference.familiar(),
            wanted: platform.to_string(),
            available: available_platforms(index)
                .iter()
                .map(Platform::to_string)
                .collect(),
        })
    }
}

/// The first image manifest in `index` for `platform`, compared after Docker's
/// normalization (`aarch64` ≡ `arm64/v8`, `arm` ≡ `arm/v7`).
pub fn select_platform<'a>(index: &'a ImageIndex, platform: &Platform) -> Option<&'a Descriptor> {
    index.manifests.iter().find(|d| {
        media_type::kind(&d.media_type) != media_type::Kind::Index
            && d.platform.as_ref().is_some_and(|p| platform.matches(p))
    })
}

/// The platforms an index offers images for, without attestation entries
/// (`unknown/unknown`) and without entries that are indexes themselves (whose platforms are
/// only claims until the nested index is read).
pub fn available_platforms(index: &ImageIndex) -> Vec<Platform> {
    let mut out: Vec<Platform> = Vec::new();
    let images = index
        .manifests
        .iter()
        .filter(|d| media_type::kind(&d.media_type) != media_type::Kind::Index);
    for p in images.filter_map(|d| d.platform.as_ref()) {
        if p.os == "unknown" && p.architecture == "unknown" {
            continue;
        }
        if !out.iter().any(|q| q.matches(p)) {
            out.push(p.clone());
        }
    }
    out
}

/// How many indexes deep a platform is looked for (the top one counts): an index entry may
/// point at another index, as containerd and Docker allow, but not without end.
pub const MAX_INDEX_DEPTH: usize = 4;

/// The index entries that point at other indexes, those that may hold `platform` (no
/// platform, or a matching one) first. The others are read too when nothing matched, so
/// that the error lists what they really hold, not what their entries claim.
fn nested_indexes(index: &ImageIndex, platform: &Platform) -> Vec<Descriptor> {
    let (mut likely, others): (Vec<Descriptor>, Vec<Descriptor>) = index
        .manifests
        .iter()
        .filter(|d| media_type::kind(&d.media_type) == media_type::Kind::Index)
        .cloned()
        .partition(|d| d.platform.as_ref().is_none_or(|p| platform.matches(p)));
    likely.extend(others);
    likely
}

fn accept() -> HeaderValue {
    HeaderValue::from_str(&media_type::MANIFEST_ACCEPT.join(", ")).expect("media types are ASCII")
}

fn header_digest(headers: &HeaderMap, registry: &str, what: &str) -> Result<Option<Digest>> {
    let Some(value) = headers.get(DOCKER_CONTENT_DIGEST) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    Digest::parse(text)
        .map(Some)
        .map_err(|e| ClientError::InvalidResponse {
            registry: registry.to_string(),
            what: what.to_string(),
            reason: format!("bad `Docker-Content-Digest` header: {e}"),
        })
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let bare = value.split(';').next().unwrap_or("").trim();
    Some(bare.to_string()).filter(|t| !t.is_empty())
}

impl Client {
    /// Fetches the manifest or index `reference` names (by digest when it has one, else by
    /// tag, `latest` by default), from a mirror or the registry. The bytes are kept exactly;
    /// their digest must match the reference's digest and the `Docker-Content-Digest` header.
    pub async fn resolve(&self, reference: &Reference) -> Result<Resolved> {
        let reference = reference.canonical();
        let target = match reference.digest() {
            Some(d) => d.to_string(),
            None => reference.tag_or_latest().to_string(),
        };
        let manifest = self
            .on_endpoints(reference.domain(), true, |endpoint| {
                self.get_manifest(endpoint, &reference, &target, reference.digest())
            })
            .await?;
        Ok(Resolved {
            descriptor: manifest.descriptor(),
            reference,
            manifest,
        })
    }

    /// Fetches a manifest an index points at (or any manifest by descriptor), checking its
    /// digest, size and media type against `descriptor`.
    pub async fn fetch_manifest(
        &self,
        repository: &Reference,
        descriptor: &Descriptor,
    ) -> Result<Resolved> {
        let reference = repository.with_digest(descriptor.digest.clone());
        let target = descriptor.digest.to_string();
        let manifest = self
            .on_endpoints(reference.domain(), true, |endpoint| {
                self.get_manifest(endpoint, &reference, &target, Some(&descriptor.digest))
            })
            .await?;
        if manifest.bytes().len() as u64 != descriptor.size {
            return Err(ClientError::InvalidResponse {
                registry: reference.domain().to_string(),
                what: format!("manifest `{}`", reference.familiar()),
                reason: format!(
                    "{} bytes, but its descriptor says {}",
                    manifest.bytes().len(),
                    descriptor.size
                ),
            });
        }
        Ok(Resolved {
            descriptor: descriptor.clone(),
            reference,
            manifest,
        })
    }

    /// Resolves `reference` to the image manifest for `platform`: an index is narrowed to
    /// its entry for the platform, a single manifest is taken as it is. Returns the index
    /// too, when there was one.
    pub async fn resolve_platform(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<(Option<Resolved>, Resolved)> {
        let top = self.resolve(reference).await?;
        if top.index().is_none() {
            return Ok((None, top));
        }
        let image = self.select_platform_nested(&top, platform).await?;
        Ok((Some(top), image))
    }

    /// The image manifest for `platform` under the index `top`, fetched and checked. An
    /// entry that points at another index is followed when the index has no image for
    /// the platform itself, up to [`MAX_INDEX_DEPTH`] indexes deep, each index once. The
    /// error for a platform found nowhere lists only the platforms images were found for.
    pub async fn select_platform_nested(
        &self,
        top: &Resolved,
        platform: &Platform,
    ) -> Result<Resolved> {
        let mut seen = vec![top.descriptor.digest.clone()];
        let mut available: Vec<Platform> = Vec::new();
        let mut pending = vec![(top.clone(), 1)];
        while let Some((resolved, depth)) = pending.pop() {
            let index = resolved.index().ok_or_else(|| ClientError::NotAnIndex {
                reference: resolved.reference.familiar(),
            })?;
            for p in available_platforms(index) {
                if !available.iter().any(|q| q.matches(&p)) {
                    available.push(p);
                }
            }
            if let Some(chosen) = select_platform(index, platform) {
                let image = self.fetch_manifest(&top.reference, chosen).await?;
                if image.index().is_some() {
                    return Err(ClientError::InvalidResponse {
                        registry: top.reference.domain().to_string(),
                        what: format!("manifest `{}`", image.reference.familiar()),
                        reason: format!(
                            "index `{}` lists it as an image manifest, but it is an index",
                            resolved.descriptor.digest
                        ),
                    });
                }
                return Ok(image);
            }
            // Reversed onto the stack, so the index's own order is the search order.
            for descriptor in nested_indexes(index, platform).into_iter().rev() {
                if seen.contains(&descriptor.digest) {
                    continue;
                }
                if depth >= MAX_INDEX_DEPTH {
                    return Err(ClientError::IndexTooDeep {
                        reference: top.reference.familiar(),
                        index: descriptor.digest,
                        max: MAX_INDEX_DEPTH,
                    });
                }
                seen.push(descriptor.digest.clone());
                let child = self.fetch_manifest(&top.reference, &descriptor).await?;
                pending.push((child, depth + 1));
            }
        }
        Err(ClientError::PlatformNotFound {
            reference: top.reference.familiar(),
            wanted: platform.to_string(),
            available: available.iter().map(Platform::to_string).collect(),
        })
    }

    /// The descriptor of what `reference` names, from a `HEAD` request: one cheap request
    /// to tell whether a cached copy is still current. Errors when the registry does not
    /// send `Docker-Content-Digest` (then `resolve` is the way).
    pub async fn head_manifest(&self, reference: &Reference) -> Result<Descriptor> {
        let reference = reference.canonical();
        let target = match reference.digest() {
            Some(d) => d.to_string(),
            None => reference.tag_or_latest().to_string(),
        };
        self.on_endpoints(reference.domain(), true, |endpoint| {
            self.head_manifest_at(endpoint, &reference, &target)
        })
        .await
    }

    async fn head_manifest_at(
        &self,
        endpoint: Endpoint,
        reference: &Reference,
        target: &str,
    ) -> Result<Descriptor> {
        let ManifestResponse {
            response,
            what,
            registry,
            shown,
        } = self
            .request_manifest(Method::HEAD, &endpoint, reference, target)
            .await?;
        let headers = response.headers();
        let digest = header_digest(headers, &registry, &what)?.ok_or_else(|| {
            ClientError::InvalidResponse {
                registry: registry.clone(),
                what: what.clone(),
                reason: "no `Docker-Content-Digest` header".into(),
            }
        })?;
        if let Some(expected) = reference.digest().filter(|e| **e != digest) {
            return Err(ClientError::DigestMismatch {
                registry,
                what: format!("manifest for `{shown}`"),
                expected: expected.clone(),
                actual: digest,
            });
        }
        let media = content_type(headers).unwrap_or_default();
        let size = header_length(&response).unwrap_or(0);
        Ok(Descriptor::new(media, digest, size))
    }

    async fn get_manifest(
        &self,
        endpoint: Endpoint,
        reference: &Reference,
        target: &str,
        expected: Option<&Digest>,
    ) -> Result<RawManifest> {
        let ManifestResponse {
            response,
            what,
            registry,
            shown,
        } = self
            .request_manifest(Method::GET, &endpoint, reference, target)
            .await?;
        let too_large = |size: u64| ClientError::ManifestTooLarge {
            reference: shown.clone(),
            size,
            limit: MAX_MANIFEST_SIZE,
        };
        if let Some(len) = response.content_length().filter(|&l| l > MAX_MANIFEST_SIZE) {
            return Err(too_large(len));
        }
        let announced = header_digest(response.headers(), &registry, &what)?;
        let given_type = content_type(response.headers());
        let body = read_capped(response, MAX_MANIFEST_SIZE, &registry, &what)
            .await
            .map_err(|e| match e {
                ClientError::InvalidResponse { .. } => too_large(MAX_MANIFEST_SIZE + 1),
                other => other,
            })?;
        let algorithm = expected
            .or(announced.as_ref())
            .map(Digest::algorithm)
            .unwrap_or(wharf_spec::Algorithm::Sha256);
        let manifest = RawManifest::parse_with(body.to_vec(), given_type.as_deref(), algorithm)
            .map_err(|source| ClientError::Manifest {
                reference: shown.clone(),
                source,
            })?;
        let mismatch = |expected: &Digest, actual: Digest| ClientError::DigestMismatch {
            registry: registry.clone(),
            what: format!("manifest for `{shown}`"),
            expected: expected.clone(),
            actual,
        };
        if let Some(expected) = expected.filter(|e| *e != manifest.digest()) {
            return Err(mismatch(expected, manifest.digest().clone()));
        }
        if let Some(announced) = &announced {
            let actual = if announced.algorithm() == manifest.digest().algorithm() {
                manifest.digest().clone()
            } else {
                Digest::of_bytes(announced.algorithm(), manifest.bytes())
            };
            if *announced != actual {
                return Err(mismatch(announced, actual));
            }
        }
        Ok(manifest)
    }

    /// Sends `method` (GET or HEAD) for `reference`'s manifest `target` (a tag or digest)
    /// with our `Accept` list; a non-success status becomes the registry's error.
    async fn request_manifest(
        &self,
        method: Method,
        endpoint: &Endpoint,
        reference: &Reference,
        target: &str,
    ) -> Result<ManifestResponse> {
        let scope = Scope::pull(reference.path());
        let url = self
            .url(
                endpoint,
                &format!("{}/manifests/{target}", reference.path()),
            )
            .await?;
        let mut call = Call::new(method, url, &scope);
        call.headers.insert(ACCEPT, accept());
        let what = call.what();
        let response = self.send(endpoint, call).await?;
        let registry = endpoint.display();
        let shown = reference.familiar();
        if !response.status().is_success() {
            return Err(error_from(
                response,
                &registry,
                &what,
                Subject::Manifest { reference: &shown },
            )
            .await);
        }
        Ok(ManifestResponse {
            response,
            what,
            registry,
            shown,
        })
    }

    /// Deletes what `reference` names: by digest, the manifest (a registry removes the tags
    /// that point at it too); by tag, only the tag (OCI distribution-spec 1.1; a registry
    /// without tag deletion answers `UNSUPPORTED` or 405, and that is the error). A
    /// registry that does not allow deletes says so (distribution without
    /// `storage.delete.enabled` answers 405): that is the error too.
    pub async fn delete_manifest(&self, reference: &Reference) -> Result<()> {
        let target = match (reference.digest(), reference.tag()) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.to_string(),
            (None, None) => {
                return Err(ClientError::Setup(format!(
                    "`{}` names no tag or digest to delete",
                    reference.familiar()
                )))
            }
        };
        let endpoint = Endpoint::origin(reference.domain(), &self.inner.config.insecure);
        let scope = Scope::delete(reference.path());
        let url = self
            .url(
                &endpoint,
                &format!("{}/manifests/{target}", reference.path()),
            )
            .await?;
        let call = Call::new(Method::DELETE, url, &scope);
        let what = call.what();
        let response = self.send(&endpoint, call).await?;
        if response.status().is_success() {
            return Ok(());
        }
        let registry = endpoint.display();
        let shown = reference.familiar();
        Err(error_from(
            response,
            &registry,
            &what,
            Subject::Manifest { reference: &shown },
        )
        .await)
    }

    /// Puts `manifest`'s exact bytes under `reference` (its tag, else its digest). Every
    /// blob and child manifest it names must be in the repository already. A manifest
    /// with a `subject` that the registry does not confirm with `OCI-Subject` (no
    /// referrers API) is added to the subject's referrers tag, as the spec asks of clients.
    pub async fn put_manifest(
        &self,
        reference: &Reference,
        manifest: &RawManifest,
    ) -> Result<Descriptor> {
        let (descriptor, subject_confirmed) = self.put_manifest_only(reference, manifest).await?;
        if manifest.manifest().subject().is_some() && !subject_confirmed {
            self.add_to_referrers_tag(reference, manifest).await?;
        }
        Ok(descriptor)
    }

    /// [`Client::put_manifest`] without the referrers bookkeeping; also says whether the
    /// registry answered with an `OCI-Subject` header.
    pub(crate) async fn put_manifest_only(
        &self,
        reference: &Reference,
        manifest: &RawManifest,
    ) -> Result<(Descriptor, bool)> {
        let endpoint = Endpoint::origin(reference.domain(), &self.inner.config.insecure);
        let scope = Scope::push(reference.path());
        let target = match (reference.tag(), reference.digest()) {
            (Some(tag), _) => tag.to_string(),
            (None, Some(d)) => d.to_string(),
            (None, None) => reference.tag_or_latest().to_string(),
        };
        let url = self
            .url(
                &endpoint,
                &format!("{}/manifests/{target}", reference.path()),
            )
            .await?;
        let mut call = Call::new(Method::PUT, url, &scope);
        let media = HeaderValue::from_str(manifest.media_type()).map_err(|_| {
            ClientError::Setup(format!(
                "media type `{}` cannot be sent as a header",
                manifest.media_type()
            ))
        })?;
        call.headers.insert(CONTENT_TYPE, media);
        call.body = Body::Bytes(bytes::Bytes::copy_from_slice(manifest.bytes()));
        let what = call.what();
        let response = self.send(&endpoint, call).await?;
        let registry = endpoint.display();
        let shown = reference.familiar();
        if response.status() != StatusCode::CREATED && !response.status().is_success() {
            return Err(error_from(
                response,
                &registry,
                &what,
                Subject::Manifest { reference: &shown },
            )
            .await);
        }
        if let Some(stored) = header_digest(response.headers(), &registry, &what)? {
            if stored.algorithm() == manifest.digest().algorithm() && stored != *manifest.digest() {
                return Err(ClientError::DigestMismatch {
                    registry,
                    what: format!("stored manifest for `{shown}`"),
                    expected: manifest.digest().clone(),
                    actual: stored,
                });
            }
        }
        let subject_confirmed = response.headers().contains_key("oci-subject");
        Ok((manifest.descriptor(), subject_confirmed))
    }
}

/// A successful manifest response and the names its errors are reported with.
struct ManifestResponse {
    response: reqwest::Response,
    /// The request, as errors name it (`GET https://...`).
    what: String,
    registry: String,
    /// The reference in its familiar form.
    shown: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(platforms: &[(&str, &str, Option<&str>)]) -> ImageIndex {
        let mut index = ImageIndex::empty();
        for (i, (os, arch, variant)) in platforms.iter().enumerate() {
            let mut d =
                Descriptor::new(media_type::OCI_MANIFEST, Digest::sha256_of(&[i as u8]), 10);
            d.platform = Some(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: variant.map(str::to_string),
                ..Platform::default()
            });
            index.manifests.push(d);
        }
        index
    }

    #[test]
    fn picks_the_matching_platform() {
        let idx = index(&[
            ("linux", "amd64", None),
            ("linux", "arm64", Some("v8")),
            ("linux", "arm", Some("v7")),
            ("unknown", "unknown", None),
        ]);
        let pick =
            |s: &str| select_platform(&idx, &Platform::parse(s).unwrap()).map(|d| d.digest.clone());
        assert_eq!(pick("linux/amd64"), Some(idx.manifests[0].digest.clone()));
        assert_eq!(pick("linux/arm64"), Some(idx.manifests[1].digest.clone()));
        assert_eq!(pick("linux/aarch64"), Some(idx.manifests[1].digest.clone()));
        assert_eq!(pick("linux/arm"), Some(idx.manifests[2].digest.clone()));
        assert_eq!(pick("linux/s390x"), None);
        let names: Vec<String> = available_platforms(&idx)
            .iter()
            .map(Platform::to_string)
            .collect();
        assert_eq!(names, ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]);
    }

    #[test]
    fn no_match_lists_platforms() {
        let idx = index(&[("linux", "amd64", None), ("linux", "arm64", None)]);
        let bytes = serde_json::to_vec(&idx).unwrap();
        let manifest = RawManifest::parse(bytes, None).unwrap();
        let resolved = Resolved {
            reference: Reference::parse_normalized("busybox").unwrap(),
            descriptor: manifest.descriptor(),
            manifest,
        };
        let err = resolved
            .select_platform(&Platform::parse("windows/amd64").unwrap())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "`busybox` has no manifest for platform `windows/amd64`; it has: `linux/amd64`, `linux/arm64`"
        );
        assert!(resolved.pinned().to_string().contains("@sha256:"));
    }

    #[test]
    fn a_nested_index_entry_is_not_listed_as_an_available_platform() {
        let mut idx = index(&[("linux", "amd64", None), ("linux", "arm64", None)]);
        idx.manifests[0].media_type = media_type::OCI_INDEX.to_string();
        let names: Vec<String> = available_platforms(&idx)
            .iter()
            .map(Platform::to_string)
            .collect();
        assert_eq!(names, vec!["linux/arm64"]);
    }

    #[test]
    fn content_type_drops_parameters() {
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.oci.image.index.v1+json; charset=utf-8"),
        );
        assert_eq!(content_type(&h).as_deref(), Some(media_type::OCI_INDEX));
    }
}
