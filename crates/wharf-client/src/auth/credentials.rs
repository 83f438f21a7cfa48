//! Where credentials come from: Docker's `config.json` (`auths` with `auth` or
//! `identitytoken`, `credHelpers`, `credsStore` — running `docker-credential-NAME get` as
//! Docker does), podman's `auth.json`, or credentials given in code.
//!
//! Lookups are keyed by the registry's domain as references spell it (`docker.io`,
//! `localhost:5000`); Docker Hub's entry is filed under `https://index.docker.io/v1/`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use serde::Deserialize;

use crate::endpoint::{DOCKER_HUB_AUTH_KEY, DOCKER_HUB_DOMAIN, DOCKER_HUB_HOST};
use crate::error::{ClientError, Result};

/// A credential for one registry. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// May be empty (identity tokens from a helper come without one).
    pub username: String,
    pub secret: Secret,
    /// Where it was found, for messages: `/root/.docker/config.json`,
    /// `docker-credential-pass`.
    pub source: String,
}

#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// Sent as HTTP Basic, to the registry or to its token server.
    Password(String),
    /// An OAuth2 refresh token, exchanged at the token server (`identitytoken`).
    IdentityToken(String),
    /// A bearer token sent to the registry as it is (`registrytoken`).
    RegistryToken(String),
}

impl Credential {
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Credential {
        Credential {
            username: username.into(),
            secret: Secret::Password(password.into()),
            source: "given credentials".to_string(),
        }
    }

    /// The `user:password` pair, when this is a password credential.
    pub(crate) fn basic_pair(&self) -> Option<(&str, &str)> {
        match &self.secret {
            Secret::Password(p) => Some((&self.username, p)),
            _ => None,
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.secret {
            Secret::Password(_) => "password",
            Secret::IdentityToken(_) => "identity token",
            Secret::RegistryToken(_) => "registry token",
        };
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("secret", &format_args!("<{kind} redacted>"))
            .field("source", &self.source)
            .finish()
    }
}

/// Something that knows credentials. Called from a blocking thread: it may read files and
/// run helper programs.
pub trait CredentialProvider: Send + Sync + fmt::Debug {
    /// The credential for `registry` (a reference's domain or a mirror's host), if any.
    fn credential(&self, registry: &str) -> Result<Option<Credential>>;
}

/// Anonymous access only.
#[derive(Debug, Clone, Default)]
pub struct NoCredentials;

impl CredentialProvider for NoCredentials {
    fn credential(&self, _registry: &str) -> Result<Option<Credential>> {
        Ok(None)
    }
}

/// Credentials given in code (by `login` before it stores them, or by tests).
#[derive(Debug, Clone, Default)]
pub struct StaticCredentials(pub BTreeMap<String, Credential>);

impl StaticCredentials {
    pub fn one(registry: impl Into<String>, credential: Credential) -> Self {
        StaticCredentials(BTreeMap::from([(registry.into(), credential)]))
    }
}

impl CredentialProvider for StaticCredentials {
    fn credential(&self, registry: &str) -> Result<Option<Credential>> {
        Ok(lookup_keys(registry)
            .hosts
            .iter()
            .find_map(|h| self.0.get(*h))
            .or_else(|| self.0.get(registry))
            .cloned())
    }
}

/// The first provider that knows a credential wins.
#[derive(Debug, Clone, Default)]
pub struct CredentialChain(pub Vec<Arc<dyn CredentialProvider>>);

impl CredentialProvider for CredentialChain {
    fn credential(&self, registry: &str) -> Result<Option<Credential>> {
        for provider in &self.0 {
            if let Some(c) = provider.credential(registry)? {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }
}

/// A Docker `config.json` or a podman `auth.json` (same format), read once on first use.
/// A missing file knows no credentials.
pub struct AuthFile {
    path: PathBuf,
    /// `PATH` used to find `docker-credential-*` helpers; the process's when `None`.
    helper_path: Option<OsString>,
    parsed: OnceLock<std::result::Result<Option<ConfigFile>, String>>,
}

impl fmt::Debug for AuthFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

/// What a credential helper prints for `get`.
#[derive(Deserialize)]
struct HelperOutput {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

impl AuthFile {
    pub fn new(path: impl Into<PathBuf>) -> AuthFile {
        AuthFile {
            path: path.into(),
            helper_path: None,
            parsed: OnceLock::new(),
        }
    }

    /// Looks for `docker-credential-*` helpers in `path` (a `PATH`-style list) instead of
    /// the process's `PATH`.
    pub fn with_helper_path(mut self, path: impl Into<OsString>) -> AuthFile {
        self.helper_path = Some(path.into());
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn config(&self, registry: &str) -> Result<Option<&ConfigFile>> {
        let parsed = self.parsed.get_or_init(|| {
            let bytes = match std::fs::read(&self.path) {
                Ok(b) => b,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(format!("cannot read `{}`: {e}", self.path.display())),
            };
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("`{}` is not a valid auth file: {e}", self.path.display()))
        });
        parsed
            .as_ref()
            .map(Option::as_ref)
            .map_err(|reason| ClientError::Credentials {
                registry: registry.to_string(),
                reason: reason.clone(),
            })
    }

    fn credential_from_entry(
        &self,
        registry: &str,
        key: &str,
        entry: &AuthEntry,
    ) -> Result<Option<Credential>> {
        let bad = |reason: String| ClientError::Credentials {
            registry: registry.to_string(),
            reason: format!("entry `{key}` in `{}`: {reason}", self.path.display()),
        };
        let (mut username, mut password) = (entry.username.clone(), entry.password.clone());
        if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad("`auth` is not base64".into()))?;
            let decoded =
                String::from_utf8(decoded).map_err(|_| bad("`auth` is not UTF-8".into()))?;
            let (u, p) = decoded
                .split_once(':')
                .ok_or_else(|| bad("`auth` is not `user:password`".into()))?;
            username = Some(u.to_string());
            password = Some(p.to_string());
        }
        let source = self.path.display().to_string();
        let username = username.unwrap_or_default();
        let secret = if let Some(t) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            Secret::IdentityToken(t.to_string())
        } else if let Some(t) = entry.registrytoken.as_deref().filter(|t| !t.is_empty()) {
            Secret::RegistryToken(t.to_string())
        } else if let Some(p) = password.filter(|_| !username.is_empty()) {
            Secret::Password(p)
        } else {
            return Ok(None);
        };
        Ok(Some(Credential {
            username,
            secret,
            source,
        }))
    }

