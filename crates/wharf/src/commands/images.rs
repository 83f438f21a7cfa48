//! `wharf images`: Docker's image table.

use std::process::ExitCode;

use anyhow::Result;
use chrono::Utc;
use serde::Serialize;
use wharf_image::{catalog, layers};
use wharf_spec::Reference;
use wharf_store::Store;

use crate::cli::{ImagesArgs, OutputFormat};
use crate::output::stdout::{out, outln};
use crate::output::{human, table};

/// One row: a name (or `<none>`) of one image.
struct Row {
    repository: String,
    tag: String,
    digest: String,
    id: String,
    created: Option<String>,
    size: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct JsonRow<'a> {
    repository: &'a str,
    tag: &'a str,
    digest: &'a str,
    #[serde(rename = "ID")]
    id: &'a str,
    created_at: &'a str,
    created_since: String,
    size: String,
}

pub fn run(store: &Store, args: &ImagesArgs) -> Result<ExitCode> {
    let filter = args
        .filter
        .as_deref()
        .map(Reference::parse_normalized)
        .transpose()?;
    let index = store.read_index()?;
    let mut rows = Vec::new();
    for (target, names) in catalog::images(&index) {
        let listed = if names.is_empty() {
            filter.is_none()
        } else {
            names.iter().any(|n| matches(filter.as_ref(), n))
        };
        if !listed {
            continue;
        }
        // One unreadable image (a blob lost to `fsck --repair`) must not hide the others.
        let read = catalog::resolve(store, &target, None).and_then(|resolved| {
            let size = layers::image_size(store, &resolved.manifest.layers)?;
            Ok((resolved, size))
        });
        let (resolved, size) = match read {
            Ok(read) => read,
            Err(e) => {
                let name = names
                    .first()
                    .map_or(target.digest.to_string(), |n| n.familiar());
                eprintln!("warning: cannot read image `{name}`: {e}");
                eprintln!("hint: `wharf fsck` checks the store; `wharf rmi` removes the image");
                continue;
            }
        };
        let id = if args.no_trunc {
            resolved.id().to_string()
        } else {
            resolved.id().short().to_string()
        };
        let row = |repository: String, tag: String| Row {
            repository,
            tag,
            digest: target.digest.to_string(),
            id: id.clone(),
            created: resolved.config.created.clone(),
            size,
        };
        if names.is_empty() && filter.is_none() {
            rows.push(row("<none>".into(), "<none>".into()));
        }
        // Docker's rule: a name by digest only (`name@digest`, from a pull by digest) is a
        // `<none>` row only while no tag of that repository names the image.
        let tagged_in = |repo: &Reference| {
            names
                .iter()
                .any(|n| n.tag().is_some() && n.name() == repo.name())
        };
        let shown = names
            .iter()
            .filter(|n| n.tag().is_some() || !tagged_in(n))
            .filter(|n| matches(filter.as_ref(), n));
        for name in shown {
            rows.push(row(
                name.familiar_name(),
                name.tag().unwrap_or("<none>").to_string(),
            ));
        }
    }
    // Newest first, as Docker lists them.
    rows.sort_by(|a, b| {
        b.created
            .cmp(&a.created)
            .then_with(|| a.repository.cmp(&b.repository))
            .then_with(|| a.tag.cmp(&b.tag))
    });
    let now = Utc::now();
    if args.quiet {
        for row in &rows {
            outln!("{}", row.id)?;
        }
    } else if args.format == OutputFormat::Json {
        for row in &rows {
            let json = JsonRow {
                repository: &row.repository,
                tag: &row.tag,
                digest: &row.digest,
                id: &row.id,
                created_at: row.created.as_deref().unwrap_or(""),
                created_since: human::since(row.created.as_deref(), now),
                size: human::size(row.size),
            };
            outln!("{}", serde_json::to_string(&json)?)?;
        }
    } else {
        let mut cells = vec![header(args.digests)];
        for row in &rows {
            let mut line = vec![row.repository.clone(), row.tag.clone()];
            if args.digests {
                line.push(row.digest.clone());
            }
            line.extend([
                row.id.clone(),
                human::since(row.created.as_deref(), now),
                human::size(row.size),
            ]);
            cells.push(line);
        }
        out!("{}", table::render(&cells))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn header(digests: bool) -> Vec<String> {
    let mut h = vec!["REPOSITORY", "TAG"];
    if digests {
        h.push("DIGEST");
    }
    h.extend(["IMAGE ID", "CREATED", "SIZE"]);
    h.into_iter().map(String::from).collect()
}

/// `wharf images redis` lists every tag of redis; `redis:7` only that tag.
fn matches(filter: Option<&Reference>, name: &Reference) -> bool {
    match filter {
        None => true,
        Some(f) => f.name() == name.name() && f.tag().is_none_or(|t| Some(t) == name.tag()),
    }
}
