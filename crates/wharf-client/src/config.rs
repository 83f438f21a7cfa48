//! The client's settings, and reading them from `$XDG_CONFIG_HOME/wharf/config.toml`:
//!
//! ```toml
//! # Tried in order before the registry itself, for pulls; any registry may have mirrors.
//! [mirrors]
//! "docker.io" = ["https://mirror.gcr.io", "localhost:5001"]
//!
//! # Plain HTTP (and unchecked certificates) allowed: `host`, `host:port` or a CIDR range.
//! # Loopback registries (localhost, 127.0.0.0/8, ::1) are always allowed, as in Docker.
//! insecure-registries = ["registry.internal:5000", "10.0.0.0/8"]
//!
//! # PEM files of extra CAs to trust (relative paths are relative to this file).
//! ca-certs = ["/etc/wharf/company-ca.pem"]
//!
//! max-concurrent-downloads = 3
//! # Blobs pushed at once (Docker's default too).
//! max-concurrent-uploads = 5
//!
//! # Fixed addresses for registry host names (like curl's `--resolve`): the name stays in
//! # URLs, TLS checks and credentials; only the connection goes to this address.
//! [resolve]
//! "registry.internal" = "10.1.2.3"
//! ```

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::auth::credentials::{self, CredentialProvider};
use crate::error::{ClientError, Result};
use crate::event::EventHandler;
use crate::retry::RetryPolicy;

pub const DEFAULT_MAX_CONCURRENT_DOWNLOADS: usize = 3;
/// Docker's `max-concurrent-uploads` default.
pub const DEFAULT_MAX_CONCURRENT_UPLOADS: usize = 5;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Per registry domain (`docker.io`), mirrors tried in order before it, for reads.
    pub mirrors: BTreeMap<String, Vec<String>>,
    /// Registries that may be spoken to over plain HTTP or with unchecked certificates.
    pub insecure: Vec<String>,
    /// PEM files of extra certificate authorities to trust.
    pub ca_certs: Vec<PathBuf>,
    /// How many blob downloads may run at once, across everything this client does.
    pub max_concurrent_downloads: usize,
    /// How many blobs a push or copy uploads at once.
    pub max_concurrent_uploads: usize,
    pub user_agent: String,
    pub credentials: Arc<dyn CredentialProvider>,
    pub retry: RetryPolicy,
    /// How many times in a row a broken blob download is resumed without progress.
    pub max_resumes: u32,
    pub connect_timeout: Duration,
    /// A connection that delivers nothing for this long is given up (and resumed).
    pub read_timeout: Duration,
    /// Fixed addresses for host names (curl's `--resolve`), for pinning or tests.
    pub resolve: BTreeMap<String, SocketAddr>,
    pub events: Option<EventHandler>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            mirrors: BTreeMap::new(),
            insecure: Vec::new(),
            ca_certs: Vec::new(),
            max_concurrent_downloads: DEFAULT_MAX_CONCURRENT_DOWNLOADS,
            max_concurrent_uploads: DEFAULT_MAX_CONCURRENT_UPLOADS,
            user_agent: concat!("wharf/", env!("CARGO_PKG_VERSION")).to_string(),
            credentials: Arc::new(credentials::NoCredentials),
            retry: RetryPolicy::default(),
            max_resumes: 5,
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            resolve: BTreeMap::new(),
            events: None,
        }
    }
}

/// The file's shape. Unknown keys are errors, so a typo does not silently do nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ConfigFile {
    #[serde(default)]
    mirrors: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    insecure_registries: Vec<String>,
    #[serde(default)]
    ca_certs: Vec<PathBuf>,
    max_concurrent_downloads: Option<usize>,
    max_concurrent_uploads: Option<usize>,
    #[serde(default)]
    resolve: BTreeMap<String, String>,
}

impl ClientConfig {
    /// Defaults plus the user's config file (when there is one), with credentials from
    /// Docker's and podman's files.
    pub fn load() -> Result<ClientConfig> {
        let mut config = match default_path(&|k| std::env::var_os(k)) {
            Some(path) => ClientConfig::from_file(&path)?,
            None => ClientConfig::default(),
        };
        config.credentials = Arc::new(credentials::default_provider());
        Ok(config)
    }

    /// Defaults plus the file at `path`; a missing file is the defaults.
    pub fn from_file(path: &Path) -> Result<ClientConfig> {
        match std::fs::read_to_string(path) {
            Ok(text) => ClientConfig::from_toml(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ClientConfig::default()),
            Err(e) => Err(ClientError::Config {
                path: path.to_path_buf(),
                reason: format!("cannot read it: {e}"),
            }),
        }
    }

