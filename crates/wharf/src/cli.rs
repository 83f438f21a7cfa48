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
    // `$WHARF_ROOT` is read by `open_store`, not by clap: `serve`, `registry`, `tags` and
    // `manifest` declare their own `--root` (same id, so this one is not propagated to them),
    // and clap would hand them this variable's value too.
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Parse an image reference and print how Docker normalizes it, as JSON.
    Reference {
        /// The reference, e.g. `busybox`, `ghcr.io/org/app:1` or `name@sha256:...`.
        reference: String,
    },
    /// Download an image from a registry.
    Pull(PullArgs),
    /// Upload an image from the store to a registry.
    Push(PushArgs),
    /// Copy an image between registries (`docker://REF`), the store (`wharf:REF` or a bare
    /// reference), OCI layouts (`oci:PATH[:REF]`), OCI archives (`oci-archive:PATH[:REF]`)
    /// and docker-archives (`docker-archive:PATH[:REF]`), as `skopeo copy` does.
    Copy(CopyArgs),
    /// Copy many images — a registry namespace, a repository's tags, or what a sync file
    /// (.toml, or skopeo's .yaml) lists — into a registry (`docker://HOST[/NAMESPACE]`), an OCI layout (`oci:DIR`)
    /// or the store (`wharf:[NAMESPACE]`); images already there cost one lookup each.
    Sync(SyncArgs),
    /// Load images from an OCI layout, an OCI archive or a docker-archive (optionally gzipped).
    Load(LoadArgs),
    /// Save images to a docker-archive (for `docker load`) or an OCI archive.
    Save(SaveArgs),
    /// Add layers made from directories or tar files on top of an image (or `scratch`).
    Append(AppendArgs),
    /// Add one layer holding what DIR changed from BASE's filesystem, like `docker commit`.
    Commit(CommitArgs),
    /// Make a new image with an edited config (entrypoint, cmd, env, labels, ...).
    Mutate(MutateArgs),
    /// Write an image's merged root filesystem into a new (or empty) directory.
    Unpack(UnpackArgs),
    /// Write an image's merged root filesystem as one tar, like `docker export`.
    Export(ExportArgs),
    /// List images.
    Images(ImagesArgs),
    /// Show images' details as JSON, like `docker image inspect`.
    Inspect(InspectArgs),
    /// Give an image another name.
    Tag(TagArgs),
    /// Remove names; delete images nothing names any more.
    Rmi(RmiArgs),
    /// Show the history of an image.
    History(HistoryArgs),
    /// Show what each layer of an image adds, changes and removes, and what the image
    /// wastes (files a later layer hides), without pulling it; gates for CI.
    Layers(LayersArgs),
    /// Compare two images: files added, removed and changed (content, mode, owner, link,
    /// xattrs, mtime), config settings, and which layers they share.
    Diff(DiffArgs),
    /// List the files of an image's merged filesystem (under PATH), without unpacking it.
    Ls(LsArgs),
    /// Print a file of an image's merged filesystem, without unpacking it.
    Cat(CatArgs),
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
    Manifest(ManifestGroup),
    /// List a repository's tags in a registry, one per line.
    Tags {
        /// The repository, e.g. `ghcr.io/org/app` (no tag or digest).
        #[arg(value_name = "REPOSITORY")]
        repository: String,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        no_store: NoStore,
    },
    /// Run an OCI registry (the Distribution API).
    Serve(ServeArgs),
    /// Maintain a registry's data.
    Registry(RegistryGroup),
    /// Print a shell completion script.
    Completion {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

/// The image store's global `--root`, hidden where no store is used: declaring the id
/// here keeps clap from propagating the store's `--root` (and its help) to the command.
#[derive(Args)]
pub struct NoStore {
    #[arg(long = "root", id = "root", global = true, hide = true)]
    pub _root: Option<PathBuf>,
}

/// A registry's data directory: `serve` and `registry` read it instead of the store's.
#[derive(Args)]
pub struct RegistryRoot {
    /// The registry's data directory (default: the config file's `root`, else
    /// $XDG_DATA_HOME/wharf/registry).
    #[arg(
        long = "root",
        id = "root",
        global = true,
        env = "WHARF_REGISTRY_ROOT",
        value_name = "DIR"
    )]
    pub root: Option<PathBuf>,
}

