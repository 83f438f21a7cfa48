//! `wharf pull`'s output, as Docker prints it: a header, one line per layer keyed by the
//! first 12 hex digits of its digest, the digest, a status line and the reference.
//!
//! On a terminal each layer is a live line (a progress bar while it downloads); anywhere
//! else every event is one plain line and byte progress is left out, as Docker does, so
//! the output is stable enough to snapshot.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use wharf_image::pull::PullEvent;
use wharf_spec::{Digest, Reference};

pub enum PullOutput {
    /// `-q`: nothing until the reference.
    Quiet,
    Plain,
    Bars(RefCell<Bars>),
}

pub struct Bars {
    multi: MultiProgress,
    layers: HashMap<Digest, ProgressBar>,
}

impl PullOutput {
    pub fn new(quiet: bool) -> PullOutput {
        if quiet {
            PullOutput::Quiet
        } else if std::io::stdout().is_terminal() {
            PullOutput::Bars(RefCell::new(Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
                layers: HashMap::new(),
            }))
        } else {
            PullOutput::Plain
        }
    }

    pub fn event(&self, event: &PullEvent) {
        match self {
            PullOutput::Quiet => {}
            PullOutput::Plain => {
                if let Some(line) = plain_line(event) {
                    line_out(&line);
                }
            }
            PullOutput::Bars(bars) => bars.borrow_mut().event(event),
        }
    }

    /// The status line and the reference, after a successful pull.
    pub fn finish(&self, reference: &Reference, up_to_date: bool) {
        if let PullOutput::Bars(bars) = self {
            bars.borrow_mut().layers.clear();
        }
        if !matches!(self, PullOutput::Quiet) {
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

pub(crate) fn line_out(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`wharf pull x | head -1`) is not the pull's failure.
    let _ = writeln!(out, "{line}");
}

/// Docker's short layer ID.
pub(crate) fn short(digest: &Digest) -> &str {
    digest.hex().get(..12).unwrap_or(digest.hex())
}

/// `TAG: Pulling from PATH` (the digest instead of a tag for a pull by digest).
fn header(reference: &Reference) -> String {
    let what = match reference.digest() {
        Some(d) => d.to_string(),
        None => reference.tag_or_latest().to_string(),
    };
    format!("{what}: Pulling from {}", reference.path())
}

fn plain_line(event: &PullEvent) -> Option<String> {
    let layer = |d: &Digest, what: &str| Some(format!("{}: {what}", short(d)));
    match event {
        PullEvent::Resolving { reference } => Some(header(reference)),
        PullEvent::LayerAlreadyExists(d) => layer(d, "Already exists"),
        PullEvent::LayerWaiting(d) => layer(d, "Pulling fs layer"),
        PullEvent::LayerDownloading { .. } => None,
        PullEvent::LayerVerifying(d) => layer(d, "Verifying Checksum"),
        PullEvent::LayerDownloaded(d) => layer(d, "Download complete"),
        PullEvent::LayerComplete(d) => layer(d, "Pull complete"),
        PullEvent::Digest(d) => Some(format!("Digest: {d}")),
        PullEvent::Status { .. } => None,
        _ => None,
    }
}

impl Bars {
    fn event(&mut self, event: &PullEvent) {
        match event {
            PullEvent::Resolving { reference } => {
                let _ = self.multi.println(header(reference));
            }
            PullEvent::LayerDownloading {
                digest,
                done,
                total,
            } => {
                let bar = self.bar(digest);
                if bar.length() != Some(*total) {
                    bar.set_length(*total);
                    bar.set_style(downloading_style());
                }
                bar.set_position(*done);
            }
            PullEvent::Digest(d) => {
                let _ = self.multi.println(format!("Digest: {d}"));
            }
            other => {
                if let (Some(digest), Some(line)) = (layer_of(other), plain_line(other)) {
                    let bar = self.bar(digest);
                    bar.set_style(message_style());
                    bar.set_message(line);
                    if matches!(
                        other,
                        PullEvent::LayerComplete(_) | PullEvent::LayerAlreadyExists(_)
                    ) {
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

fn layer_of(event: &PullEvent) -> Option<&Digest> {
    match event {
        PullEvent::LayerAlreadyExists(d)
        | PullEvent::LayerWaiting(d)
        | PullEvent::LayerVerifying(d)
        | PullEvent::LayerDownloaded(d)
        | PullEvent::LayerComplete(d) => Some(d),
        PullEvent::LayerDownloading { digest, .. } => Some(digest),
        _ => None,
    }
}

pub(crate) fn message_style() -> ProgressStyle {
    ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn downloading_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}: Downloading [{bar:50}] {bytes}/{total_bytes}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}