    fn run_helper(&self, registry: &str, helper: &str, server: &str) -> Result<Option<Credential>> {
        let program = format!("docker-credential-{helper}");
        let fail = |reason: String| ClientError::Credentials {
            registry: registry.to_string(),
            reason: format!("credential helper `{program}`: {reason}"),
        };
        let out = run_helper(&program, "get", server, self.helper_path.as_deref()).map_err(fail)?;
        if !out.status.success() {
            let said = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            // The helpers' agreed wording for "nothing stored for this server".
            if said.contains("credentials not found") {
                return Ok(None);
            }
            let said: String = said.trim().chars().take(200).collect();
            return Err(fail(format!("failed ({}): {said}", out.status)));
        }
        let parsed: HelperOutput = serde_json::from_slice(&out.stdout)
            .map_err(|e| fail(format!("printed something that is not its JSON: {e}")))?;
        if parsed.secret.is_empty() {
            return Ok(None);
        }
        let (username, secret) = if parsed.username == "<token>" {
            (String::new(), Secret::IdentityToken(parsed.secret))
        } else {
            (parsed.username, Secret::Password(parsed.secret))
        };
        Ok(Some(Credential {
            username,
            secret,
            source: program,
        }))
    }
}

impl CredentialProvider for AuthFile {
    fn credential(&self, registry: &str) -> Result<Option<Credential>> {
        let Some(config) = self.config(registry)? else {
            return Ok(None);
        };
        let keys = lookup_keys(registry);
        let matches = |key: &str| {
            key == keys.server_url || normalize_key(key).is_some_and(|h| keys.hosts.contains(&h))
        };
        if let Some(helper) = config
            .cred_helpers
            .iter()
            .find(|(k, _)| matches(k))
            .map(|(_, v)| v)
        {
            return self.run_helper(registry, helper, keys.server_url);
        }
        if let Some(store) = config.creds_store.as_deref().filter(|s| !s.is_empty()) {
            match self.run_helper(registry, store, keys.server_url) {
                Ok(Some(c)) => return Ok(Some(c)),
                Ok(None) => {}
                // A `credsStore` copied from another machine must not block the plain
                // entries below (Docker Desktop's `desktop` on a Linux server, say).
                Err(e) => tracing::warn!("{e}; trying the file's `auths`"),
            }
        }
        // The exact key first, then any key that names the same host.
        let entry = config
            .auths
            .get_key_value(keys.server_url)
            .or_else(|| config.auths.iter().find(|(k, _)| matches(k)));
        match entry {
            Some((key, entry)) => self.credential_from_entry(registry, key, entry),
            None => Ok(None),
        }
    }
}

pub(crate) struct LookupKeys<'a> {
    /// What Docker files the credential under, and hands a helper on stdin.
    pub server_url: &'a str,
    /// Host names any key may normalize to.
    pub hosts: Vec<&'a str>,
}