#[derive(Args)]
pub struct RegistryGroup {
    #[command(flatten)]
    pub root: RegistryRoot,
    #[command(subcommand)]
    pub command: RegistryCommand,
}

#[derive(Args)]
pub struct ManifestGroup {
    #[command(flatten)]
    pub no_store: NoStore,
    #[command(subcommand)]
    pub command: ManifestCommand,
}

#[derive(Args)]
pub struct TagArgs {
    /// The image to name: a name, `name@digest` or an ID.
    #[arg(value_name = "SOURCE_IMAGE")]
    pub source: String,
    /// The new name, `NAME[:TAG]` (default tag `latest`).
    #[arg(value_name = "TARGET_IMAGE")]
    pub target: String,
}

#[derive(Subcommand)]
pub enum ImageCommand {
    /// List images.
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Show images' details as JSON, like `docker image inspect`.
    Inspect(InspectArgs),
    /// Load images from an OCI layout, an OCI archive or a docker-archive (optionally gzipped).
    Load(LoadArgs),
    /// Save images to a docker-archive (for `docker load`) or an OCI archive.
    Save(SaveArgs),
    /// Give an image another name.
    Tag(TagArgs),
    /// Remove names; delete images nothing names any more.
    #[command(alias = "remove")]
    Rm(RmiArgs),
    /// Show the history of an image.
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
    /// The archive's format.
    #[arg(long, value_enum, default_value = "docker")]
    pub format: ArchiveFormat,
    /// Platform to save from a multi-platform image (docker format).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// The images to save: names, `name@digest` or IDs.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    /// Docker's table.
    Table,
    /// One JSON document.
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
    /// `table`, or `json`: one JSON object per line.
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
    /// Also unpack the image into DIR (new or empty) in the same download, as
    /// `wharf unpack docker://REF DIR` does: the first layer streamed into the store and
    /// into DIR at once, the others downloaded into the store ahead and applied from there.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with_all = ["all_platforms", "max_concurrent_downloads"]
    )]
    pub unpack: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Args)]
pub struct PushArgs {
    /// The image in the store: a name, `name@digest` or an ID. Pushed to this name when
    /// no DESTINATION is given.
    #[arg(value_name = "IMAGE")]
    pub source: String,
    /// Where to push: `registry/name[:tag]` (default tag `latest`).
    #[arg(value_name = "DESTINATION")]
    pub destination: Option<String>,
    /// The platform to push from a multi-platform image (`os/arch[/variant]`); default: this host's.
    #[arg(long, value_name = "PLATFORM", conflicts_with = "all_platforms")]
    pub platform: Option<String>,
    /// Push the whole multi-platform index (every platform must be in the store).
    #[arg(short = 'a', long)]
    pub all_platforms: bool,
    /// Print only the pushed reference.
    #[arg(short, long)]
    pub quiet: bool,
    /// How many blobs upload at once (default: the config file's, else 5).
    #[arg(long, value_name = "N")]
    pub max_concurrent_uploads: Option<usize>,
    /// Upload large blobs in chunks of this many bytes (raised to the registry's
    /// `OCI-Chunk-Min-Length`) instead of one stream each.
    #[arg(long, value_name = "BYTES")]
    pub chunk_size: Option<u64>,
    /// Re-encode every layer not already in this compression on the way (new layer and
    /// manifest digests, the same image ID); the store keeps its copy as it is.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub dest_compress: Option<CompressArg>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum CompressArg {
    /// gzip (what every tool reads).
    Gzip,
    /// zstd (OCI media types).
    Zstd,
}

impl CompressArg {
    pub fn compression(self) -> wharf_spec::media_type::Compression {
        match self {
            CompressArg::Gzip => wharf_spec::media_type::Compression::Gzip,
            CompressArg::Zstd => wharf_spec::media_type::Compression::Zstd,
        }
    }
}

