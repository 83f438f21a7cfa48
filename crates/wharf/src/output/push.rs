//! `wharf push`'s (and `wharf copy`'s) output, as Docker prints a push: the repository,
//! one line per layer keyed by the first 12 hex digits of its digest (`Preparing`,
//! `Pushing` with a bar, `Pushed`, `Layer already exists`, `Mounted from REPO`), then
//! `TAG: digest: sha256:… size: N`.
//!
//! On a terminal each layer is a live line; anywhere else every state change is one plain
//! line and byte progress is left out, as Docker does, so the output can be snapshot.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use wharf_image::push::PushEvent;
use wharf_spec::{Digest, Reference};

pub(crate) use super::progress::short;
use super::progress::{line_out, message_style};

pub enum PushOutput {
    /// `-q`: only the reference at the end.
    Quiet,
    Plain,
    Bars(RefCell<Bars>),
}

pub struct Bars {
    multi: MultiProgress,
    layers: HashMap<Digest, ProgressBar>,
}

impl PushOutput {
    pub fn new(quiet: bool) -> PushOutput {
        if quiet {
            PushOutput::Quiet
        } else if std::io::stdout().is_terminal() {
            PushOutput::Bars(RefCell::new(Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
                layers: HashMap::new(),
            }))
        } else {
            PushOutput::Plain
        }
    }

    pub fn event(&self, event: &PushEvent) {
        match self {
            PushOutput::Quiet => {}
            PushOutput::Plain => {
                if let Some(line) = plain_line(event) {
                    line_out(&line);
                }
            }
            PushOutput::Bars(bars) => bars.borrow_mut().event(event),
        }
    }

    /// `TAG: digest: sha256:… size: N`, or the reference alone with `-q`.
    pub fn finish(&self, destination: &Reference, digest: &Digest, size: u64) {
        match self {
            PushOutput::Quiet => line_out(&destination.to_string()),
            PushOutput::Bars(bars) => {
                bars.borrow_mut().layers.clear();
                line_out(&summary(destination, digest, size));
            }
            PushOutput::Plain => line_out(&summary(destination, digest, size)),
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

fn plain_line(event: &PushEvent) -> Option<String> {
    let layer = |d: &Digest, what: &str| Some(format!("{}: {what}", short(d)));
    match event {
        PushEvent::Started { repository } => Some(format!(
            "The push refers to repository [{}]",
            repository.name()
        )),
        PushEvent::LayerPreparing(d) => layer(d, "Preparing"),
        PushEvent::LayerAlreadyExists(d) => layer(d, "Layer already exists"),
        PushEvent::LayerPushing { .. } => None,
        PushEvent::LayerPushed(d) => layer(d, "Pushed"),
        PushEvent::LayerMounted { digest, from } => {
            layer(digest, &format!("Mounted from {}", from.path()))
        }
        PushEvent::ManifestPushed { .. } => None,
        _ => None,
    }
}

impl Bars {
    fn event(&mut self, event: &PushEvent) {
        match event {
            PushEvent::Started { .. } => {
                if let Some(line) = plain_line(event) {
                    let _ = self.multi.println(line);
                }
            }
            PushEvent::LayerPushing {
                digest,
                done,
                total,
            } => {
                let bar = self.bar(digest);
                if bar.length() != Some(*total) {
                    bar.set_length(*total);
                    bar.set_style(pushing_style());
                }
                bar.set_position(*done);
            }
            other => {
                if let (Some(digest), Some(line)) = (layer_of(other), plain_line(other)) {
                    let bar = self.bar(digest);
                    bar.set_style(message_style());
                    bar.set_message(line);
                    if !matches!(other, PushEvent::LayerPreparing(_)) {
                        bar.finish();
                    }
                }
            }
        }
    }

    fn bar(&mut self, digest: &Digest) -> ProgressBar {
        let multi = &self.multi;
        self.layers
            .entry(digest.clone())
            .or_insert_with(|| {
                let bar = multi.add(ProgressBar::no_length().with_style(message_style()));
                bar.set_prefix(short(digest).to_string());
                bar
            })
            .clone()
    }
}

fn layer_of(event: &PushEvent) -> Option<&Digest> {
    match event {
        PushEvent::LayerPreparing(d)
        | PushEvent::LayerAlreadyExists(d)
        | PushEvent::LayerPushed(d) => Some(d),
        PushEvent::LayerPushing { digest, .. } | PushEvent::LayerMounted { digest, .. } => {
            Some(digest)
        }
        _ => None,
    }
}

fn pushing_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}: Pushing [{bar:50}] {bytes}/{total_bytes}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}
