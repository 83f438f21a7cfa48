//! Images built in code: deterministic pseudo-random layers, a config naming their
//! diff_ids, a manifest, and indexes of several platforms. Pushed with the client itself.

use std::time::Duration;

use bytes::Bytes;
use wharf_client::{Client, ClientConfig, RetryPolicy};
use wharf_spec::{
    media_type, Descriptor, Digest, ImageIndex, ImageManifest, Platform, RawManifest, Reference,
};

/// `len` pseudo-random bytes, the same for the same seed.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub struct Image {
    pub manifest: RawManifest,
    pub config: Vec<u8>,
    pub layers: Vec<Vec<u8>>,
}

impl Image {
    pub fn config_descriptor(&self) -> Descriptor {
        Descriptor::new(
            media_type::OCI_CONFIG,
            Digest::sha256_of(&self.config),
            self.config.len() as u64,
        )
    }
}

pub fn image(platform: &str, layer_sizes: &[usize], seed: u64) -> Image {
    let layers: Vec<Vec<u8>> = layer_sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| data(n, seed * 1000 + i as u64))
        .collect();
    image_from_layers(platform, layers, seed)
}

/// An image of the given layers (share a layer between images to test "Already exists");
/// `seed` makes the config, and so the image ID, distinct.
pub fn image_from_layers(platform: &str, layers: Vec<Vec<u8>>, seed: u64) -> Image {
    let platform = Platform::parse(platform).unwrap();
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| Digest::sha256_of(l).to_string())
        .collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": platform.architecture,
        "os": platform.os,
        "variant": platform.variant,
        "config": {"Env": [format!("SEED={seed}")]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.to_string()),
        artifact_type: None,
        config: Descriptor::new(
            media_type::OCI_CONFIG,
            Digest::sha256_of(&config),
            config.len() as u64,
        ),
        layers: layers
            .iter()
            .map(|l| {
                Descriptor::new(
                    media_type::OCI_LAYER_TAR,
                    Digest::sha256_of(l),
                    l.len() as u64,
                )
            })
            .collect(),
        subject: None,
        annotations: None,
    };
    Image {
        manifest: RawManifest::from_image(&manifest),
        config,
        layers,
    }
}

/// An artifact referring to `subject` (a signature, an SBOM): an OCI manifest with
/// `artifactType`, the empty config, one blob of `payload`, and `subject` set. Pushed with
/// [`push_image`] like any image.
pub fn artifact(subject: &Descriptor, artifact_type: &str, payload: &[u8]) -> Image {
    const EMPTY: &str = "application/vnd.oci.empty.v1+json";
    let config = b"{}".to_vec();
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.to_string()),
        artifact_type: Some(artifact_type.to_string()),
        config: Descriptor::new(EMPTY, Digest::sha256_of(&config), config.len() as u64),
        layers: vec![Descriptor::new(
            "application/octet-stream",
            Digest::sha256_of(payload),
            payload.len() as u64,
        )],
        subject: Some(Descriptor::new(
            subject.media_type.clone(),
            subject.digest.clone(),
            subject.size,
        )),
        annotations: None,
    };
    Image {
        manifest: RawManifest::from_image(&manifest),
        config,
        layers: vec![payload.to_vec()],
    }
}

/// An OCI index of `images`, each entry carrying its platform.
pub fn index(images: &[(&str, &Image)]) -> RawManifest {
    let mut index = ImageIndex::empty();
    for (platform, image) in images {
        let mut d = image.manifest.descriptor();
        d.platform = Some(Platform::parse(platform).unwrap());
        index.manifests.push(d);
    }
    RawManifest::parse(serde_json::to_vec(&index).unwrap(), None).unwrap()
}

pub fn reference(host: &str, rest: &str) -> Reference {
    Reference::parse_normalized(&format!("{host}/{rest}")).unwrap()
}

/// Retries quick enough for tests.
pub fn config() -> ClientConfig {
    ClientConfig {
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(2),
        },
        read_timeout: Duration::from_secs(10),
        ..ClientConfig::default()
    }
}

pub fn client() -> Client {
    Client::new(config()).unwrap()
}

/// Pushes an image's blobs (layers over 1 MiB streamed in chunks, the rest whole) and its
/// manifest under `reference` (its tag, else by digest).
pub async fn push_image(client: &Client, reference: &Reference, image: &Image) -> Descriptor {
    client
        .push_blob_bytes(reference, Bytes::from(image.config.clone()))
        .await
        .unwrap();
    for layer in &image.layers {
        if layer.len() > 1 << 20 {
            let chunks: Vec<std::io::Result<Bytes>> = layer
                .chunks(64 * 1024)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            let descriptor = Descriptor::new(
                media_type::OCI_LAYER_TAR,
                Digest::sha256_of(layer),
                layer.len() as u64,
            );
            client
                .push_blob(reference, &descriptor, futures_util::stream::iter(chunks))
                .await
                .unwrap();
        } else {
            client
                .push_blob_bytes(reference, Bytes::from(layer.clone()))
                .await
                .unwrap();
        }
    }
    client
        .put_manifest(reference, &image.manifest)
        .await
        .unwrap()
}

/// Pushes every image by digest into `reference`'s repository, then an index of them
/// (`(platform, image)` pairs) under `reference`; returns the index's descriptor.
pub async fn push_index(
    client: &Client,
    reference: &Reference,
    images: &[(&str, &Image)],
) -> Descriptor {
    for (_, image) in images {
        push_image(
            client,
            &reference.with_digest(image.manifest.digest().clone()),
            image,
        )
        .await;
    }
    client
        .put_manifest(reference, &index(images))
        .await
        .unwrap()
}