#[derive(Args)]
pub struct CopyArgs {
    /// Where the image is: `docker://REF`, `wharf:REF` (or a bare reference), `oci:PATH[:REF]`,
    /// `oci-archive:PATH[:REF]` or `docker-archive:PATH[:REF]`.
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// Where it goes, in the same forms as SOURCE.
    #[arg(value_name = "DESTINATION")]
    pub destination: String,
    /// Copy a whole multi-platform index, every platform.
    #[arg(short = 'a', long, conflicts_with = "platform")]
    pub all: bool,
    /// The platform to copy from a multi-platform image (`os/arch[/variant]`); default: this host's.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Compress layers this way: a docker-archive's uncompressed layers (gzip when not
    /// given) and, when given, every layer in another compression (re-encoded: new layer
    /// and manifest digests, the same image ID).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub dest_compress: Option<CompressArg>,
    /// How many blobs upload at once (default: the config file's, else 5).
    #[arg(long, value_name = "N")]
    pub max_concurrent_uploads: Option<usize>,
    /// Copy the manifests that refer to the image too (signatures, SBOMs, attestations),
    /// and theirs; registry to registry.
    #[arg(long)]
    pub referrers: bool,
    /// Print only the destination.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Args)]
pub struct SyncArgs {
    /// What to copy: `docker://HOST/NAMESPACE` (every repository the catalog lists under
    /// it), `docker://HOST/REPOSITORY` (its tags), `docker://HOST/REPOSITORY:TAG`, or a sync
    /// file listing many sources: `.toml`, or a skopeo sync `.yaml`.
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// Where: `docker://HOST[/NAMESPACE]` (the source namespace is replaced by this one,
    /// the rest of each name kept), `oci:DIR` or `wharf:[NAMESPACE]`.
    #[arg(value_name = "DESTINATION")]
    pub destination: String,
    /// Only this tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only tags this regular expression matches (anchor it: `^v1\.`).
    #[arg(long, value_name = "REGEX")]
    pub tag_regex: Option<String>,
    /// Only tags whose version is in this semver range (e.g. `>=1.2, <2`).
    #[arg(long, value_name = "RANGE")]
    pub semver: Option<String>,
    /// Only the N highest versions (after the other filters).
    #[arg(long, value_name = "N")]
    pub newest: Option<usize>,
    /// Copy whole multi-platform indexes, every platform.
    #[arg(short = 'a', long, conflicts_with = "platforms")]
    pub all: bool,
    /// The platform to copy from multi-platform images (`os/arch[/variant]`); default: this
    /// host's. Repeat it for several: the destination gets an index of just those.
    #[arg(long = "platform", value_name = "PLATFORM")]
    pub platforms: Vec<String>,
    /// Copy each image's referrers too (signatures, SBOMs, attestations); into a registry.
    #[arg(long)]
    pub referrers: bool,
    /// Remove destination tags, in each repository synced, that the source (as filtered) no
    /// longer has.
    #[arg(long)]
    pub delete: bool,
    /// Say what would be copied and deleted; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How many blobs of an image upload at once (default: the config file's, else 5).
    #[arg(long, value_name = "N")]
    pub max_concurrent_uploads: Option<usize>,
    /// Print only the summary.
    #[arg(short, long)]
    pub quiet: bool,
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
    /// The images: names, `name@digest` or IDs (with `--remote`: registry references).
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
    /// The images: names, `name@digest` or IDs.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Remove an image by ID even when several names point at it.
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Args)]
pub struct HistoryArgs {
    /// The image: a name, `name@digest` or an ID.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct LayersArgs {
    /// The image: a name in the store, `docker://REF`, `oci:DIR[:REF]`,
    /// `oci-archive:FILE[:REF]` or `docker-archive:FILE[:REF]`.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// `table`, or `json`: one JSON document with every digest and count.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// Exit 1 when the image wastes more than SIZE (`1048576`, `10MB`, `10MiB`).
    #[arg(long, value_name = "SIZE")]
    pub fail_on_waste: Option<String>,
    /// Exit 1 when the image's efficiency is below X (`0.95` or `95%`).
    #[arg(long, value_name = "X")]
    pub min_efficiency: Option<String>,
    /// Don't truncate the history steps.
    #[arg(long)]
    pub no_trunc: bool,
    #[command(flatten)]
    pub common: ImageReadArgs,
}

