//! `wharf image inspect` and `wharf history`.

use std::process::ExitCode;

use anyhow::Result;
use chrono::Utc;
use wharf_image::{history, inspect as image_inspect};
use wharf_store::Store;

use super::parse_platform;
use crate::cli::{HistoryArgs, InspectArgs};
use crate::output::stdout::{out, outln};
use crate::output::{human, table, to_docker_json};

/// Prints what it found even when some names fail, then fails, as Docker does.
pub fn inspect(store: &Store, args: &InspectArgs) -> Result<ExitCode> {
    let platform = parse_platform(args.platform.as_deref())?;
    let mut documents = Vec::new();
    let mut errors = Vec::new();
    for input in &args.images {
        match image_inspect::inspect(store, input, platform.as_ref()) {
            Ok(doc) => documents.push(doc),
            Err(e) => errors.push(e),
        }
    }
    outln!("{}", to_docker_json(&documents))?;
    match errors.into_iter().next() {
        None => Ok(ExitCode::SUCCESS),
        Some(first) => Err(first.into()),
    }
}

pub(super) const CREATED_BY_WIDTH: usize = 45;

pub fn history(store: &Store, args: &HistoryArgs) -> Result<ExitCode> {
    let steps = history::history(store, &args.image, None)?;
    if args.quiet {
        for step in &steps {
            outln!("{}", id_cell(step.id.as_ref(), args.no_trunc))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let now = Utc::now();
    let mut rows = vec![["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
        .map(String::from)
        .to_vec()];
    for step in &steps {
        let created_by = step.created_by.replace('\t', " ");
        let created_by = if args.no_trunc {
            created_by
        } else {
            truncate(&created_by, CREATED_BY_WIDTH)
        };
        rows.push(vec![
            id_cell(step.id.as_ref(), args.no_trunc),
            human::since(step.created.as_deref(), now),
            created_by,
            human::size(step.size),
            step.comment.clone(),
        ]);
    }
    out!("{}", table::render(&rows))?;
    Ok(ExitCode::SUCCESS)
}

fn id_cell(id: Option<&wharf_spec::Digest>, no_trunc: bool) -> String {
    match id {
        Some(d) if no_trunc => d.to_string(),
        Some(d) => d.short().to_string(),
        None => "<missing>".into(),
    }
}

/// Docker's `stringutils.Ellipsis`: at most `width` characters, the last one `…`.
pub(super) fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}