pub(crate) fn lookup_keys(registry: &str) -> LookupKeys<'_> {
    if matches!(
        registry,
        DOCKER_HUB_DOMAIN | "index.docker.io" | DOCKER_HUB_HOST
    ) {
        LookupKeys {
            server_url: DOCKER_HUB_AUTH_KEY,
            hosts: vec!["index.docker.io", DOCKER_HUB_DOMAIN, DOCKER_HUB_HOST],
        }
    } else {
        LookupKeys {
            server_url: registry,
            hosts: vec![registry],
        }
    }
}

/// Docker's `ConvertToHostname` for keys written as URLs (`https://host/v1/` → `host`).
/// A key with a path but no scheme is a podman namespace (`quay.io/org`): it does not
/// stand for the whole registry, so it matches nothing here.
pub(crate) fn normalize_key(key: &str) -> Option<&str> {
    let (had_scheme, rest) = match key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
    {
        Some(rest) => (true, rest),
        None => (false, key),
    };
    match rest.split_once('/') {
        Some((host, _)) if had_scheme => Some(host),
        Some(_) => None,
        None => Some(rest),
    }
}

/// Where Docker and podman keep credentials, in the order they are consulted:
/// `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`, then `$REGISTRY_AUTH_FILE`,
/// `$XDG_RUNTIME_DIR/containers/auth.json`, `$XDG_CONFIG_HOME/containers/auth.json`.
pub fn default_auth_files(env: &dyn Fn(&str) -> Option<OsString>) -> Vec<PathBuf> {
    let var = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let home = var("HOME");
    let mut files = Vec::new();
    match var("DOCKER_CONFIG") {
        Some(dir) => files.push(dir.join("config.json")),
        None => files.extend(home.as_ref().map(|h| h.join(".docker/config.json"))),
    }
    files.extend(var("REGISTRY_AUTH_FILE"));
    files.extend(var("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")));
    match var("XDG_CONFIG_HOME") {
        Some(dir) => files.push(dir.join("containers/auth.json")),
        None => files.extend(home.map(|h| h.join(".config/containers/auth.json"))),
    }
    files
}

/// The provider a CLI wants: every file of [`default_auth_files`] for this process.
pub fn default_provider() -> CredentialChain {
    let files = default_auth_files(&|k| std::env::var_os(k));
    CredentialChain(
        files
            .into_iter()
            .map(|f| Arc::new(AuthFile::new(f)) as Arc<dyn CredentialProvider>)
            .collect(),
    )
}