#[derive(Args)]
pub struct DiffArgs {
    /// The first image (a store name, `docker://REF`, `oci:DIR[:REF]`, `oci-archive:…`,
    /// `docker-archive:…`).
    #[arg(value_name = "A")]
    pub a: String,
    /// The second image, in the same forms.
    #[arg(value_name = "B")]
    pub b: String,
    /// Don't compare modification times.
    #[arg(long)]
    pub ignore_timestamps: bool,
    /// `table` (a list), or `json`: one JSON document.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    #[command(flatten)]
    pub common: ImageReadArgs,
}

/// Options of the commands that read images from any location (`layers`, `diff`, `ls`,
/// `cat`).
#[derive(Args)]
pub struct ImageReadArgs {
    /// The platform to read from a multi-platform image (`os/arch[/variant]`); default: this host's.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Args)]
pub struct LsArgs {
    /// The image: a store name, `docker://REF`, `oci:DIR[:REF]`, `oci-archive:…`,
    /// `docker-archive:…`.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The directory (or file) to list; default: everything.
    #[arg(value_name = "PATH")]
    pub path: Option<String>,
    /// `table` (one line per path), or `json`.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    #[command(flatten)]
    pub common: ImageReadArgs,
}

#[derive(Args)]
pub struct CatArgs {
    /// The image, in the forms `ls` takes.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The file to print (symlinks and hard links inside the image are followed).
    #[arg(value_name = "PATH")]
    pub path: String,
    #[command(flatten)]
    pub common: ImageReadArgs,
}

#[derive(Args)]
pub struct DfArgs {
    /// `table`, or `json`: one JSON document.
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
    /// The image in its registry: `name[:tag]` or `name@digest`.
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
    #[command(flatten)]
    pub root: RegistryRoot,
    /// The address to listen on: `HOST:PORT` (`0.0.0.0:5000`, `localhost:5000`) or `:PORT`
    /// for every interface (default: 127.0.0.1:5000; port 0 picks a free port, which the
    /// log line names).
    #[arg(long, env = "WHARF_REGISTRY_ADDR", value_name = "HOST:PORT")]
    pub addr: Option<wharf_registry::config::ListenAddr>,
    /// Serve `/metrics` on this address only, without auth (keep it private); without it,
    /// `/metrics` is on `--addr`, for identified callers only when auth is on.
    #[arg(long, env = "WHARF_REGISTRY_METRICS_ADDR", value_name = "HOST:PORT")]
    pub metrics_addr: Option<wharf_registry::config::ListenAddr>,
    /// A TOML config file; flags and `WHARF_REGISTRY_*` variables override what it says.
    #[arg(long, env = "WHARF_REGISTRY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (with `--tls-key`).
    #[arg(
        long,
        env = "WHARF_REGISTRY_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `--tls-cert`.
    #[arg(
        long,
        env = "WHARF_REGISTRY_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Require Basic credentials from this htpasswd file (bcrypt entries: `htpasswd -B`).
    #[arg(long, env = "WHARF_REGISTRY_HTPASSWD", value_name = "FILE")]
    pub htpasswd: Option<PathBuf>,
    /// Collect garbage this often while serving (`30m`, `6h`, `1d`).
    #[arg(long, env = "WHARF_REGISTRY_GC_INTERVAL", value_name = "DURATION")]
    pub gc_interval: Option<String>,
    /// Access log format.
    #[arg(long, env = "WHARF_REGISTRY_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Close a connection on which nothing moves for this long (`60s`, `5m`; default 60s).
    #[arg(long, env = "WHARF_REGISTRY_CLIENT_TIMEOUT", value_name = "DURATION")]
    pub client_timeout: Option<String>,
    /// On SIGTERM, give requests in flight this long, then drop their connections and exit
    /// (`30s`, the default).
    #[arg(long, env = "WHARF_REGISTRY_SHUTDOWN_TIMEOUT", value_name = "DURATION")]
    pub shutdown_timeout: Option<String>,
    /// Log every request on stderr (`true`, the default, or `false`).
    #[arg(long, env = "WHARF_REGISTRY_ACCESS_LOG", value_name = "BOOL")]
    pub access_log: Option<bool>,
    /// Serve the web pages at `/` (`true`, the default, or `false`): repositories, tags,
    /// images with their layers, files and referrers, behind the same auth as the API.
    #[arg(long, env = "WHARF_REGISTRY_UI", value_name = "BOOL")]
    pub ui: Option<bool>,
    /// Keep metadata in PostgreSQL (`postgres://USER:PASSWORD@HOST:PORT/DB`), shared by
    /// replicas that also share `--root`; default: SQLite in the root.
    #[arg(
        long,
        env = "WHARF_REGISTRY_DATABASE",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database: Option<String>,
}

#[derive(Subcommand)]
pub enum RegistryCommand {
    /// Remove blobs and manifests nothing references, and abandoned uploads; safe while
    /// `wharf serve` runs on the same data.
    Gc(GcArgs),
}

#[derive(Args)]
pub struct GcArgs {
    /// Report what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also remove manifests that no tag, index or subject reaches.
    #[arg(long)]
    pub delete_untagged: bool,
    /// The registry's config file (its `root` and `[gc]` settings apply).
    #[arg(long, env = "WHARF_REGISTRY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Keep content younger than this (default 1h): pushes in flight need it.
    #[arg(long, value_name = "DURATION")]
    pub grace_period: Option<String>,
    /// Purge upload sessions idle longer than this (default 24h).
    #[arg(long, value_name = "DURATION")]
    pub upload_ttl: Option<String>,
    /// The registry's PostgreSQL database, when `wharf serve` uses one (`--database`).
    #[arg(
        long,
        env = "WHARF_REGISTRY_DATABASE",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database: Option<String>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    /// One line of text per request.
    Text,
    /// One JSON object per request.
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LayerCompression {
    /// gzip on every core (multi-member; what every tool reads).
    Gzip,
    /// zstd (OCI media types; Docker ≥ 23, containerd ≥ 1.5 read it).
    Zstd,
    /// Uncompressed tar.
    None,
}

#[derive(Args)]
pub struct AppendArgs {
    /// The image to build on, or `scratch` for none.
    #[arg(value_name = "BASE")]
    pub base: String,
    /// One layer each: a directory (its contents become the layer's root; `DIR:/DEST`
    /// puts them under /DEST) or a tar file (plain, gzip or zstd; its entries as they are).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    /// NAME[:TAG] for the new image.
    #[arg(short, long, value_name = "NAME[:TAG]")]
    pub tag: String,
    #[command(flatten)]
    pub layer: LayerArgs,
}

/// How `append` and `commit` make a layer.
#[derive(Args)]
pub struct LayerArgs {
    /// How to compress the new layers (`--dest-compress`, as `copy` and `push` name it,
    /// is the same option).
    #[arg(
        long,
        visible_alias = "dest-compress",
        value_enum,
        default_value = "gzip"
    )]
    pub compression: LayerCompression,
    /// Compression level (gzip 0-9, default 6; zstd 1-22, default 3).
    #[arg(long, value_name = "N")]
    pub level: Option<i32>,
    /// Owner of every entry from a directory, instead of the files' own (e.g. `0:0`).
    #[arg(long, value_name = "UID:GID")]
    pub owner: Option<String>,
    /// Which image of a multi-platform BASE; with `scratch`, the new image's platform
    /// (default: this host's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
}

