//! The command line: Docker's command names and flags where Docker has them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "wharf",
    version,
    about = "A daemonless container image toolkit and OCI registry"
)]
pub struct Cli {
    /// The image store (an OCI image layout). Default: $WHARF_ROOT, else $XDG_DATA_HOME/wharf.
    #[arg(long, global = true, env = "WHARF_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Parse an image reference and print how Docker normalizes it, as JSON.
    Reference { reference: String },
    /// Download an image from a registry.
    Pull(PullArgs),
    /// Load images from an OCI layout, an OCI archive or a docker-archive (optionally gzipped).
    Load(LoadArgs),
    /// Save images to a docker-archive (for `docker load`) or an OCI archive.
    Save(SaveArgs),
    /// List images.
    Images(ImagesArgs),
    /// Show images' details as JSON, like `docker image inspect`.
    Inspect(InspectArgs),
    /// Give an image another name.
    Tag { source: String, target: String },
    /// Remove names; delete images nothing names any more.
    Rmi(RmiArgs),
    /// Show the history of an image.
    History(HistoryArgs),
    /// Manage images (Docker's `docker image ...`).
    #[command(subcommand)]
    Image(ImageCommand),
    /// Store-wide commands.
    #[command(subcommand)]
    System(SystemCommand),
    /// Re-hash every blob and report corrupt, missing or orphaned ones.
    Fsck {
        /// Remove corrupt and orphaned blobs and stray files.
        #[arg(long)]
        repair: bool,
    },
    /// Log in to a registry: check the credentials, then store them where Docker does.
    Login(LoginArgs),
    /// Log out from a registry: remove its stored credentials.
    Logout {
        /// Default: Docker Hub.
        #[arg(value_name = "REGISTRY")]
        registry: Option<String>,
    },
    /// Inspect manifests in a registry, without pulling.
    #[command(subcommand)]
    Manifest(ManifestCommand),
    /// List a repository's tags in a registry, one per line.
    Tags {
        #[arg(value_name = "REPOSITORY")]
        repository: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Run an OCI registry (the Distribution API); `--root` is its data directory
    /// (default: $XDG_DATA_HOME/wharf/registry).
    Serve(ServeArgs),
    /// Print a shell completion script.
    Completion { shell: clap_complete::Shell },
}

#[derive(Subcommand)]
pub enum ImageCommand {
    /// List images.
    #[command(alias = "list")]
    Ls(ImagesArgs),
    Inspect(InspectArgs),
    Load(LoadArgs),
    Save(SaveArgs),
    Tag {
        source: String,
        target: String,
    },
    #[command(alias = "remove")]
    Rm(RmiArgs),
    History(HistoryArgs),
    /// Remove dangling images and blobs nothing references.
    Prune {
        /// Accepted for Docker compatibility (`docker image prune -f`): wharf never prompts.
        #[arg(short, long)]
        force: bool,
    },
}

#[derive(Subcommand)]
pub enum SystemCommand {
    /// Show disk usage: per image, shared and unique bytes.
    Df(DfArgs),
}

#[derive(Args)]
pub struct LoadArgs {
    /// The archive or OCI layout directory to read; standard input when absent or `-`.
    #[arg(short, long, value_name = "PATH")]
    pub input: Option<PathBuf>,
    /// NAME[:TAG] for an image the archive carries only a tag or no name for.
    #[arg(short, long, value_name = "NAME[:TAG]")]
    pub tag: Option<String>,
    /// Print only the loaded names.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ArchiveFormat {
    /// docker-archive: what `docker load` reads (uncompressed layers).
    Docker,
    /// OCI archive: the blobs as stored, digests preserved.
    Oci,
}

#[derive(Args)]
pub struct SaveArgs {
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "docker")]
    pub format: ArchiveFormat,
    /// Platform to save from a multi-platform image (docker format).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(Args)]
pub struct ImagesArgs {
    /// Only images of this repository (and tag).
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub filter: Option<String>,
    /// Show digests.
    #[arg(long)]
    pub digests: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

#[derive(Args)]
pub struct PullArgs {
    /// The image: `name[:tag]`, `name@digest` or `name:tag@digest` (the digest wins).
    pub reference: String,
    /// The platform to pull from a multi-platform image (`os/arch[/variant]`); default: this host's.
    #[arg(long, value_name = "PLATFORM", conflicts_with = "all_platforms")]
    pub platform: Option<String>,
    /// Pull every platform of a multi-platform image.
    #[arg(short = 'a', long)]
    pub all_platforms: bool,
    /// Print only the image's reference.
    #[arg(short, long)]
    pub quiet: bool,
    /// How many layers download at once (default: the config file's, else 3).
    #[arg(long, value_name = "N")]
    pub max_concurrent_downloads: Option<usize>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Options of every command that talks to a registry.
#[derive(Args, Clone, Default)]
pub struct RegistryArgs {
    /// A PEM file of certificate authorities to trust for registries, besides the system's
    /// roots and the config file's `ca-certs` (repeatable).
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_certs: Vec<PathBuf>,
}

#[derive(Args)]
pub struct InspectArgs {
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Platform to inspect in a multi-platform image.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Inspect the images in their registry, without pulling them.
    #[arg(long)]
    pub remote: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Args)]
pub struct RmiArgs {
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Remove an image by ID even when several names point at it.
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Args)]
pub struct HistoryArgs {
    pub image: String,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct DfArgs {
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// Accepted for Docker compatibility: the per-image table is always shown.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Args)]
pub struct LoginArgs {
    /// Default: Docker Hub.
    #[arg(value_name = "REGISTRY")]
    pub registry: Option<String>,
    /// Asked for on a terminal when absent.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Insecure: the password shows in the process list and shell history.
    #[arg(short, long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub registry_options: RegistryArgs,
}

#[derive(Subcommand)]
pub enum ManifestCommand {
    /// Print an image's manifest or index, as the registry has it.
    Inspect(ManifestInspectArgs),
}

#[derive(Args)]
pub struct ManifestInspectArgs {
    #[arg(value_name = "REFERENCE")]
    pub reference: String,
    /// The manifest for this platform, from a multi-platform index.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Print the exact bytes the registry sent.
    #[arg(long)]
    pub raw: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Args)]
pub struct ServeArgs {
    /// The address to listen on (`127.0.0.1:0` picks a free port; the log line names it).
    #[arg(long, default_value = "127.0.0.1:5000", value_name = "HOST:PORT")]
    pub addr: std::net::SocketAddr,
}
