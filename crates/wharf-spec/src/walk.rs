//! The walk over an image graph: from a top descriptor (an index or a manifest) to every
//! manifest, config and layer under it, each once. It does no I/O: the caller drives it,
//! reading each manifest it asks for from wherever the image is (a store, a registry, a
//! layout) — synchronously or asynchronously — so one walker serves every place that
//! reads a graph, and the rules (is a referrer's `subject` part of it? are foreign layers?)
//! are a [`Policy`], not a difference between copies of the loop.
//!
//! ```text
//! let mut walk = Walker::new(top, Policy::IMAGE);
//! while let Some(step) = walk.next() {
//!     match step {
//!         Step::Read(d) => walk.manifest(&d, read(&d)?),   // or walk.skip(&d)
//!         Step::Blob(d) => { /* a config or layer */ }
//!         Step::Done(d, raw) => { /* a manifest, after everything under it */ }
//!     }
//! }
//! ```

use std::collections::BTreeSet;

use crate::media_type::{self, Kind};
use crate::{Descriptor, Digest, RawManifest};

/// What belongs to the graph beyond manifests' children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Whether a referrer's `subject` is walked. An image's graph does not include it: a
    /// signature or SBOM is attached to its subject, it does not contain it, and the
    /// distribution-spec lets a referrer be pushed before (or without) its subject. What
    /// keeps blobs alive in a store (gc) does follow it, conservatively — but even then a
    /// subject is never required ([`Walker::via_subject`]): an absent one is not damage.
    pub subject: bool,
    /// Whether non-distributable ("foreign") layers are yielded. A copy leaves them out,
    /// as Docker does: they are fetched from their `urls`, never pushed.
    pub foreign_layers: bool,
}

impl Policy {
    /// An image as it is copied: no subject, no foreign layers.
    pub const IMAGE: Policy = Policy {
        subject: false,
        foreign_layers: false,
    };
    /// Everything a manifest points at: for reachability (gc, fsck).
    pub const REACH: Policy = Policy {
        subject: true,
        foreign_layers: true,
    };
}

/// What the walk needs or found next.
#[derive(Debug, Clone, PartialEq)]
// Steps are moved once each, never stored: boxing the manifest would cost an allocation
// per manifest for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Step {
    /// A manifest or index to read: hand it to [`Walker::manifest`], or [`Walker::skip`]
    /// it (absent, unreadable) to go on without what is under it.
    Read(Descriptor),
    /// A blob that is not a manifest (a config, a layer, an artifact's blob, or a schema1
    /// manifest, which is not walked into), each once, in the order manifests list them.
    Blob(Descriptor),
    /// A manifest or index whose children have all been walked: children before parents,
    /// so the last `Done` is the top.
    Done(Descriptor, RawManifest),
}

struct Frame {
    descriptor: Descriptor,
    manifest: RawManifest,
    /// Children not walked yet, reversed so that `pop` takes them in order; `true` marks
    /// the subject.
    pending: Vec<(Descriptor, bool)>,
}

pub struct Walker {
    policy: Policy,
    seen: BTreeSet<Digest>,
    roots: Vec<Descriptor>,
    frames: Vec<Frame>,
    /// The manifest [`Step::Read`] asked for and not yet given.
    awaiting: Option<Descriptor>,
    /// Who lists the last step's descriptor.
    parent: Option<Digest>,
    /// Whether the last step's descriptor is its parent's `subject`.
    via_subject: bool,
}

fn is_manifest(d: &Descriptor) -> bool {
    matches!(
        media_type::kind(&d.media_type),
        Kind::Manifest | Kind::Index
    )
}

impl Walker {
    pub fn new(top: Descriptor, policy: Policy) -> Walker {
        Walker::from_roots(vec![top], policy)
    }

    /// A walk of several graphs (e.g. every `index.json` entry), sharing what they share.
    pub fn from_roots(roots: Vec<Descriptor>, policy: Policy) -> Walker {
        let mut roots = roots;
        roots.reverse();
        Walker {
            policy,
            seen: BTreeSet::new(),
            roots,
            frames: Vec::new(),
            awaiting: None,
            parent: None,
            via_subject: false,
        }
    }

    /// The manifest or index that lists what the last [`Step::Read`] or [`Step::Blob`]
    /// names (`None` for a root): who references it, for messages.
    pub fn parent(&self) -> Option<&Digest> {
        self.parent.as_ref()
    }

    /// Whether the last step's descriptor is a referrer's `subject`: a weak link, which
    /// may be absent without anything being damaged.
    pub fn via_subject(&self) -> bool {
        self.via_subject
    }

    /// Whether `digest` has been walked (or asked for) already.
    pub fn seen(&self, digest: &Digest) -> bool {
        self.seen.contains(digest)
    }