/// Runs `docker-credential-NAME ACTION` with `input` on its stdin, as Docker does; the
/// error is a reason to put after the helper's name.
pub(crate) fn run_helper(
    program: &str,
    action: &str,
    input: &str,
    helper_path: Option<&std::ffi::OsStr>,
) -> std::result::Result<std::process::Output, String> {
    let mut command = Command::new(program);
    command
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(path) = helper_path {
        command.env("PATH", path);
    }
    let mut child = command.spawn().map_err(|e| {
        if e.kind() == ErrorKind::NotFound {
            "not found on PATH".to_string()
        } else {
            format!("cannot run it: {e}")
        }
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading gives EPIPE here; its exit status tells more.
        let _ = stdin.write_all(input.as_bytes());
    }
    child
        .wait_with_output()
        .map_err(|e| format!("cannot run it: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn password(c: &Credential) -> &str {
        match &c.secret {
            Secret::Password(p) => p,
            other => panic!("not a password: {:?}", std::mem::discriminant(other)),
        }
    }

    #[test]
    fn auths_entries_by_key_and_host() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "config.json",
            &format!(
                r#"{{"auths": {{
                    "https://index.docker.io/v1/": {{"auth": "{}"}},
                    "https://reg.example.com/v2/": {{"auth": "{}"}},
                    "localhost:5000": {{"username": "u", "password": "p"}},
                    "idp.example.com": {{"auth": "{}", "identitytoken": "refresh"}},
                    "empty.example.com": {{}},
                    "quay.io/org": {{"auth": "{}"}}
                }}}}"#,
                b64("hubuser:hub:pass"),
                b64("alice:s3cret"),
                b64("bob:"),
                b64("org:pw")
            ),
        );
        let file = AuthFile::new(&path);
        let hub = file.credential("docker.io").unwrap().unwrap();
        assert_eq!(
            (hub.username.as_str(), password(&hub)),
            ("hubuser", "hub:pass")
        );
        assert_eq!(hub.source, path.display().to_string());
        let c = file.credential("reg.example.com").unwrap().unwrap();
        assert_eq!((c.username.as_str(), password(&c)), ("alice", "s3cret"));
        let c = file.credential("localhost:5000").unwrap().unwrap();
        assert_eq!(password(&c), "p");
        let c = file.credential("idp.example.com").unwrap().unwrap();
        assert_eq!(c.username, "bob");
        assert!(matches!(&c.secret, Secret::IdentityToken(t) if t == "refresh"));
        assert!(file.credential("empty.example.com").unwrap().is_none());
        assert!(file.credential("quay.io").unwrap().is_none());
        assert!(file.credential("ghcr.io").unwrap().is_none());
        // The secret never shows in Debug output.
        let shown = format!("{hub:?}");
        assert!(
            !shown.contains("hub:pass") && shown.contains("redacted"),
            "{shown}"
        );
    }

    #[test]
    fn missing_file_is_empty_and_bad_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        assert!(AuthFile::new(dir.path().join("nope.json"))
            .credential("docker.io")
            .unwrap()
            .is_none());
        let bad = write(dir.path(), "bad.json", "{not json");
        let err = AuthFile::new(&bad)
            .credential("docker.io")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.json") && err.contains("docker.io"),
            "{err}"
        );
        let bad = write(
            dir.path(),
            "b64.json",
            r#"{"auths":{"x.io":{"auth":"%%%"}}}"#,
        );
        let err = AuthFile::new(&bad)
            .credential("x.io")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not base64") && err.contains("`x.io`"),
            "{err}"
        );
    }

    /// A real helper program, written as a shell script, found through a `PATH` of its own.
    fn helper(dir: &Path, name: &str, script: &str) {
        let path = write(dir, &format!("docker-credential-{name}"), script);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    const TEST_HELPER: &str = r#"#!/bin/sh
[ "$1" = get ] || exit 2
read -r server
case "$server" in
  https://index.docker.io/v1/) echo '{"ServerURL":"'"$server"'","Username":"hubuser","Secret":"from-helper"}' ;;
  tok.example.com) echo '{"ServerURL":"tok.example.com","Username":"<token>","Secret":"refresh-token"}' ;;
  broken.example.com) echo 'boom' >&2; exit 3 ;;
  *) echo 'credentials not found in native keychain'; exit 1 ;;