#[derive(Args)]
pub struct CommitArgs {
    /// The image DIR was made from, or `scratch` for none.
    #[arg(value_name = "BASE")]
    pub base: String,
    /// The edited root filesystem (e.g. from `wharf unpack BASE DIR`): what differs from
    /// BASE's becomes the new layer, deleted paths as whiteouts.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// NAME[:TAG] for the new image.
    #[arg(short, long, value_name = "NAME[:TAG]")]
    pub tag: String,
    #[command(flatten)]
    pub layer: LayerArgs,
}

#[derive(Args)]
pub struct MutateArgs {
    /// The image to start from.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// NAME[:TAG] for the new image.
    #[arg(short, long, value_name = "NAME[:TAG]")]
    pub tag: String,
    /// A JSON array (`["/bin/app","--flag"]`), else a shell command; `""` clears it.
    /// Resets CMD unless `--cmd` is given too, as in a Dockerfile.
    #[arg(long, value_name = "JSON|COMMAND", allow_hyphen_values = true)]
    pub entrypoint: Option<String>,
    /// A JSON array (`["--port","80"]`), else a shell command; `""` clears it.
    #[arg(long, value_name = "JSON|COMMAND", allow_hyphen_values = true)]
    pub cmd: Option<String>,
    /// Set an environment variable (repeatable).
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Set a label (repeatable).
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// The working directory (absolute).
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// The user (and group) the container runs as.
    #[arg(short, long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Declare a port (repeatable).
    #[arg(long, value_name = "PORT[/PROTO]")]
    pub expose: Vec<String>,
    /// Which image of a multi-platform IMAGE.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
}

