//! wharf-spec: the vocabulary of container images — references, digests, media types,
//! descriptors, manifests, image configs and platforms. Pure data and parsing; no I/O.

pub mod config;
pub mod descriptor;
pub mod digest;
pub mod manifest;
pub mod media_type;
pub mod platform;
pub mod reference;
pub mod walk;

pub use config::{ConfigError, History, ImageConfig, RootFs};
pub use descriptor::Descriptor;
pub use digest::{Algorithm, Digest, DigestError, Digester, HashingReader, HashingWriter};
pub use manifest::{
    ImageIndex, ImageManifest, Manifest, ManifestError, RawManifest, MAX_MANIFEST_SIZE,
};
pub use platform::{Platform, PlatformError};
pub use reference::{Reference, ReferenceError};
