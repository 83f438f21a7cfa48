//! The registry's configuration file (TOML). Every key is optional; unknown keys are an
//! error that names the key and its line, so a typo never silently leaves a setting off.
//! Relative paths in the file are relative to the file's directory.
//!
//! ```toml
//! addr = ":5000"                 # or "0.0.0.0:5000", "localhost:5000", "[::1]:5000"
//! metrics-addr = "127.0.0.1:5001" # /metrics here only, without auth
//! root = "/var/lib/wharf/registry"
//! # Metadata in PostgreSQL, for replicas sharing `root`; unset: SQLite at `root/registry.db`.
//! database = "postgres://wharf:secret@db.internal:5432/wharf"
//! log-format = "json"            # or "text"
//! client-timeout = "60s"         # close connections idle this long (default 60s)
//! access-log = true              # a line per request on stderr (default true)
//! header-timeout = "30s"         # a request's headers must arrive within this
//! body-min-rate = 1024           # bytes/s a request body must average after client-timeout
//! max-connections = 4096         # open connections (lowered to fit `ulimit -n`)
//! max-connections-per-client = 256
//! shutdown-timeout = "30s"       # after SIGTERM, requests in flight get this long
//! ui = true                      # the web pages at `/` (default true)
//!
//! [tls]
//! cert = "cert.pem"
//! key = "key.pem"
//!
//! [auth]
//! htpasswd = "htpasswd"          # bcrypt entries (`htpasswd -B`)
//! anonymous-pull = false
//! session-key = "session.key"    # signs the web pages' logins (replicas share it)
//! [auth.token]                   # bearer tokens issued by wharf at `/token`
//! key = "token.key"              # HS256 secret, 32 bytes or more
//! [auth.groups]
//! dev = ["alice", "bob"]
//! [[auth.rules]]
//! groups = ["dev"]
//! repositories = ["team/**"]
//! actions = ["pull", "push"]
//!
//! [gc]
//! interval = "1h"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::auth::Action;
pub use crate::listen::ListenAddr;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file `{path}` is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("the config file `{path}`: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    pub addr: Option<ListenAddr>,
    /// Serve `/metrics` on this address only (plain HTTP, no auth), not on `addr`.
    pub metrics_addr: Option<ListenAddr>,
    pub root: Option<PathBuf>,
    /// A `postgres://` URL; none: SQLite in `root`.
    pub database: Option<DatabaseUrl>,
    pub log_format: Option<LogFormat>,
    /// A connection on which no byte moves for this long is closed (slow or stalled
    /// clients); default [`crate::idle::DEFAULT_CLIENT_TIMEOUT`].
    #[serde(default, deserialize_with = "optional_duration")]
    pub client_timeout: Option<Duration>,
    /// Log every request (default true).
    pub access_log: Option<bool>,
    /// A request's headers must arrive within this; default
    /// [`crate::DEFAULT_HEADER_TIMEOUT`].
    #[serde(default, deserialize_with = "optional_duration")]
    pub header_timeout: Option<Duration>,
    /// Bytes per second a request body must average once `client-timeout` has passed
    /// (0: no minimum); default [`crate::DEFAULT_BODY_MIN_RATE`].
    pub body_min_rate: Option<u64>,
    /// Open connections at most; default [`crate::limits::DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: Option<usize>,
    /// Open connections from one client address at most; default
    /// [`crate::limits::DEFAULT_MAX_CONNECTIONS_PER_CLIENT`].
    pub max_connections_per_client: Option<usize>,
    /// After SIGTERM, requests in flight get this long before their connections are
    /// dropped; default [`crate::DEFAULT_SHUTDOWN_TIMEOUT`].
    #[serde(default, deserialize_with = "optional_duration")]
    pub shutdown_timeout: Option<Duration>,
    pub tls: Option<TlsConfig>,
    pub auth: Option<AuthConfig>,
    #[serde(default)]
    pub gc: GcConfig,
    /// The web pages at `/` (repositories, images, layers, files); default true.
    pub ui: Option<bool>,
}

/// A database URL. Its `Debug` hides the password, so a logged config never shows it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(pub String);

impl DatabaseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", crate::storage::redact_url(&self.0))
    }
}

