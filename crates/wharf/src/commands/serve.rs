//! `wharf serve`: run the OCI registry. Settings come from the config file (`--config`),
//! overridden by `WHARF_REGISTRY_*` variables, overridden by flags (clap reads both).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use wharf_registry::auth::Auth;
use wharf_registry::config::{AuthConfig, DatabaseUrl, LogFormat, TlsConfig};
use wharf_registry::storage::Backend;
use wharf_registry::{Config, Gate, Registry};

use wharf_registry::gc::{GcOptions, GcReport};

use crate::cli::{self, GcArgs, ServeArgs};
use crate::output::stdout::outln;

const DEFAULT_ADDR: &str = "127.0.0.1:5000";

pub fn run(root: Option<PathBuf>, args: &ServeArgs) -> Result<ExitCode> {
    let config = settings(root, args)?;
    let root = match &config.root {
        Some(root) => root.clone(),
        None => super::default_root()?.join("registry"),
    };
    let addr = config
        .addr
        .clone()
        .unwrap_or_else(|| DEFAULT_ADDR.parse().expect("a valid default address"));
    init_logging(config.log_format.unwrap_or(LogFormat::Text));
    let auth = config
        .auth
        .as_ref()
        .map(Auth::from_config)
        .transpose()
        .context("cannot set up authentication")?;
    let tls = config
        .tls
        .as_ref()
        .map(|t| wharf_registry::tls::server_config(&t.cert, &t.key))
        .transpose()
        .context("cannot set up TLS")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // Refused before binding (and creating the data directory); a name is checked once
    // bound, by `Gate::new`.
    if let (Some(token), Some(socket)) = (
        config.auth.as_ref().and_then(|a| a.token.as_ref()),
        addr.known_socket(),
    ) {
        wharf_registry::gate::token_realm(token.realm.as_deref(), tls.is_some(), socket)?;
    }
    let backend = backend(&config, &root)?;
    runtime.block_on(async {
        // Bind first: a registry that cannot listen leaves no data directory behind.
        let listener = bind(&addr, "--addr").await?;
        let metrics_listener = match &config.metrics_addr {
            Some(metrics_addr) => Some(bind(metrics_addr, "--metrics-addr").await?),
            None => None,
        };
        let registry = Registry::open_with(&root, &backend)
            .await
            .with_context(|| open_failed(&root, &backend))?;
        let addr: SocketAddr = listener.local_addr()?;
        // The token realm, unless configured, is this address (never a request's `Host`).
        let gate = Gate::new(auth, tls.is_some(), addr)?;
        let shutdown = wharf_registry::shutdown_signal();
        let scheme = if tls.is_some() { "https" } else { "http" };
        // One parseable line: tests (and scripts using `--addr 127.0.0.1:0`) read the port here.
        let metadata = match &backend {
            Backend::Sqlite(_) => String::new(),
            Backend::Postgres(_) => format!(", metadata in {}", backend.describe()),
        };
        let metrics_at = match &metrics_listener {
            Some(listener) => format!(", metrics on http://{}/metrics", listener.local_addr()?),
            None => String::new(),
        };
        eprintln!(
            "wharf serve: listening on {scheme}://{addr} (data in `{}`{metadata}{metrics_at})",
            root.display()
        );
        registry.set_gc_grace(config.gc.grace_period);
        let registry = Arc::new(registry);
        if let Some(interval) = config.gc.interval {
            wharf_registry::gc::spawn_periodic(registry.clone(), interval, gc_options(&config));
        }
        let serving = wharf_registry::Serving {
            tls,
            client_timeout: config
                .client_timeout
                .unwrap_or(wharf_registry::idle::DEFAULT_CLIENT_TIMEOUT),
            access_log: config.access_log.unwrap_or(true),
            pages: config.ui.unwrap_or(true).then(wharf_web::pages),
            ..serving_limits(&config)
        };
        wharf_registry::serve_with_metrics(
            listener,
            metrics_listener,
            registry,
            gate,
            serving,
            shutdown,
        )
        .await
        .context("the registry server failed")?;
        // stderr may be gone by now (a closed log pipe): that is no reason to fail.
        let _ = writeln!(std::io::stderr(), "wharf serve: stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// Binds `addr` for `flag`; the error says what to do when the address is taken or not
/// this host's.
async fn bind(
    addr: &wharf_registry::config::ListenAddr,
    flag: &str,
) -> Result<tokio::net::TcpListener> {
    addr.bind().await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => format!(
                "another process listens on that port: stop it, or pick another port with `{flag}` (port 0 picks a free one)"
            ),
            std::io::ErrorKind::PermissionDenied => format!(
                "ports below 1024 need privileges: pick a higher port with `{flag}`"
            ),
            _ => format!(
                "`{flag}` takes `HOST:PORT` with an address of this host (`127.0.0.1:5000`, `localhost:5000`) or `:PORT` for every interface"
            ),
        };
        anyhow::anyhow!("cannot listen on `{addr}`: {e}\nhint: {hint}")
    })
}

/// The connection limits and deadlines of the config file, defaults for the rest.
fn serving_limits(config: &Config) -> wharf_registry::Serving {
    let defaults = wharf_registry::Serving::default();
    wharf_registry::Serving {
        header_timeout: config.header_timeout.unwrap_or(defaults.header_timeout),
        body_min_rate: config.body_min_rate.unwrap_or(defaults.body_min_rate),
        max_connections: config.max_connections.unwrap_or(defaults.max_connections),
        max_connections_per_client: config
            .max_connections_per_client
            .unwrap_or(defaults.max_connections_per_client),
        shutdown_timeout: config.shutdown_timeout.unwrap_or(defaults.shutdown_timeout),
        ..defaults
    }
}

/// `wharf registry gc`: one collection over the registry's data, beside a running server
/// or not.
pub fn gc(root: Option<PathBuf>, args: &GcArgs) -> Result<ExitCode> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(root) = root {
        config.root = Some(root);
    }
    let root = match &config.root {
        Some(root) => root.clone(),
        None => super::default_root()?.join("registry"),
    };
    let duration = |flag: &str, value: &Option<String>| -> Result<Option<std::time::Duration>> {
        value
            .as_deref()
            .map(wharf_registry::config::parse_duration)
            .transpose()
            .map_err(|e| anyhow::anyhow!("`--{flag}`: {e}"))
    };
    if let Some(grace) = duration("grace-period", &args.grace_period)? {
        config.gc.grace_period = grace;
    }
    if let Some(ttl) = duration("upload-ttl", &args.upload_ttl)? {
        config.gc.upload_ttl = ttl;
    }
    config.gc.delete_untagged |= args.delete_untagged;
    if let Some(url) = &args.database {
        config.database = Some(DatabaseUrl(url.clone()));
    }
    let backend = backend(&config, &root)?;
    // With PostgreSQL the root holds no database file, but a registry made its uploads dir.
    let marker = match backend {
        Backend::Sqlite(_) => root.join("registry.db"),
        Backend::Postgres(_) => root.join("uploads"),
    };
    if !marker.exists() {
        anyhow::bail!(
            "no registry at `{}`\nhint: pass the directory `wharf serve` uses with `--root`",
            root.display()
        );
    }
    let mut options = gc_options(&config);
    options.dry_run = args.dry_run;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(async {
        let registry = Registry::open_with(&root, &backend)
            .await
            .with_context(|| open_failed(&root, &backend))?;
        registry
            .collect_garbage(&options)
            .await
            .context("garbage collection failed")
    })?;
    outln!("{}", describe(&report, args.dry_run))?;
    Ok(ExitCode::SUCCESS)
}

