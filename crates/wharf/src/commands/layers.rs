//! `wharf layers IMAGE` (what each layer does and what the image wastes, with gates for
//! CI) and `wharf diff A B`, reading images from the store, a registry, an OCI layout or
//! archive, or a docker-archive, as streams.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use wharf_client::Client;
use wharf_image::analysis::{self, Analysis, Change, DiffOptions, Difference};
use wharf_image::copy::{self, Location};
use wharf_image::engine::Select;
use wharf_store::Store;

use super::inspect::{truncate, CREATED_BY_WIDTH};
use super::parse_platform;
use super::remote::block_on;
use crate::cli::{CatArgs, DiffArgs, ImageReadArgs, LayersArgs, LsArgs, OutputFormat};
use crate::output::stdout::{out, outln};
use crate::output::{human, table, to_docker_json};

pub fn run(root: Option<std::path::PathBuf>, args: &LayersArgs) -> Result<ExitCode> {
    let waste_limit = args.fail_on_waste.as_deref().map(parse_size).transpose()?;
    let min_efficiency = args
        .min_efficiency
        .as_deref()
        .map(parse_fraction)
        .transpose()?;
    let (from, store, client, select) = open(root, &args.image, &args.common)?;
    let analysis = block_on(async {
        let source = copy::open_source(store.as_ref(), &client, &from).await?;
        analysis::analyze(source.as_ref(), &select).await
    })?
    .with_context(|| format!("cannot read the layers of `{from}`"))?;
    match args.format {
        OutputFormat::Json => outln!("{}", to_docker_json(&analysis))?,
        OutputFormat::Table => render(&analysis, args.no_trunc)?,
    }
    let mut failed = Vec::new();
    if let Some(limit) = waste_limit {
        if analysis.wasted_bytes > limit {
            failed.push(format!(
                "the image wastes {} bytes, over the {limit} allowed (`--fail-on-waste`)",
                analysis.wasted_bytes
            ));
        }
    }
    if let Some(min) = min_efficiency {
        if analysis.efficiency < min {
            failed.push(format!(
                "the image's efficiency is {}, under the {} required (`--min-efficiency`)",
                percent(analysis.efficiency),
                percent(min)
            ));
        }
    }
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for reason in failed {
        eprintln!("wharf: {reason}");
    }
    Ok(ExitCode::FAILURE)
}

fn render(analysis: &Analysis, no_trunc: bool) -> Result<()> {
    let short = |d: &wharf_spec::Digest| d.hex().chars().take(12).collect::<String>();
    let mut rows = vec![[
        "#",
        "DIGEST",
        "SIZE",
        "DIFF ID",
        "FILES",
        "ADDED",
        "CHANGED",
        "REMOVED",
        "HIDES",
        "CREATED BY",
    ]
    .map(String::from)
    .to_vec()];
    for (i, layer) in analysis.layers.iter().enumerate() {
        let created_by = layer.created_by.as_deref().unwrap_or("").replace('\t', " ");
        let c = &layer.changes;
        rows.push(vec![
            (i + 1).to_string(),
            short(&layer.digest),
            human::size(layer.size),
            short(&layer.diff_id),
            human::size(c.files_bytes),
            c.added.to_string(),
            c.changed.to_string(),
            c.removed.to_string(),
            human::size(c.hidden_bytes),
            if no_trunc {
                created_by
            } else {
                truncate(&created_by, CREATED_BY_WIDTH)
            },
        ]);
    }
    out!("{}", table::render(&rows))?;
    outln!()?;
    outln!(
        "{} files in {}; wasted: {} ({} of the files); efficiency: {}",
        human::size(analysis.files_bytes),
        wharf_image::count::count(analysis.layers.len(), "layer"),
        human::size(analysis.wasted_bytes),
        percent(share(analysis.wasted_bytes, analysis.files_bytes)),
        percent(analysis.efficiency)
    )?;
    if !analysis.repeated.is_empty() {
        outln!()?;
        let mut rows = vec![["COUNT", "BYTES", "PATH"].map(String::from).to_vec()];
        for path in &analysis.repeated {
            rows.push(vec![
                path.count.to_string(),
                human::size(path.bytes),
                format!("/{}", path.path),
            ]);
        }
        out!("{}", table::render(&rows))?;
    }
    Ok(())
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

/// A byte count: plain (`1048576`) or with a unit, decimal (`10MB`, `512kB`) or binary
/// (`10MiB`), as Docker's go-units reads them.
fn parse_size(input: &str) -> Result<u64> {
    let text = input.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .with_context(|| format!("`{input}` is not a size (e.g. `1048576`, `10MB`, `10MiB`)"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            bail!("`{input}`: unknown size unit `{other}` (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)")
        }
    };
    Ok((value * scale).round() as u64)
}

/// A fraction from 0 to 1 (`0.95`) or a percentage (`95%`).
fn parse_fraction(input: &str) -> Result<f64> {
    let text = input.trim();
    let (number, scale) = match text.strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (text, 1.0),
    };
    let value: f64 = number
        .trim()
        .parse()
        .with_context(|| format!("`{input}` is not a fraction (e.g. `0.95` or `95%`)"))?;
    let value = value / scale;
    if !(0.0..=1.0).contains(&value) {
        bail!("`{input}` is not between 0 and 1 (or 0% and 100%)");
    }
    Ok(value)
}

