//! `wharf unpack` and `wharf export`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use wharf_client::Client;
use wharf_image::copy::{self, Location};
use wharf_image::engine::Select;
use wharf_image::unpack::{self, Keep, UnpackOptions, UnpackReport};
use wharf_spec::Reference;
use wharf_store::Store;

use super::parse_platform;
use super::remote::block_on;
use crate::cli::{ExportArgs, PullArgs, UnpackArgs};
use crate::output::stdout::outln;
use wharf_image::count::count;

pub fn unpack(store: &Store, args: &UnpackArgs) -> Result<ExitCode> {
    match Location::parse(&args.image) {
        // Pulled and unpacked in one download: the blobs go into the store as they pass.
        Ok(Location::Registry(reference)) => {
            if args.link || args.snapshots {
                anyhow::bail!(
                    "`--link` and `--snapshots` unpack from the store's layer snapshots, which `{}` is not in yet\nhint: pull it first (`wharf pull {}`), then unpack it by name",
                    args.image,
                    reference.familiar()
                );
            }
            let keep = Keep {
                store: store.clone(),
                name: reference.canonical(),
            };
            return unpack_streamed(args, Some(&keep));
        }
        Ok(
            from @ (Location::OciDir { .. }
            | Location::OciArchive { .. }
            | Location::DockerArchive { .. }),
        ) => {
            anyhow::bail!(
                "`{from}` is not in the store: load it first, or unpack it straight from there with `--no-store`"
            );
        }
        _ => {}
    }
    let options = UnpackOptions {
        platform: parse_platform(args.platform.as_deref())?,
        link: args.link,
        snapshots: args.snapshots,
    };
    let report = unpack::unpack(store, &args.image, &args.dir, &options).with_context(|| {
        format!(
            "cannot unpack `{}` into `{}`",
            args.image,
            args.dir.display()
        )
    })?;
    print_warnings(&report);
    if !args.quiet {
        outln!(
            "Unpacked {} into {} ({}: {} extracted, {} from snapshots)",
            report.id.short(),
            args.dir.display(),
            count(report.layers, "layer"),
            report.extracted,
            report.reused
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `wharf pull --unpack DIR REF`: `wharf unpack docker://REF DIR`, one download into both.
pub fn pull_and_unpack(store: &Store, args: &PullArgs, dir: &Path) -> Result<ExitCode> {
    let reference = Reference::parse_normalized(&args.reference)
        .with_context(|| format!("invalid reference `{}`", args.reference))?;
    let unpack_args = UnpackArgs {
        image: format!("docker://{reference}"),
        dir: dir.to_path_buf(),
        platform: args.platform.clone(),
        link: false,
        snapshots: false,
        no_store: false,
        registry: args.registry.clone(),
        quiet: args.quiet,
    };
    unpack(store, &unpack_args)
}

/// `wharf unpack [--no-store] SOURCE DIR`: streamed from where the image is; kept in the
/// store too with `keep`.
pub fn unpack_streamed(args: &UnpackArgs, keep: Option<&Keep>) -> Result<ExitCode> {
    let from = Location::parse(&args.image)?;
    if let Location::Store(_) = from {
        anyhow::bail!(
            "`--no-store` reads the image from where it is: name it as `docker://REF`, `oci:DIR[:REF]`, `oci-archive:FILE[:REF]` or `docker-archive:FILE[:REF]`"
        );
    }
    let client = Client::new(super::remote::client_config(&args.registry)?)?;
    let select = Select {
        platform: parse_platform(args.platform.as_deref())?,
        ..Select::default()
    };
    let report = block_on(async {
        let source = copy::open_source(None, &client, &from).await?;
        unpack::unpack_streamed(source.as_ref(), &select, &args.dir, keep).await
    })?
    .with_context(|| format!("cannot unpack `{from}` into `{}`", args.dir.display()))?;
    print_warnings(&report);
    if !args.quiet {
        let kept = match keep {
            Some(k) => format!("; kept as {}", k.name.familiar()),
            None => String::new(),
        };
        outln!(
            "Unpacked {} into {} ({}, streamed{kept})",
            report.id.short(),
            args.dir.display(),
            count(report.layers, "layer")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn export(store: &Store, args: &ExportArgs) -> Result<ExitCode> {
    let platform = parse_platform(args.platform.as_deref())?;
    let context = || format!("cannot export `{}`", args.image);
    let report = super::write_output(args.output.as_deref(), "a tar", |out| {
        let (_, report) =
            unpack::export(store, &args.image, platform.as_ref(), out).with_context(context)?;
        Ok(report)
    })?;
    print_warnings(&report);
    Ok(ExitCode::SUCCESS)
}

fn print_warnings(report: &UnpackReport) {
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
}
