//! One function per command: call the library, print the result.

mod archive;
mod build;
mod copy;
mod images;
mod inspect;
mod layers;
mod login;
mod manage;
mod pull;
mod push;
mod reference;
mod remote;
mod serve;
mod store;
mod sync;
mod unpack;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;
use wharf_spec::Platform;
use wharf_store::Store;

use crate::cli::{Cli, Command, ImageCommand, ManifestCommand, RegistryCommand, SystemCommand};

pub fn run(cli: Cli) -> Result<ExitCode> {
    let root = cli.root.clone();
    let store = || open_store(root.clone());
    match cli.command {
        Command::Reference { reference } => reference::run(&reference),
        Command::Pull(args) => pull::run(&store()?, &args),
        Command::Push(args) => push::run(&store()?, &args),
        Command::Copy(args) => copy::run(root.clone(), &args),
        Command::Sync(args) => sync::run(root.clone(), &args),
        Command::Load(args) => archive::load(&store()?, &args),
        Command::Save(args) => archive::save(&store()?, &args),
        Command::Append(args) => build::append(&store()?, &args),
        Command::Commit(args) => build::commit(&store()?, &args),
        Command::Mutate(args) => build::mutate(&store()?, &args),
        Command::Unpack(args) if args.no_store => unpack::unpack_streamed(&args, None),
        Command::Unpack(args) => unpack::unpack(&store()?, &args),
        Command::Export(args) => unpack::export(&store()?, &args),
        Command::Images(args) => images::run(&store()?, &args),
        Command::Inspect(args) if args.remote => remote::image_inspect(&args),
        Command::Inspect(args) => inspect::inspect(&store()?, &args),
        Command::Tag(args) => manage::tag(&store()?, &args.source, &args.target),
        Command::Rmi(args) => manage::rmi(&store()?, &args),
        Command::History(args) => inspect::history(&store()?, &args),
        Command::Layers(args) => layers::run(root.clone(), &args),
        Command::Diff(args) => layers::diff(root.clone(), &args),
        Command::Ls(args) => layers::ls(root.clone(), &args),
        Command::Cat(args) => layers::cat(root.clone(), &args),
        Command::Image(sub) => match sub {
            ImageCommand::Ls(args) => images::run(&store()?, &args),
            ImageCommand::Inspect(args) if args.remote => remote::image_inspect(&args),
            ImageCommand::Inspect(args) => inspect::inspect(&store()?, &args),
            ImageCommand::Load(args) => archive::load(&store()?, &args),
            ImageCommand::Save(args) => archive::save(&store()?, &args),
            ImageCommand::Tag(args) => manage::tag(&store()?, &args.source, &args.target),
            ImageCommand::Rm(args) => manage::rmi(&store()?, &args),
            ImageCommand::History(args) => inspect::history(&store()?, &args),
            ImageCommand::Prune { force: _ } => manage::prune(&store()?),
        },
        Command::System(SystemCommand::Df(args)) => store::df(&store()?, &args),
        Command::Fsck { repair } => store::fsck(&store()?, repair),
        Command::Login(args) => login::login(&args),
        Command::Logout { registry } => login::logout(registry.as_deref()),
        Command::Manifest(group) => match group.command {
            ManifestCommand::Inspect(args) => remote::manifest_inspect(&args),
        },
        Command::Tags {
            repository,
            registry,
            no_store: _,
        } => remote::tags(&repository, &registry),
        Command::Serve(args) => serve::run(args.root.root.clone(), &args),
        Command::Registry(group) => match group.command {
            RegistryCommand::Gc(args) => serve::gc(group.root.root, &args),
        },
        Command::Completion { shell } => {
            // clap_complete panics when its writer fails; a script is small, so build it
            // here and write it through the writer that stops quietly on a closed pipe.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "wharf", &mut script);
            crate::output::stdout::write_bytes(&script)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `--root`, else `$WHARF_ROOT`, else `$XDG_DATA_HOME/wharf`, else `~/.local/share/wharf`.
fn open_store(root: Option<PathBuf>) -> Result<Store> {
    let from_env = || {
        std::env::var_os("WHARF_ROOT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let root = match root.or_else(from_env) {
        Some(root) => root,
        None => default_root()?,
    };
    Store::open(&root)
        .with_context(|| format!("cannot open the image store at `{}`", root.display()))
}

fn default_root() -> Result<PathBuf> {
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(data).join("wharf"));
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .context("cannot find the image store: none of `--root`, `$WHARF_ROOT`, `$XDG_DATA_HOME` or `$HOME` is set")?;
    Ok(PathBuf::from(home).join(".local/share/wharf"))
}

fn parse_platform(platform: Option<&str>) -> Result<Option<Platform>> {
    platform
        .map(Platform::parse)
        .transpose()
        .map_err(Into::into)
}

/// Writes a command's output (an archive, a tar) to `path`, or to standard output when
/// `path` is `None` or `-`. A file is written beside its destination and renamed into
/// place only when complete; a terminal is refused, since the output is binary.
fn write_output<T>(
    path: Option<&std::path::Path>,
    what: &str,
    write: impl FnOnce(&mut dyn std::io::Write) -> Result<T>,
) -> Result<T> {
    use std::io::{BufWriter, IsTerminal, Write};
    let Some(path) = path.filter(|p| p.as_os_str() != "-") else {
        if std::io::stdout().is_terminal() {
            anyhow::bail!(
                "cowardly refusing to write {what} to a terminal; use `-o FILE` or redirect the output"
            );
        }
        let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
        let result = write(&mut out)?;
        out.flush()?;
        return Ok(result);
    };
    let file = wharf_fs::AtomicFile::create(path)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let result = write(&mut out)?;
    let file = out
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    file.commit(wharf_fs::Durability::Durable)?;
    Ok(result)
}