impl std::fmt::Display for DatabaseUrl {
    /// Without the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::storage::redact_url(&self.0))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AuthConfig {
    /// Users and their bcrypt password hashes, one `user:hash` a line.
    pub htpasswd: PathBuf,
    /// Whether requests without credentials may pull every repository.
    #[serde(default)]
    pub anonymous_pull: bool,
    /// Bearer tokens issued by this registry; without it clients use Basic auth.
    pub token: Option<TokenConfig>,
    /// A file holding the secret (32 bytes or more) that signs the web pages' login
    /// cookies. Default: a random secret per start, so a login ends with the process and
    /// holds on one replica only.
    pub session_key: Option<PathBuf>,
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    /// Who may do what where. None: every authenticated user may do everything.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TokenConfig {
    /// The token endpoint clients are sent to; default: `/token` on the address the server
    /// is bound to (required when that is all interfaces). Never taken from a request.
    pub realm: Option<String>,
    #[serde(default = "default_service")]
    pub service: String,
    #[serde(default = "default_service")]
    pub issuer: String,
    /// A file holding the HMAC-SHA256 signing secret. Default: a random secret per start
    /// (tokens then die with the process, which clients handle by asking again).
    pub key: Option<PathBuf>,
    #[serde(default = "default_token_lifetime", deserialize_with = "duration")]
    pub expires_in: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RuleConfig {
    /// User names; `*` is every authenticated user, `anonymous` a request without credentials.
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Glob patterns: `*` within one path component, `**` across components.
    pub repositories: Vec<String>,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GcConfig {
    /// Run a collection this often while serving; default: never (run `wharf registry gc`).
    #[serde(default, deserialize_with = "optional_duration")]
    pub interval: Option<Duration>,
    /// Content younger than this is never collected: it may belong to a push in flight.
    #[serde(default = "default_grace", deserialize_with = "duration")]
    pub grace_period: Duration,
    /// Upload sessions idle longer than this are purged.
    #[serde(default = "default_upload_ttl", deserialize_with = "duration")]
    pub upload_ttl: Duration,
    /// Also collect manifests no tag reaches.
    #[serde(default)]
    pub delete_untagged: bool,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            interval: None,
            grace_period: default_grace(),
            upload_ttl: default_upload_ttl(),
            delete_untagged: false,
        }
    }
}

fn default_service() -> String {
    "wharf".to_string()
}

fn default_token_lifetime() -> Duration {
    Duration::from_secs(300)
}

fn default_grace() -> Duration {
    Duration::from_secs(3600)
}

fn default_upload_ttl() -> Duration {
    Duration::from_secs(24 * 3600)
}

impl Config {
    /// Reads and checks `path`; relative paths in it become relative to its directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        config.check().map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(config)
    }

    /// Parses TOML text; the error names the line and the offending key.
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(root) = &mut self.root {
            resolve(root);
        }
        if let Some(tls) = &mut self.tls {
            resolve(&mut tls.cert);
            resolve(&mut tls.key);
        }
        if let Some(auth) = &mut self.auth {
            resolve(&mut auth.htpasswd);
            if let Some(key) = auth.token.as_mut().and_then(|t| t.key.as_mut()) {
                resolve(key);
            }
            if let Some(key) = auth.session_key.as_mut() {
                resolve(key);
            }
        }
    }

    /// What TOML types cannot say: groups named by rules exist, patterns are sane.
    pub fn check(&self) -> Result<(), String> {
        if self.client_timeout.is_some_and(|t| t.is_zero()) {
            return Err("`client-timeout` must be longer than 0".into());
        }
        if self.header_timeout.is_some_and(|t| t.is_zero()) {
            return Err("`header-timeout` must be longer than 0".into());
        }
        if self.max_connections == Some(0) {
            return Err("`max-connections` must be 1 or more".into());
        }
        if self.max_connections_per_client == Some(0) {
            return Err("`max-connections-per-client` must be 1 or more".into());
        }
        if let Some(url) = &self.database {
            crate::storage::Backend::from_setting(Some(url.as_str()), Path::new("."))
                .map_err(|e| format!("`database`: {e}"))?;
        }
        let Some(auth) = &self.auth else {
            return Ok(());
        };
        for (i, rule) in auth.rules.iter().enumerate() {
            let n = i + 1;
            if rule.users.is_empty() && rule.groups.is_empty() {
                return Err(format!(
                    "rule {n} in `[[auth.rules]]` names no `users` or `groups`"
                ));
            }
            for group in &rule.groups {
                if !auth.groups.contains_key(group) {
                    return Err(format!(
                        "rule {n} in `[[auth.rules]]` names the group `{group}`, which `[auth.groups]` does not define"
                    ));
                }
            }
            if rule.repositories.iter().any(|p| p.is_empty()) {
                return Err(format!(
                    "rule {n} in `[[auth.rules]]` has an empty repository pattern"
                ));
            }
        }
        if let Some(realm) = auth.token.as_ref().and_then(|t| t.realm.as_ref()) {
            if !(realm.starts_with("http://") || realm.starts_with("https://")) {
                return Err(format!(
                    "`auth.token.realm` must be an absolute http(s) URL, not `{realm}`"
                ));
            }
        }
        Ok(())
    }
}

