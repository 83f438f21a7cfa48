//! `wharf unpack` and `wharf export`.

use std::io::{BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use wharf_image::unpack::{self, UnpackOptions, UnpackReport};
use wharf_store::Store;

use super::parse_platform;
use crate::cli::{ExportArgs, UnpackArgs};

pub fn unpack(store: &Store, args: &UnpackArgs) -> Result<ExitCode> {
    let options = UnpackOptions {
        platform: parse_platform(args.platform.as_deref())?,
        link: args.link,
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
        println!(
            "Unpacked {} into {} ({} layers: {} extracted, {} from snapshots)",
            report.id.short(),
            args.dir.display(),
            report.layers,
            report.extracted,
            report.reused
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn export(store: &Store, args: &ExportArgs) -> Result<ExitCode> {
    let platform = parse_platform(args.platform.as_deref())?;
    let context = || format!("cannot export `{}`", args.image);
    let report = match args.output.as_deref().filter(|p| p.as_os_str() != "-") {
        Some(path) => {
            // Written beside the destination and renamed into place only when complete.
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let mut temp = tempfile::Builder::new()
                .prefix(".wharf-export-")
                .tempfile_in(dir)
                .with_context(|| format!("cannot create a file in `{}`", dir.display()))?;
            let out = BufWriter::with_capacity(1 << 20, temp.as_file_mut());
            let (mut out, report) =
                unpack::export(store, &args.image, platform.as_ref(), out).with_context(context)?;
            out.flush()?;
            drop(out);
            temp.as_file().sync_all()?;
            temp.persist(path)
                .with_context(|| format!("cannot write `{}`", path.display()))?;
            report
        }
        None => {
            if std::io::stdout().is_terminal() {
                bail!("cowardly refusing to write a tar to a terminal; use `-o FILE` or redirect the output");
            }
            let out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            let (mut out, report) =
                unpack::export(store, &args.image, platform.as_ref(), out).with_context(context)?;
            out.flush()?;
            report
        }
    };
    print_warnings(&report);
    Ok(ExitCode::SUCCESS)
}

fn print_warnings(report: &UnpackReport) {
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
}
