//! `wharf system df` and `wharf fsck`.

use std::process::ExitCode;

use anyhow::Result;
use chrono::Utc;
use wharf_image::count::count;
use wharf_image::usage;
use wharf_store::{Leftover, Store};

use crate::cli::{DfArgs, OutputFormat};
use crate::output::stdout::{out, outln};
use crate::output::{human, table, to_docker_json};

pub fn df(store: &Store, args: &DfArgs) -> Result<ExitCode> {
    let usage = usage::usage(store)?;
    if args.format == OutputFormat::Json {
        outln!("{}", to_docker_json(&usage))?;
        return Ok(ExitCode::SUCCESS);
    }
    let now = Utc::now();
    outln!("Images space usage:\n")?;
    let mut rows = vec![[
        "REPOSITORY",
        "TAG",
        "IMAGE ID",
        "CREATED",
        "SIZE",
        "SHARED SIZE",
        "UNIQUE SIZE",
    ]
    .map(String::from)
    .to_vec()];
    for image in &usage.images {
        let id = image
            .id
            .as_ref()
            .map_or("<unknown>".to_string(), |d| d.short().to_string());
        let mut names: Vec<(String, String)> = image
            .names
            .iter()
            .map(|n| (n.familiar_name(), n.tag().unwrap_or("<none>").to_string()))
            .collect();
        if names.is_empty() {
            names.push(("<none>".into(), "<none>".into()));
        }
        for (repository, tag) in names {
            rows.push(vec![
                repository,
                tag,
                id.clone(),
                human::since(image.created.as_deref(), now),
                human::size(image.size),
                human::size(image.shared_size),
                human::size(image.unique_size),
            ]);
        }
    }
    out!("{}", table::render(&rows))?;
    let saved = usage.size_without_sharing.saturating_sub(usage.images_size);
    outln!()?;
    outln!(
        "Images: {} use {} on disk; without sharing they would use {} ({} saved by shared blobs).",
        usage.images.len(),
        human::size(usage.images_size),
        human::size(usage.size_without_sharing),
        human::size(saved),
    )?;
    outln!(
        "Reclaimable: {} ({} and unreferenced blobs; `wharf image prune` removes them).",
        human::size(usage.reclaimable),
        count(usage.dangling_images, "dangling image")
    )?;
    if usage.snapshots > 0 {
        outln!(
            "Snapshots: {} {} {} (`wharf image prune` removes those no image uses).",
            count(usage.snapshots, "unpacked layer"),
            if usage.snapshots == 1 { "uses" } else { "use" },
            human::size(usage.snapshots_size)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn fsck(store: &Store, repair: bool) -> Result<ExitCode> {
    let report = store.fsck(repair)?;
    outln!(
        "checked {} ({})",
        count(report.checked, "blob"),
        human::size(report.checked_bytes)
    )?;
    for problem in report.problems() {
        outln!("{problem}")?;
    }
    // Expected after an interrupted pull or load: reported, never a failure.
    let lines = [
        leftovers_line(
            &report.resumable,
            ("resumable partial download", "resumable partial downloads"),
            "the next pull or load continues IT; `wharf image prune` removes IT",
        ),
        leftovers_line(
            &report.leftover,
            ("file", "files"),
            if repair {
                "left by an interrupted command, removed"
            } else {
                "left by an interrupted command; `wharf image prune` removes IT"
            },
        ),
    ];
    for line in lines.into_iter().flatten() {
        println!("{line}");
    }
    if report.is_clean() {
        outln!("the store is clean")?;
        return Ok(ExitCode::SUCCESS);
    }
    if repair && report.repaired_everything() {
        println!("repaired: the store is clean now");
        return Ok(ExitCode::SUCCESS);
    }
    if repair {
        outln!("repaired what could be repaired; missing blobs must be loaded or pulled again")?;
    } else {
        eprintln!("hint: `wharf fsck --repair` removes corrupt and orphaned blobs and stray files");
    }
    Ok(ExitCode::FAILURE)
}

/// `2 resumable partial downloads (1.2MB): …`, or nothing when there are none; `IT` in
/// `fate` becomes `it` or `them`.
fn leftovers_line(files: &[Leftover], (one, many): (&str, &str), fate: &str) -> Option<String> {
    if files.is_empty() {
        return None;
    }
    let bytes = files.iter().map(|f| f.size).sum();
    let (what, it) = if files.len() == 1 {
        (one, "it")
    } else {
        (many, "them")
    };
    Some(format!(
        "{} {what} ({}): {}",
        files.len(),
        human::size(bytes),
        fate.replace("IT", it)
    ))
}
