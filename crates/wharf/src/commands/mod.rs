//! One function per command: call the library, print the result.

mod archive;
mod build;
mod copy;
mod images;
mod inspect;
mod login;
mod manage;
mod pull;
mod push;
mod reference;
mod remote;
mod serve;
mod store;
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
        Command::Load(args) => archive::load(&store()?, &args),
        Command::Save(args) => archive::save(&store()?, &args),
        Command::Append(args) => build::append(&store()?, &args),
        Command::Mutate(args) => build::mutate(&store()?, &args),
        Command::Unpack(args) => unpack::unpack(&store()?, &args),
        Command::Export(args) => unpack::export(&store()?, &args),
        Command::Images(args) => images::run(&store()?, &args),
        Command::Inspect(args) if args.remote => remote::image_inspect(&args),
        Command::Inspect(args) => inspect::inspect(&store()?, &args),
        Command::Tag { source, target } => manage::tag(&store()?, &source, &target),
        Command::Rmi(args) => manage::rmi(&store()?, &args),
        Command::History(args) => inspect::history(&store()?, &args),
        Command::Image(sub) => match sub {
            ImageCommand::Ls(args) => images::run(&store()?, &args),
            ImageCommand::Inspect(args) if args.remote => remote::image_inspect(&args),
            ImageCommand::Inspect(args) => inspect::inspect(&store()?, &args),
            ImageCommand::Load(args) => archive::load(&store()?, &args),
            ImageCommand::Save(args) => archive::save(&store()?, &args),
            ImageCommand::Tag { source, target } => manage::tag(&store()?, &source, &target),
            ImageCommand::Rm(args) => manage::rmi(&store()?, &args),
            ImageCommand::History(args) => inspect::history(&store()?, &args),
            ImageCommand::Prune { force: _ } => manage::prune(&store()?),
        },
        Command::System(SystemCommand::Df(args)) => store::df(&store()?, &args),
        Command::Fsck { repair } => store::fsck(&store()?, repair),
        Command::Login(args) => login::login(&args),
        Command::Logout { registry } => login::logout(registry.as_deref()),
        Command::Manifest(ManifestCommand::Inspect(args)) => remote::manifest_inspect(&args),
        Command::Tags {
            repository,
            registry,
        } => remote::tags(&repository, &registry),
        Command::Serve(args) => serve::run(root.clone(), &args),
        Command::Registry(RegistryCommand::Gc(args)) => serve::gc(root.clone(), &args),
        Command::Completion { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "wharf", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `--root`, else `$WHARF_ROOT` (both through clap), else `$XDG_DATA_HOME/wharf`,
/// else `~/.local/share/wharf`.
fn open_store(root: Option<PathBuf>) -> Result<Store> {
    let root = match root {
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
