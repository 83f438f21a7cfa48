//! Docker's per-layer progress display, shared by `pull` and `push`/`copy`: lines above
//! the layers (a header, a digest), one line per layer keyed by the first 12 hex digits of
//! its digest, and a byte bar while a layer moves.
//!
//! On a terminal each layer is a live line; anywhere else every state change is one plain
//! line and byte progress is left out, as Docker does, so the output can be snapshot.
//! Each command says how its events look ([`Shown`]); this module draws them.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use wharf_spec::Digest;

/// How one event looks.
pub enum Shown<'a> {
    /// A line of its own (a header, the digest).
    Line(String),
    /// A layer's new state; `last`: its line is final (the layer is done).
    Layer {
        digest: &'a Digest,
        state: Cow<'a, str>,
        last: bool,
    },
    /// Bytes of a layer moved.
    Progress {
        digest: &'a Digest,
        done: u64,
        total: u64,
    },
    Nothing,
}

pub enum LayerOutput {
    /// `-q`: nothing but what the command prints at the end.
    Quiet,
    Plain,
    Bars(RefCell<Bars>),
}

pub struct Bars {
    multi: MultiProgress,
    layers: HashMap<Digest, ProgressBar>,
    /// The bar's label while bytes move: `Downloading`, `Pushing`.
    moving: &'static str,
}

impl LayerOutput {
    pub fn new(quiet: bool, moving: &'static str) -> LayerOutput {
        if quiet {
            LayerOutput::Quiet
        } else if std::io::stdout().is_terminal() {
            LayerOutput::Bars(RefCell::new(Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
                layers: HashMap::new(),
                moving,
            }))
        } else {
            LayerOutput::Plain
        }
    }

    pub fn is_quiet(&self) -> bool {
        matches!(self, LayerOutput::Quiet)
    }

    pub fn show(&self, shown: Shown<'_>) {
        match self {
            LayerOutput::Quiet => {}
            LayerOutput::Plain => match shown {
                Shown::Line(line) => line_out(&line),
                Shown::Layer { digest, state, .. } => {
                    line_out(&format!("{}: {state}", short(digest)))
                }
                Shown::Progress { .. } | Shown::Nothing => {}
            },
            LayerOutput::Bars(bars) => bars.borrow_mut().show(shown),
        }
    }

    /// Ends the live lines, before the command's closing lines.
    pub fn end_layers(&self) {
        if let LayerOutput::Bars(bars) = self {
            bars.borrow_mut().layers.clear();
        }
    }
}

impl Bars {
    fn show(&mut self, shown: Shown<'_>) {
        match shown {
            Shown::Line(line) => {
                let _ = self.multi.println(line);
            }
            Shown::Layer {
                digest,
                state,
                last,
            } => {
                let bar = self.bar(digest);
                bar.set_style(message_style());
                bar.set_message(format!("{}: {state}", short(digest)));
                if last {
                    bar.finish();
                }
            }
            Shown::Progress {
                digest,
                done,
                total,
            } => {
                let bar = self.bar(digest);
                if bar.length() != Some(total) {
                    bar.set_length(total);
                    bar.set_style(moving_style(self.moving));
                }
                bar.set_position(done);
            }
            Shown::Nothing => {}
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

pub(crate) fn line_out(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`wharf pull x | head -1`) is not the command's failure.
    let _ = writeln!(out, "{line}");
}

/// Docker's short layer ID.
pub(crate) fn short(digest: &Digest) -> &str {
    digest.hex().get(..12).unwrap_or(digest.hex())
}

fn message_style() -> ProgressStyle {
    ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn moving_style(label: &str) -> ProgressStyle {
    ProgressStyle::with_template(&format!(
        "{{prefix}}: {label} [{{bar:50}}] {{bytes}}/{{total_bytes}}"
    ))
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar())
}
