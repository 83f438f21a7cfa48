//! The image graph to send, in the order a registry accepts it: blobs (layers and
//! configs) first, then manifests with every child before its parent, the top last.

use std::collections::BTreeSet;
use std::future::Future;

use wharf_spec::media_type::{self, Kind};
use wharf_spec::walk::{Policy, Step, Walker};
use wharf_spec::{Descriptor, Digest, Manifest, RawManifest};

use crate::error::{ImageError, Result};

#[derive(Debug, Clone)]
pub struct Graph {
    /// Configs and layers, each once, in the order the manifests name them.
    pub blobs: Vec<Descriptor>,
    /// Which blobs are layers (the ones Docker shows a line for).
    pub layers: BTreeSet<Digest>,
    /// Manifests and indexes with their exact bytes, children before parents; the last is
    /// the top.
    pub manifests: Vec<(Descriptor, RawManifest)>,
    /// The index the top was chosen from, when the source named an index and one platform
    /// of it was taken (the store records its digest beside a pulled image).
    pub index: Option<Descriptor>,
}

impl Graph {
    /// The descriptor of what the destination's tag will name.
    pub fn top(&self) -> &Descriptor {
        &self.manifests.last().expect("a graph has a top manifest").0
    }

    /// Layers in Docker's display order: the top layer of the last image first.
    pub fn layers_for_display(&self) -> Vec<Digest> {
        let mut out: Vec<Digest> = Vec::new();
        for (_, raw) in self.manifests.iter().rev() {
            if let Manifest::Image(m) = raw.manifest() {
                for layer in m.layers.iter().rev() {
                    if self.layers.contains(&layer.digest) && !out.contains(&layer.digest) {
                        out.push(layer.digest.clone());
                    }
                }
            }
        }
        out
    }
}

/// Walks the graph under `top` ([`wharf_spec::walk`], [`Policy::IMAGE`]), reading each
/// manifest with `fetch` (from the store, a registry, …). Non-distributable layers are left
/// out, as Docker does, and so is a referrer's `subject` (it lives on its own).
pub async fn build<F, Fut>(top: Descriptor, mut fetch: F) -> Result<Graph>
where
    F: FnMut(Descriptor) -> Fut,
    Fut: Future<Output = Result<RawManifest>>,
{
    let mut graph = Graph {
        blobs: Vec::new(),
        layers: BTreeSet::new(),
        manifests: Vec::new(),
        index: None,
    };
    let top_digest = top.digest.clone();
    let mut walk = Walker::new(top, Policy::IMAGE);
    while let Some(step) = walk.next() {
        match step {
            Step::Read(descriptor) => {
                let raw = fetch(descriptor.clone()).await?;
                walk.manifest(&descriptor, raw);
            }
            Step::Blob(blob) => match media_type::kind(&blob.media_type) {
                Kind::Schema1 => return Err(ImageError::schema1(&blob)),
                kind => {
                    if matches!(kind, Kind::Layer(_)) {
                        graph.layers.insert(blob.digest.clone());
                    }
                    graph.blobs.push(blob);
                }
            },
            Step::Done(descriptor, raw) => graph.manifests.push((descriptor, raw)),
        }
    }
    if graph.manifests.is_empty() {
        return Err(ImageError::Invalid(format!(
            "`{top_digest}` is not a manifest or an index"
        )));
    }
    Ok(graph)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use wharf_spec::{ImageIndex, ImageManifest};

    fn image(seed: u8) -> RawManifest {
        let layer = Descriptor::new(media_type::OCI_LAYER_GZIP, Digest::sha256_of(&[seed]), 1);
        let shared = Descriptor::new(media_type::OCI_LAYER_GZIP, Digest::sha256_of(b"base"), 4);
        RawManifest::from_image(&ImageManifest {
            schema_version: 2,
            media_type: Some(media_type::OCI_MANIFEST.into()),
            artifact_type: None,
            config: Descriptor::new(media_type::OCI_CONFIG, Digest::sha256_of(&[seed, 0]), 2),
            layers: vec![shared, layer],
            subject: None,
            annotations: None,
        })
    }

    #[test]
    fn children_come_before_parents_and_blobs_once() {
        let (a, b) = (image(1), image(2));
        let mut index = ImageIndex::empty();
        index.manifests = vec![a.descriptor(), b.descriptor()];
        let index = RawManifest::parse(serde_json::to_vec(&index).unwrap(), None).unwrap();
        let all: BTreeMap<Digest, RawManifest> = [&a, &b, &index]
            .into_iter()
            .map(|m| (m.digest().clone(), m.clone()))
            .collect();
        let graph = futures_util::FutureExt::now_or_never(build(index.descriptor(), |d| {
            let m = all[&d.digest].clone();
            async move { Ok(m) }
        }))
        .unwrap()
        .unwrap();
        let order: Vec<&Digest> = graph.manifests.iter().map(|(d, _)| &d.digest).collect();
        assert_eq!(order, [a.digest(), b.digest(), index.digest()]);
        assert_eq!(graph.top().digest, *index.digest());
        // shared base, a's layer, a's config, b's layer, b's config
        assert_eq!(graph.blobs.len(), 5);
        assert_eq!(graph.layers.len(), 3);
        let display = graph.layers_for_display();
        assert_eq!(display[0], Digest::sha256_of(&[2]));
        assert_eq!(display.len(), 3);
    }
}