esac
"#;

    #[test]
    fn cred_helpers_and_creds_store_run_the_helper() {
        let dir = tempfile::tempdir().unwrap();
        helper(dir.path(), "test", TEST_HELPER);
        let config = write(
            dir.path(),
            "config.json",
            &format!(
                r#"{{"credHelpers": {{"docker.io": "test", "tok.example.com": "test",
                        "broken.example.com": "test", "none.example.com": "test",
                        "missing.example.com": "absent"}},
                    "auths": {{"none.example.com": {{"auth": "{}"}}}}}}"#,
                b64("x:y")
            ),
        );
        let file = AuthFile::new(&config).with_helper_path(dir.path());
        let hub = file.credential("docker.io").unwrap().unwrap();
        assert_eq!(
            (hub.username.as_str(), password(&hub)),
            ("hubuser", "from-helper")
        );
        assert_eq!(hub.source, "docker-credential-test");
        let tok = file.credential("tok.example.com").unwrap().unwrap();
        assert!(matches!(&tok.secret, Secret::IdentityToken(t) if t == "refresh-token"));
        assert!(tok.username.is_empty());
        // A per-registry helper is authoritative, as in Docker: `auths` is not consulted.
        assert!(file.credential("none.example.com").unwrap().is_none());
        let err = file
            .credential("broken.example.com")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("docker-credential-test") && err.contains("boom"),
            "{err}"
        );
        let err = file
            .credential("missing.example.com")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("docker-credential-absent") && err.contains("not found"),
            "{err}"
        );

        let store = write(
            dir.path(),
            "store.json",
            &format!(
                r#"{{"credsStore": "test", "auths": {{"plain.example.com": {{"auth": "{}"}}}}}}"#,
                b64("p:q")
            ),
        );
        let file = AuthFile::new(&store).with_helper_path(dir.path());
        assert_eq!(
            password(&file.credential("docker.io").unwrap().unwrap()),
            "from-helper"
        );
        // Not in the store: the file's own entry still counts.
        assert_eq!(
            password(&file.credential("plain.example.com").unwrap().unwrap()),
            "q"
        );
        assert!(file.credential("other.example.com").unwrap().is_none());
    }

    #[test]
    fn default_files_follow_the_environment() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let files = default_auth_files(&env(&[
            ("HOME", "/home/u"),
            ("REGISTRY_AUTH_FILE", "/etc/auth.json"),
            ("XDG_RUNTIME_DIR", "/run/user/1000"),
        ]));
        assert_eq!(
            files,
            [
                "/home/u/.docker/config.json",
                "/etc/auth.json",
                "/run/user/1000/containers/auth.json",
                "/home/u/.config/containers/auth.json"
            ]
            .map(PathBuf::from)
        );
        let files = default_auth_files(&env(&[
            ("HOME", "/home/u"),
            ("DOCKER_CONFIG", "/d"),
            ("XDG_CONFIG_HOME", "/c"),
        ]));
        assert_eq!(
            files,
            ["/d/config.json", "/c/containers/auth.json"].map(PathBuf::from)
        );
    }

    #[test]
    fn chain_takes_the_first_answer() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a.json", r#"{"auths":{}}"#);
        let b = write(
            dir.path(),
            "b.json",
            &format!(r#"{{"auths":{{"r.io":{{"auth":"{}"}}}}}}"#, b64("b:pw")),
        );
        let chain = CredentialChain(vec![
            Arc::new(AuthFile::new(a)),
            Arc::new(AuthFile::new(&b)),
            Arc::new(StaticCredentials::one("r.io", Credential::basic("s", "t"))),
        ]);
        let c = chain.credential("r.io").unwrap().unwrap();
        assert_eq!(
            (c.username.as_str(), c.source.as_str()),
            ("b", b.to_str().unwrap())
        );
        let s = StaticCredentials::one("docker.io", Credential::basic("s", "t"));
        assert!(s.credential("docker.io").unwrap().is_some());
        assert!(s.credential("ghcr.io").unwrap().is_none());
    }
}
