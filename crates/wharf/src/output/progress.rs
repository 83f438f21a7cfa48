//! `wharf pull`'s output, as Docker prints it: a header, one line per layer keyed by the
//! first 12 hex digits of its digest, the digest, a status line and the reference. Drawn
//! by [`super::layers`].

use wharf_image::pull::PullEvent;
use wharf_spec::Reference;

use super::layers::{line_out, LayerOutput, Shown};

pub struct PullOutput(LayerOutput);

impl PullOutput {
    pub fn new(quiet: bool) -> PullOutput {
        PullOutput(LayerOutput::new(quiet, "Downloading"))
    }

    pub fn event(&self, event: &PullEvent) {
        self.0.show(shown(event));
    }

    /// The status line and the reference, after a successful pull.
    pub fn finish(&self, reference: &Reference, up_to_date: bool) {
        self.0.end_layers();
        if !self.0.is_quiet() {
            let status = if up_to_date {
                "Image is up to date for"
            } else {
                "Downloaded newer image for"
            };
            line_out(&format!("Status: {status} {}", reference.familiar()));
        }
        line_out(&reference.to_string());
    }
}

/// `TAG: Pulling from PATH` (the digest instead of a tag for a pull by digest).
fn header(reference: &Reference) -> String {
    let what = match reference.digest() {
        Some(d) => d.to_string(),
        None => reference.tag_or_latest().to_string(),
    };
    format!("{what}: Pulling from {}", reference.path())
}

fn shown(event: &PullEvent) -> Shown<'_> {
    let layer = |digest, state: &'static str, last| Shown::Layer {
        digest,
        state: state.into(),
        last,
    };
    match event {
        PullEvent::Resolving { reference } => Shown::Line(header(reference)),
        PullEvent::LayerAlreadyExists(d) => layer(d, "Already exists", true),
        PullEvent::LayerWaiting(d) => layer(d, "Pulling fs layer", false),
        PullEvent::LayerDownloading {
            digest,
            done,
            total,
        } => Shown::Progress {
            digest,
            done: *done,
            total: *total,
        },
        PullEvent::LayerVerifying(d) => layer(d, "Verifying Checksum", false),
        PullEvent::LayerDownloaded(d) => layer(d, "Download complete", false),
        PullEvent::LayerComplete(d) => layer(d, "Pull complete", true),
        PullEvent::Digest(d) => Shown::Line(format!("Digest: {d}")),
        _ => Shown::Nothing,
    }
}
