//! What a push (or a copy to a registry) reports while it works; the binary turns these
//! into Docker's lines.

use wharf_spec::{Digest, Reference};

#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushEvent {
    /// The repository the image goes to (`The push refers to repository [NAME]`).
    Started { repository: Reference },
    /// A layer about to be checked and sent (listed top layer first, as Docker does).
    LayerPreparing(Digest),
    /// The destination repository has the layer already: nothing sent.
    LayerAlreadyExists(Digest),
    /// `done` of `total` bytes sent (a resumed upload moves back to the registry's offset).
    LayerPushing {
        digest: Digest,
        done: u64,
        total: u64,
    },
    /// The registry verified and stored the layer.
    LayerPushed(Digest),
    /// The registry linked the layer from another of its repositories.
    LayerMounted { digest: Digest, from: Reference },
    /// A manifest or index was put; the last one is what the tag names.
    ManifestPushed {
        reference: Reference,
        digest: Digest,
        size: u64,
    },
}
