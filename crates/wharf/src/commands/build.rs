//! `wharf append`, `wharf commit` and `wharf mutate`: new images from directories,
//! changesets and config edits.
//! Each prints the new image's ID, as `docker commit` does.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use wharf_image::append::{self, AppendOptions, NewLayer};
use wharf_image::commit::{self, CommitOptions};
use wharf_image::compose;
use wharf_image::mutate::{self, ConfigEdits, MutateOptions};
use wharf_layer::build::{BuildOptions, LayerSource, Normalize};
use wharf_layer::Compression;
use wharf_spec::Platform;
use wharf_store::Store;

use super::parse_platform;
use crate::cli::{AppendArgs, CommitArgs, LayerArgs, LayerCompression, MutateArgs};
use crate::output::stdout::outln;

pub fn append(store: &Store, args: &AppendArgs) -> Result<ExitCode> {
    // Everything the user typed is checked before a byte is written.
    let name = compose::target_name(&args.tag)?;
    let (platform, layer, source_date_epoch) = layer_options(&args.layer)?;
    let sources = args
        .paths
        .iter()
        .map(|p| append::parse_source(p))
        .collect::<Result<Vec<LayerSource>, _>>()?;
    let options = AppendOptions {
        platform,
        layer,
        source_date_epoch,
    };
    let appended = append::append(store, &args.base, &sources, &name, &options)?;
    warn_skipped(&appended.layers);
    outln!("{}", appended.image.id)?;
    Ok(ExitCode::SUCCESS)
}

pub fn commit(store: &Store, args: &CommitArgs) -> Result<ExitCode> {
    let name = compose::target_name(&args.tag)?;
    let (platform, layer, source_date_epoch) = layer_options(&args.layer)?;
    let options = CommitOptions {
        platform,
        layer,
        source_date_epoch,
    };
    let committed = commit::commit(store, &args.base, &args.dir, &name, &options)?;
    warn_skipped(std::slice::from_ref(&committed.layer));
    outln!("{}", committed.image.id)?;
    Ok(ExitCode::SUCCESS)
}

/// The platform, layer options and `SOURCE_DATE_EPOCH` from `append`'s and `commit`'s
/// shared flags.
fn layer_options(args: &LayerArgs) -> Result<(Option<Platform>, BuildOptions, Option<u64>)> {
    let platform = parse_platform(args.platform.as_deref())?;
    let owner = args.owner.as_deref().map(parse_owner).transpose()?;
    let source_date_epoch = source_date_epoch()?;
    let layer = BuildOptions {
        compression: match args.compression {
            LayerCompression::Gzip => Compression::Gzip,
            LayerCompression::Zstd => Compression::Zstd,
            LayerCompression::None => Compression::None,
        },
        level: args.level,
        normalize: Normalize {
            source_date_epoch,
            owner,
        },
        threads: None,
    };
    Ok((platform, layer, source_date_epoch))
}

fn warn_skipped(layers: &[NewLayer]) {
    for layer in layers {
        for path in &layer.skipped {
            eprintln!(
                "warning: skipped `{}`: a socket cannot be stored in a layer",
                path.display()
            );
        }
    }
}

pub fn mutate(store: &Store, args: &MutateArgs) -> Result<ExitCode> {
    let name = compose::target_name(&args.tag)?;
    let platform = parse_platform(args.platform.as_deref())?;
    let edits = ConfigEdits {
        entrypoint: args
            .entrypoint
            .as_deref()
            .map(|e| mutate::parse_command("entrypoint", e))
            .transpose()?,
        cmd: args
            .cmd
            .as_deref()
            .map(|c| mutate::parse_command("cmd", c))
            .transpose()?,
        env: args
            .env
            .iter()
            .map(|e| mutate::parse_key_value("env", e))
            .collect::<Result<_, _>>()?,
        labels: args
            .label
            .iter()
            .map(|l| mutate::parse_key_value("label", l))
            .collect::<Result<_, _>>()?,
        workdir: args
            .workdir
            .as_deref()
            .map(mutate::parse_workdir)
            .transpose()?,
        user: args.user.clone(),
        expose: args
            .expose
            .iter()
            .map(|p| mutate::parse_port(p))
            .collect::<Result<_, _>>()?,
    };
    let options = MutateOptions {
        platform,
        source_date_epoch: source_date_epoch()?,
    };
    let image = mutate::mutate(store, &args.image, &edits, &name, &options)?;
    outln!("{}", image.id)?;
    Ok(ExitCode::SUCCESS)
}

/// `UID:GID`, both numbers.
fn parse_owner(input: &str) -> Result<(u64, u64)> {
    let parsed = input
        .split_once(':')
        .and_then(|(u, g)| Some((u.parse().ok()?, g.parse().ok()?)));
    match parsed {
        Some(owner) => Ok(owner),
        None => bail!("`--owner {input}` must be UID:GID, two numbers (e.g. `0:0`)"),
    }
}

/// `SOURCE_DATE_EPOCH` (reproducible-builds.org): seconds since 1970; unset or empty
/// means "now".
fn source_date_epoch() -> Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => v.trim().parse().map(Some).with_context(|| {
            format!("`SOURCE_DATE_EPOCH={v}` must be a number of seconds since 1970")
        }),
        Err(_) => Ok(None),
    }
}