    /// The next step, or `None` when the graph is done. A [`Step::Read`] must be answered
    /// ([`Walker::manifest`] or [`Walker::skip`]) before the next call; unanswered, it is
    /// asked again.
    #[allow(clippy::should_implement_trait)] // it needs answers between steps: not an Iterator
    pub fn next(&mut self) -> Option<Step> {
        if let Some(d) = &self.awaiting {
            return Some(Step::Read(d.clone()));
        }
        loop {
            let (candidate, parent, via_subject) = match self.frames.last_mut() {
                Some(frame) => match frame.pending.pop() {
                    Some((child, subject)) => {
                        (child, Some(frame.descriptor.digest.clone()), subject)
                    }
                    None => {
                        let done = self.frames.pop()?;
                        self.parent = None;
                        self.via_subject = false;
                        return Some(Step::Done(done.descriptor, done.manifest));
                    }
                },
                None => (self.roots.pop()?, None, false),
            };
            // A hostile graph that lists a digest twice, or itself, is walked once.
            if !self.seen.insert(candidate.digest.clone()) {
                continue;
            }
            self.parent = parent;
            self.via_subject = via_subject;
            if is_manifest(&candidate) {
                self.awaiting = Some(candidate.clone());
                return Some(Step::Read(candidate));
            }
            if !self.policy.foreign_layers
                && media_type::is_non_distributable(&candidate.media_type)
            {
                continue;
            }
            return Some(Step::Blob(candidate));
        }
    }

    /// The manifest the last [`Step::Read`] asked for: its children are walked next.
    pub fn manifest(&mut self, descriptor: &Descriptor, manifest: RawManifest) {
        if self.awaiting.as_ref().map(|d| &d.digest) == Some(&descriptor.digest) {
            self.awaiting = None;
        }
        let subject = manifest.manifest().subject().cloned();
        let mut pending: Vec<(Descriptor, bool)> = manifest
            .manifest()
            .children()
            .into_iter()
            .map(|d| (d.clone(), false))
            .collect();
        if subject.is_some() {
            // `children` lists the subject last.
            let subject = pending.pop();
            if self.policy.subject {
                pending.extend(subject.map(|(d, _)| (d, true)));
            }
        }
        pending.reverse();
        self.frames.push(Frame {
            descriptor: descriptor.clone(),
            manifest,
            pending,
        });
    }