/// Where the metadata lives: the `database` setting, or SQLite in `root`.
fn backend(config: &Config, root: &std::path::Path) -> Result<Backend> {
    Backend::from_setting(config.database.as_ref().map(|d| d.as_str()), root)
        .map_err(|e| anyhow::anyhow!("`--database`: {e}"))
}

/// Names the root and, for PostgreSQL, the URL without its password.
fn open_failed(root: &std::path::Path, backend: &Backend) -> String {
    match backend {
        Backend::Sqlite(_) => format!("cannot open the registry at `{}`", root.display()),
        Backend::Postgres(_) => format!(
            "cannot open the registry at `{}` with its metadata in {}",
            root.display(),
            backend.describe()
        ),
    }
}

fn gc_options(config: &Config) -> GcOptions {
    GcOptions {
        grace_period: config.gc.grace_period,
        upload_ttl: config.gc.upload_ttl,
        delete_untagged: config.gc.delete_untagged,
        dry_run: false,
    }
}

fn describe(report: &GcReport, dry_run: bool) -> String {
    let count = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "{} {}, {}, {} ({}), {}, {}",
        if dry_run { "Would remove" } else { "Removed" },
        count(report.manifests, "manifest", "manifests"),
        count(report.blob_links, "blob link", "blob links"),
        count(report.blobs, "blob", "blobs"),
        crate::output::human::size(report.bytes),
        count(report.orphaned_files, "orphaned file", "orphaned files"),
        count(report.uploads, "upload session", "upload sessions"),
    )
}