/// `"90s"`, `"15m"`, `"1h"`, `"7d"`, or a number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like `90s`, `15m`, `1h` or `7d`"))?;
    let scale = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => {
            return Err(format!(
                "`{other}` in `{text}` is not a unit of time: use `s`, `m`, `h` or `d`"
            ))
        }
    };
    Ok(Duration::from_secs(number.saturating_mul(scale)))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DurationText {
    Seconds(u64),
    Text(String),
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    match DurationText::deserialize(d)? {
        DurationText::Seconds(s) => Ok(Duration::from_secs(s)),
        DurationText::Text(t) => parse_duration(&t).map_err(serde::de::Error::custom),
    }
}

fn optional_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_parses() {
        let config = Config::parse(
            r#"
addr = "0.0.0.0:5000"
root = "data"
log-format = "json"
[tls]
cert = "c.pem"
key = "k.pem"
[auth]
htpasswd = "users"
anonymous-pull = true
[auth.token]
expires-in = "10m"
[auth.groups]
dev = ["alice"]
[[auth.rules]]
groups = ["dev"]
repositories = ["team/**"]
actions = ["pull", "push"]
[gc]
interval = "1h"
grace-period = 600
"#,
        )
        .unwrap();
        config.check().unwrap();
        assert_eq!(
            config.addr,
            Some(ListenAddr::Socket("0.0.0.0:5000".parse().unwrap()))
        );
        assert_eq!(config.log_format, Some(LogFormat::Json));
        let auth = config.auth.unwrap();
        assert!(auth.anonymous_pull);
        assert_eq!(auth.token.unwrap().expires_in, Duration::from_secs(600));
        assert_eq!(auth.rules[0].actions, vec![Action::Pull, Action::Push]);
        assert_eq!(config.gc.interval, Some(Duration::from_secs(3600)));
        assert_eq!(config.gc.grace_period, Duration::from_secs(600));
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        let err = Config::parse("addr = \"127.0.0.1:5000\"\nlisten = 1\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("unknown field `listen`"), "{err}");
        let err = Config::parse("[gc]\ninterval = \"5 fortnights\"\n").unwrap_err();
        assert!(err.contains("fortnights"), "{err}");
        let err = Config::parse("[auth]\nhtpasswd = \"x\"\n[[auth.rules]]\nusers = [\"a\"]\nrepositories = [\"*\"]\nactions = [\"fly\"]\n").unwrap_err();
        assert!(err.contains("fly"), "{err}");
    }

    #[test]
    fn rules_must_name_defined_groups() {
        let config = Config::parse(
            "[auth]\nhtpasswd = \"x\"\n[[auth.rules]]\ngroups = [\"ops\"]\nrepositories = [\"*\"]\nactions = [\"pull\"]\n",
        )
        .unwrap();
        assert!(config.check().unwrap_err().contains("`ops`"));
    }

    #[test]
    fn database_urls_are_checked_and_never_shown_with_their_password() {
        let config =
            Config::parse("database = \"postgres://wharf:s3cret@db:5432/meta?sslmode=disable\"\n")
                .unwrap();
        config.check().unwrap();
        let shown = format!("{config:?} {}", config.database.as_ref().unwrap());
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("postgres://wharf:***@db:5432/meta"),
            "{shown}"
        );

        let config = Config::parse("database = \"mysql://u:hidden@db/x\"\n").unwrap();
        let err = config.check().unwrap_err();
        assert!(err.contains("not a PostgreSQL URL"), "{err}");
        assert!(!err.contains("hidden"), "{err}");

        let redacted = crate::storage::redact_url("postgresql://db/x?user=u&password=p4ss&a=b");
        assert_eq!(redacted, "postgresql://db/x?user=u&password=***&a=b");
        assert_eq!(
            crate::storage::redact_url("postgres://u@db/x"),
            "postgres://u@db/x"
        );
        assert_eq!(
            crate::storage::redact_url("postgres://u:p@ss:w@db/x"),
            "postgres://u:***@db/x"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        assert_eq!(parse_duration("15").unwrap(), Duration::from_secs(15));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
    }
}
