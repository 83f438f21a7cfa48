//! `wharf load` and `wharf save`.

use std::fmt;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use wharf_image::load::{LoadOptions, Loaded};
use wharf_image::save::SaveFormat;
use wharf_image::{catalog, load, save, ImageError};
use wharf_spec::Reference;
use wharf_store::Store;

use super::parse_platform;
use crate::cli::{ArchiveFormat, LoadArgs, SaveArgs};
use crate::output::stdout::outln;

pub fn load(store: &Store, args: &LoadArgs) -> Result<ExitCode> {
    let tag = args
        .tag
        .as_deref()
        .map(Reference::parse_normalized)
        .transpose()?;
    let options = LoadOptions { tag };
    let from_stdin = args.input.as_ref().is_none_or(|p| p.as_os_str() == "-");
    let loaded = if from_stdin {
        if std::io::stdin().is_terminal() {
            bail!("requested load from standard input, but it is a terminal; use `-i FILE` or redirect an archive into it");
        }
        let name = PathBuf::from("standard input");
        load::load_stream(store, &name, std::io::stdin().lock(), &options)
            .map_err(|error| LoadFailed { path: name, error })?
    } else {
        let path = args.input.clone().unwrap_or_default();
        load::load(store, &path, &options).map_err(|error| LoadFailed { path, error })?
    };
    for item in &loaded {
        outln!("{}", describe(store, item))?;
    }
    if loaded.iter().any(|l| l.name.is_none()) && !args.quiet {
        eprintln!("hint: the archive does not name every image; name them with `wharf load -t NAME[:TAG]` or `wharf tag ID NAME`");
    }
    Ok(ExitCode::SUCCESS)
}

/// One line that says the archive's path once and then what is wrong with it.
#[derive(Debug)]
struct LoadFailed {
    path: PathBuf,
    error: ImageError,
}

impl fmt::Display for LoadFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        let reason = self.error.to_string();
        let reason = reason
            .strip_prefix(&format!("`{path}`: "))
            .unwrap_or(&reason);
        write!(f, "cannot load `{path}`: {reason}")
    }
}

impl std::error::Error for LoadFailed {
    // The image error's own text is part of this one; its causes are not.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

fn describe(store: &Store, item: &Loaded) -> String {
    match &item.name {
        Some(name) => format!("Loaded image: {}", name.familiar()),
        None => {
            let id = catalog::resolve(store, &item.target, None)
                .map(|r| r.id().to_string())
                .unwrap_or_else(|_| item.target.digest.to_string());
            format!("Loaded image ID: {id}")
        }
    }
}

pub fn save(store: &Store, args: &SaveArgs) -> Result<ExitCode> {
    let format = match args.format {
        ArchiveFormat::Docker => SaveFormat::DockerArchive,
        ArchiveFormat::Oci => SaveFormat::OciArchive,
    };
    let platform = parse_platform(args.platform.as_deref())?;
    super::write_output(args.output.as_deref(), "an archive", |out| {
        Ok(save::save(
            store,
            &args.images,
            format,
            platform.as_ref(),
            out,
        )?)
    })?;
    Ok(ExitCode::SUCCESS)
}