/// `wharf diff A B`: files, config and layers that differ between two images.
pub fn diff(root: Option<std::path::PathBuf>, args: &DiffArgs) -> Result<ExitCode> {
    let (a, store_a, client, select) = open(root.clone(), &args.a, &args.common)?;
    let (b, store_b, _, _) = open(root, &args.b, &args.common)?;
    let options = DiffOptions {
        ignore_timestamps: args.ignore_timestamps,
    };
    let difference = block_on(async {
        let x = copy::open_source(store_a.as_ref(), &client, &a).await?;
        let y = copy::open_source(store_b.as_ref(), &client, &b).await?;
        analysis::diff(x.as_ref(), y.as_ref(), &select, &options).await
    })?
    .with_context(|| format!("cannot compare `{a}` with `{b}`"))?;
    match args.format {
        OutputFormat::Json => outln!("{}", to_docker_json(&difference))?,
        OutputFormat::Table => render_diff(&difference)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn render_diff(d: &Difference) -> Result<()> {
    outln!("Files ({} differ):", d.files.len())?;
    for file in &d.files {
        let mark = match file.change {
            Change::Added => "A",
            Change::Removed => "D",
            Change::Changed => "M",
        };
        if file.what.is_empty() {
            outln!("  {mark} {}", file.path)?;
        } else {
            outln!("  {mark} {} ({})", file.path, file.what.join(", "))?;
        }
    }
    outln!("Config ({} differ):", d.config.len())?;
    let show = |v: &Option<serde_json::Value>| match v {
        Some(v) => v.to_string(),
        None => "(none)".to_string(),
    };
    for change in &d.config {
        outln!(
            "  {}: {} → {}",
            change.field,
            show(&change.a),
            show(&change.b)
        )?;
    }
    let l = &d.layers;
    outln!(
        "Layers: {} the same blob, {} the same content stored differently; {} only in the first, {} only in the second",
        l.same_blob.len(),
        l.same_content.len(),
        l.only_in_a,
        l.only_in_b
    )?;
    Ok(())
}

/// `wharf ls IMAGE [PATH]`: the merged filesystem, without unpacking it.
pub fn ls(root: Option<std::path::PathBuf>, args: &LsArgs) -> Result<ExitCode> {
    let (from, store, client, select) = open(root, &args.image, &args.common)?;
    let under = args.path.as_deref().unwrap_or("/");
    let entries = block_on(async {
        let source = copy::open_source(store.as_ref(), &client, &from).await?;
        analysis::list(source.as_ref(), &select, under).await
    })?
    .with_context(|| format!("cannot list `{under}` in `{from}`"))?;
    if args.format == OutputFormat::Json {
        outln!("{}", to_docker_json(&entries))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = Vec::new();
    for e in &entries {
        let name = match (&e.link, e.kind) {
            (Some(target), "hardlink") => format!("{} link to /{target}", e.path),
            (Some(target), _) => format!("{} -> {target}", e.path),
            (None, _) => e.path.clone(),
        };
        rows.push(vec![
            mode_string(e.kind, e.mode),
            format!("{}:{}", e.uid, e.gid),
            e.size.to_string(),
            name,
        ]);
    }
    for row in rows {
        outln!("{:<10} {:>11} {:>12} {}", row[0], row[1], row[2], row[3])?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `wharf cat IMAGE PATH`: one file's bytes on stdout.
pub fn cat(root: Option<std::path::PathBuf>, args: &CatArgs) -> Result<ExitCode> {
    let (from, store, client, select) = open(root, &args.image, &args.common)?;
    let path = args.path.clone();
    let copied = block_on(async {
        let source = copy::open_source(store.as_ref(), &client, &from).await?;
        analysis::cat(source.as_ref(), &select, &path, std::io::stdout()).await
    })?;
    match copied {
        Ok(_) => Ok(ExitCode::SUCCESS),
        // A reader that stopped early (`| head`) is not a failure.
        Err(wharf_image::ImageError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(e).with_context(|| format!("cannot print `{}` of `{from}`", args.path)),
    }
}

/// The image location, the store when it is one, a client, and the platform choice.
fn open(
    root: Option<std::path::PathBuf>,
    image: &str,
    common: &ImageReadArgs,
) -> Result<(Location, Option<Store>, Client, Select)> {
    let from = Location::parse(image)?;
    let store = match from {
        Location::Store(_) => Some(super::open_store(root)?),
        _ => None,
    };
    let client = Client::new(super::remote::client_config(&common.registry)?)?;
    let select = Select {
        platform: parse_platform(common.platform.as_deref())?,
        ..Select::default()
    };
    Ok((from, store, client, select))
}

/// `ls -l`'s mode column.
fn mode_string(kind: &str, mode: u32) -> String {
    let kind = match kind {
        "dir" => 'd',
        "symlink" => 'l',
        "other" => '?',
        _ => '-',
    };
    let mut s = String::from(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_docker_writes_them() {
        assert_eq!(parse_size("1048576").unwrap(), 1_048_576);
        assert_eq!(parse_size("10MB").unwrap(), 10_000_000);
        assert_eq!(parse_size("1.5kB").unwrap(), 1_500);
        assert_eq!(parse_size("2MiB").unwrap(), 2 * 1024 * 1024);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("10XB").is_err());
    }

    #[test]
    fn fractions_take_either_form() {
        assert_eq!(parse_fraction("0.95").unwrap(), 0.95);
        assert_eq!(parse_fraction("95%").unwrap(), 0.95);
        assert!(parse_fraction("1.5").is_err());
        assert!(parse_fraction("x").is_err());
    }
}
