//! `wharf push`'s (and `wharf copy`'s) output, as Docker prints a push: the repository,
//! one line per layer keyed by the first 12 hex digits of its digest (`Preparing`,
//! `Pushing` with a bar, `Pushed`, `Layer already exists`, `Mounted from REPO`), then
//! `TAG: digest: sha256:… size: N`. Drawn by [`super::layers`].

use wharf_image::push::PushEvent;
use wharf_spec::{Digest, Reference};

pub(crate) use super::layers::short;
use super::layers::{line_out, LayerOutput, Shown};

pub struct PushOutput(LayerOutput);

impl PushOutput {
    pub fn new(quiet: bool) -> PushOutput {
        PushOutput(LayerOutput::new(quiet, "Pushing"))
    }

    pub fn event(&self, event: &PushEvent) {
        self.0.show(shown(event));
    }

    /// `TAG: digest: sha256:… size: N`, or the reference alone with `-q`.
    pub fn finish(&self, destination: &Reference, digest: &Digest, size: u64) {
        self.0.end_layers();
        if self.0.is_quiet() {
            line_out(&destination.to_string());
        } else {
            line_out(&summary(destination, digest, size));
        }
    }
}

fn summary(destination: &Reference, digest: &Digest, size: u64) -> String {
    let what = match (destination.tag(), destination.digest()) {
        (Some(tag), _) => tag.to_string(),
        (None, Some(d)) => d.to_string(),
        (None, None) => destination.tag_or_latest().to_string(),
    };
    format!("{what}: digest: {digest} size: {size}")
}

fn shown(event: &PushEvent) -> Shown<'_> {
    let layer = |digest, state: &'static str, last| Shown::Layer {
        digest,
        state: state.into(),
        last,
    };
    match event {
        PushEvent::Started { repository } => Shown::Line(format!(
            "The push refers to repository [{}]",
            repository.name()
        )),
        PushEvent::LayerPreparing(d) => layer(d, "Preparing", false),
        PushEvent::LayerAlreadyExists(d) => layer(d, "Layer already exists", true),
        PushEvent::LayerPushing {
            digest,
            done,
            total,
        } => Shown::Progress {
            digest,
            done: *done,
            total: *total,
        },
        PushEvent::LayerPushed(d) => layer(d, "Pushed", true),
        PushEvent::LayerMounted { digest, from } => Shown::Layer {
            digest,
            state: format!("Mounted from {}", from.path()).into(),
            last: true,
        },
        _ => Shown::Nothing,
    }
}