    /// Defaults plus the TOML `text`; `path` names it in errors and anchors relative paths.
    pub fn from_toml(text: &str, path: &Path) -> Result<ClientConfig> {
        let bad = |reason: String| ClientError::Config {
            path: path.to_path_buf(),
            reason,
        };
        let file: ConfigFile = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .and_then(|span| text.get(..span.start))
                .map(|before| before.matches('\n').count() + 1);
            match line {
                Some(line) => bad(format!("line {line}: {}", e.message())),
                None => bad(e.message().to_string()),
            }
        })?;
        let mut config = ClientConfig::default();
        if let Some(n) = file.max_concurrent_downloads {
            if n == 0 {
                return Err(bad("`max-concurrent-downloads` must be at least 1".into()));
            }
            config.max_concurrent_downloads = n;
        }
        if let Some(n) = file.max_concurrent_uploads {
            if n == 0 {
                return Err(bad("`max-concurrent-uploads` must be at least 1".into()));
            }
            config.max_concurrent_uploads = n;
        }
        let base = path.parent().unwrap_or(Path::new("."));
        config.ca_certs = file.ca_certs.into_iter().map(|p| base.join(p)).collect();
        config.insecure = file.insecure_registries;
        for (registry, list) in file.mirrors {
            for mirror in &list {
                crate::endpoint::Endpoint::mirror(&registry, mirror, &config.insecure)
                    .map_err(|e| bad(e.to_string()))?;
            }
            config.mirrors.insert(registry, list);
        }
        for (host, address) in file.resolve {
            let addr = parse_address(&address).ok_or_else(|| {
                bad(format!(
                    "`resolve.\"{host}\"`: `{address}` is not an IP address (or IP:port)"
                ))
            })?;
            config.resolve.insert(host, addr);
        }
        Ok(config)
    }
}

/// `10.1.2.3`, `10.1.2.3:443`, `::1` or `[::1]:443`. The port of the URL is the one used
/// (a DNS answer has none), so a port here is accepted and ignored.
fn parse_address(text: &str) -> Option<SocketAddr> {
    text.parse::<SocketAddr>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| (ip, 0).into())
    })
}

/// `$XDG_CONFIG_HOME/wharf/config.toml`, or `~/.config/wharf/config.toml`.
pub fn default_path(env: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let var = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("XDG_CONFIG_HOME")
        .or_else(|| var("HOME").map(|h| h.join(".config")))
        .map(|dir| dir.join("wharf/config.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_setting() {
        let text = r#"
            insecure-registries = ["reg.internal:5000"]
            ca-certs = ["ca.pem", "/abs/ca.pem"]
            max-concurrent-downloads = 6
            max-concurrent-uploads = 2
            [resolve]
            "reg.internal" = "10.1.2.3"
            "v6.internal" = "[::1]:443"
            [mirrors]
            "docker.io" = ["https://mirror.gcr.io", "localhost:5001"]
        "#;
        let c = ClientConfig::from_toml(text, Path::new("/etc/wharf/config.toml")).unwrap();
        assert_eq!(c.insecure, ["reg.internal:5000"]);
        assert_eq!(
            c.ca_certs,
            [
                PathBuf::from("/etc/wharf/ca.pem"),
                PathBuf::from("/abs/ca.pem")
            ]
        );
        assert_eq!(c.max_concurrent_downloads, 6);
        assert_eq!(c.max_concurrent_uploads, 2);
        assert_eq!(c.mirrors["docker.io"].len(), 2);
        assert_eq!(c.resolve["reg.internal"].ip().to_string(), "10.1.2.3");
        assert_eq!(c.resolve["v6.internal"].ip().to_string(), "::1");
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let path = Path::new("/x/config.toml");
        for (text, want) in [
            ("insecure = []", "unknown field"),
            ("max-concurrent-downloads = 0", "at least 1"),
            ("max-concurrent-downloads = \"3\"", "invalid type"),
            (
                "[mirrors]\n\"docker.io\" = [\"ftp://m\"]",
                "unsupported scheme",
            ),
            ("[[", "line 1"),
            ("[resolve]\n\"r\" = \"r.example\"", "not an IP address"),
            ("\n\nmirrors = 3", "line 3: invalid type"),
        ] {
            let err = ClientConfig::from_toml(text, path).unwrap_err().to_string();
            assert!(
                err.contains("/x/config.toml") && err.contains(want),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn missing_file_is_defaults_and_path_follows_xdg() {
        let dir = tempfile::tempdir().unwrap();
        let c = ClientConfig::from_file(&dir.path().join("none.toml")).unwrap();
        assert_eq!(c.max_concurrent_downloads, DEFAULT_MAX_CONCURRENT_DOWNLOADS);
        let env = |k: &str| match k {
            "XDG_CONFIG_HOME" => Some(OsString::from("/cfg")),
            "HOME" => Some(OsString::from("/home/u")),
            _ => None,
        };
        assert_eq!(
            default_path(&env),
            Some(PathBuf::from("/cfg/wharf/config.toml"))
        );
        let env = |k: &str| (k == "HOME").then(|| OsString::from("/home/u"));
        assert_eq!(
            default_path(&env),
            Some(PathBuf::from("/home/u/.config/wharf/config.toml"))
        );
    }
}