#[derive(Args)]
pub struct UnpackArgs {
    /// The image: a name, `name@digest` or an ID in the store; `docker://REF` (pulled into
    /// the store as it is unpacked, in one download); with `--no-store` also
    /// `oci:DIR[:REF]`, `oci-archive:FILE[:REF]` or `docker-archive:FILE[:REF]`.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Where the root filesystem goes; must not exist, or be empty.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Which image of a multi-platform IMAGE (default: this host's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Hard link files from the store's layer snapshots instead of copying them: much
    /// faster, but the files share their inode with the store, so never modify them in
    /// place (replace them instead).
    #[arg(long)]
    pub link: bool,
    /// Keep a snapshot of every layer in the store (run as root), for later unpacks of
    /// images on the same layers and for the `LowerDir` `image inspect` shows. By default
    /// only layers another stored image shares are kept; the rest are extracted straight
    /// into DIR, each file written once.
    #[arg(long, conflicts_with = "no_store")]
    pub snapshots: bool,
    /// Stream IMAGE from where it is (a registry, a layout, an archive) straight into DIR:
    /// each layer downloaded, verified, inflated and applied in one pass; nothing stored.
    #[arg(long, conflicts_with = "link")]
    pub no_store: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Print nothing but warnings.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    /// The image: a name, `name@digest` or an ID.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Write to this file instead of standard output (`-`).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Which image of a multi-platform IMAGE (default: this host's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every subcommand and every argument a user can see says what it is for.
    #[test]
    fn every_command_and_argument_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            if command.get_about().is_none() {
                missing.push(format!("command `{path}`"));
            }
            for arg in command.get_arguments() {
                if !arg.is_hide_set() && arg.get_help().is_none() {
                    missing.push(format!("`{path}` argument `{}`", arg.get_id()));
                }
                // Values are described all or none (`bash`, `true` explain themselves).
                let values = arg.get_possible_values();
                let described = values.iter().any(|v| v.get_help().is_some());
                for value in values.iter().filter(|_| described) {
                    if !value.is_hide_set() && value.get_help().is_none() {
                        missing.push(format!(
                            "`{path}` argument `{}` value `{}`",
                            arg.get_id(),
                            value.get_name()
                        ));
                    }
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut command = Cli::command();
        command.build();
        let mut missing = Vec::new();
        walk(&command, "wharf", &mut missing);
        assert!(missing.is_empty(), "no help for:\n{}", missing.join("\n"));
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