    /// Goes on without the manifest the last [`Step::Read`] asked for (absent, unreadable):
    /// nothing under it is walked, and it gets no [`Step::Done`].
    pub fn skip(&mut self, descriptor: &Descriptor) {
        if self.awaiting.as_ref().map(|d| &d.digest) == Some(&descriptor.digest) {
            self.awaiting = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ImageIndex, ImageManifest};
    use std::collections::BTreeMap;

    fn layer(seed: &[u8]) -> Descriptor {
        Descriptor::new(media_type::OCI_LAYER_GZIP, Digest::sha256_of(seed), 1)
    }

    fn image(seed: u8, extra: Vec<Descriptor>, subject: Option<Descriptor>) -> RawManifest {
        let mut layers = vec![layer(b"base"), layer(&[seed])];
        layers.extend(extra);
        RawManifest::from_image(&ImageManifest {
            schema_version: 2,
            media_type: Some(media_type::OCI_MANIFEST.into()),
            artifact_type: None,
            config: Descriptor::new(media_type::OCI_CONFIG, Digest::sha256_of(&[seed, 0]), 2),
            layers,
            subject,
            annotations: None,
        })
    }

    fn index_of(children: Vec<Descriptor>) -> RawManifest {
        let mut index = ImageIndex::empty();
        index.manifests = children;
        RawManifest::parse(serde_json::to_vec(&index).unwrap(), None).unwrap()
    }

    /// Drives a walk over `docs`; a manifest not in it is skipped. Returns the steps as
    /// `R`/`B`/`D` + digest, and gives up (a failed test) after 1,000 steps.
    fn run(top: &RawManifest, docs: &[&RawManifest], policy: Policy) -> Vec<(char, Digest)> {
        let docs: BTreeMap<Digest, RawManifest> = docs
            .iter()
            .map(|m| (m.digest().clone(), (*m).clone()))
            .collect();
        let mut walk = Walker::new(top.descriptor(), policy);
        let mut out = Vec::new();
        while let Some(step) = walk.next() {
            assert!(out.len() < 1000, "the walk does not end");
            match step {
                Step::Read(d) => {
                    out.push(('R', d.digest.clone()));
                    match docs.get(&d.digest) {
                        Some(m) => walk.manifest(&d, m.clone()),
                        None => walk.skip(&d),
                    }
                }
                Step::Blob(d) => out.push(('B', d.digest)),
                Step::Done(d, _) => out.push(('D', d.digest)),
            }
        }
        out
    }

    fn of(steps: &[(char, Digest)], kind: char) -> Vec<Digest> {
        steps
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, d)| d.clone())
            .collect()
    }

    #[test]
    fn an_index_yields_each_blob_once_and_children_before_parents() {
        let (a, b) = (image(1, vec![], None), image(2, vec![], None));
        let index = index_of(vec![a.descriptor(), b.descriptor()]);
        let steps = run(&index, &[&a, &b, &index], Policy::IMAGE);
        assert_eq!(
            of(&steps, 'D'),
            [
                a.digest().clone(),
                b.digest().clone(),
                index.digest().clone()
            ]
        );
        // config a, base, layer a, config b, layer b: the shared base once.
        let blobs = of(&steps, 'B');
        assert_eq!(blobs.len(), 5);
        assert_eq!(blobs[1], layer(b"base").digest);
        assert_eq!(blobs.iter().collect::<BTreeSet<_>>().len(), 5);
    }

    #[test]
    fn each_step_names_who_lists_it() {
        let a = image(1, vec![], None);
        let index = index_of(vec![a.descriptor()]);
        let mut walk = Walker::new(index.descriptor(), Policy::IMAGE);
        assert_eq!(walk.next(), Some(Step::Read(index.descriptor())));
        assert_eq!(walk.parent(), None);
        walk.manifest(&index.descriptor(), index.clone());
        assert_eq!(walk.next(), Some(Step::Read(a.descriptor())));
        assert_eq!(walk.parent(), Some(index.digest()));
        walk.manifest(&a.descriptor(), a.clone());
        assert!(matches!(walk.next(), Some(Step::Blob(_))));
        assert_eq!(walk.parent(), Some(a.digest()));
    }

    #[test]
    fn a_subject_is_walked_only_when_the_policy_says() {
        let subject = image(9, vec![], None);
        let signature = image(3, vec![], Some(subject.descriptor()));
        let image_walk = run(&signature, &[&signature, &subject], Policy::IMAGE);
        assert!(!of(&image_walk, 'R').contains(subject.digest()));
        let reach = run(&signature, &[&signature, &subject], Policy::REACH);
        let mut walk = Walker::new(signature.descriptor(), Policy::REACH);
        walk.next();
        walk.manifest(&signature.descriptor(), signature.clone());
        let mut subject_step = None;
        while let Some(step) = walk.next() {
            if walk.via_subject() {
                subject_step = Some(step.clone());
            }
            if let Step::Read(d) = step {
                walk.skip(&d);
            }
        }
        assert_eq!(subject_step, Some(Step::Read(subject.descriptor())));
        assert_eq!(
            of(&reach, 'D'),
            [subject.digest().clone(), signature.digest().clone()]
        );
    }

    #[test]
    fn a_manifest_that_cannot_be_read_is_skipped_with_what_is_under_it() {
        let (a, b) = (image(1, vec![], None), image(2, vec![], None));
        let index = index_of(vec![a.descriptor(), b.descriptor()]);
        let steps = run(&index, &[&b, &index], Policy::IMAGE);
        assert_eq!(of(&steps, 'R').len(), 3, "a, b and the index are asked for");
        assert_eq!(
            of(&steps, 'D'),
            [b.digest().clone(), index.digest().clone()]
        );
        assert_eq!(of(&steps, 'B').len(), 3, "b's config and layers only");
    }

    #[test]
    fn foreign_layers_are_yielded_only_when_the_policy_says() {
        let foreign = Descriptor::new(
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            Digest::sha256_of(b"windows"),
            7,
        );
        let m = image(1, vec![foreign.clone()], None);
        let copy = of(&run(&m, &[&m], Policy::IMAGE), 'B');
        assert!(!copy.contains(&foreign.digest));
        let reach = of(&run(&m, &[&m], Policy::REACH), 'B');
        assert!(reach.contains(&foreign.digest));
    }

    #[test]
    fn a_graph_that_lists_itself_ends() {
        // An index cannot name its own digest, but a cycle through a subject can be
        // forged: a manifest whose subject is an index listing that manifest.
        let m = image(1, vec![], None);
        let index = index_of(vec![m.descriptor(), m.descriptor()]);
        let looping = image(2, vec![], Some(index.descriptor()));
        let outer = index_of(vec![looping.descriptor(), index.descriptor()]);
        let steps = run(&outer, &[&outer, &index, &m, &looping], Policy::REACH);
        let done = of(&steps, 'D');
        assert_eq!(done.len(), 4);
        assert_eq!(done.last(), Some(outer.digest()));
    }

    #[test]
    fn a_schema1_child_is_a_blob_for_the_caller_to_refuse() {
        let schema1 = Descriptor::new(
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            Digest::sha256_of(b"old"),
            3,
        );
        let index = index_of(vec![schema1.clone()]);
        let steps = run(&index, &[&index], Policy::IMAGE);
        assert_eq!(of(&steps, 'B'), [schema1.digest]);
    }
}