/// The config file's settings with the command line's (flags or their variables) on top.
fn settings(root: Option<PathBuf>, args: &ServeArgs) -> Result<Config> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(root) = root {
        config.root = Some(root);
    }
    if let Some(addr) = &args.addr {
        config.addr = Some(addr.clone());
    }
    if let Some(addr) = &args.metrics_addr {
        config.metrics_addr = Some(addr.clone());
    }
    if let Some(timeout) = &args.shutdown_timeout {
        let timeout = wharf_registry::config::parse_duration(timeout)
            .map_err(|e| anyhow::anyhow!("`--shutdown-timeout`: {e}"))?;
        config.shutdown_timeout = Some(timeout);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config.tls = Some(TlsConfig {
            cert: cert.clone(),
            key: key.clone(),
        });
    }
    if let Some(htpasswd) = &args.htpasswd {
        match &mut config.auth {
            Some(auth) => auth.htpasswd = htpasswd.clone(),
            None => {
                config.auth = Some(AuthConfig {
                    htpasswd: htpasswd.clone(),
                    anonymous_pull: false,
                    token: None,
                    session_key: None,
                    groups: Default::default(),
                    rules: Vec::new(),
                })
            }
        }
    }
    if let Some(interval) = &args.gc_interval {
        let interval = wharf_registry::config::parse_duration(interval)
            .map_err(|e| anyhow::anyhow!("`--gc-interval`: {e}"))?;
        config.gc.interval = Some(interval);
    }
    if let Some(timeout) = &args.client_timeout {
        let timeout = wharf_registry::config::parse_duration(timeout)
            .map_err(|e| anyhow::anyhow!("`--client-timeout`: {e}"))?;
        if timeout.is_zero() {
            anyhow::bail!("`--client-timeout`: must be longer than 0");
        }
        config.client_timeout = Some(timeout);
    }
    if let Some(on) = args.ui {
        config.ui = Some(on);
    }
    if let Some(on) = args.access_log {
        config.access_log = Some(on);
    }
    if let Some(url) = &args.database {
        config.database = Some(DatabaseUrl(url.clone()));
    }
    if let Some(format) = args.log_format {
        config.log_format = Some(match format {
            cli::LogFormat::Text => LogFormat::Text,
            cli::LogFormat::Json => LogFormat::Json,
        });
    }
    Ok(config)
}

fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    // Colours only for a terminal: a log file or journal gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        // A log line that cannot be written (the reader of stderr went away) is lost; by
        // default tracing would `eprintln!` about it, which panics and drops the request.
        .log_internal_errors(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
