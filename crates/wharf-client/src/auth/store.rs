//! Writing credentials where Docker does, for `login` and `logout`: Docker's `config.json`
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`), or the credential helper it
//! names (`credHelpers` for the registry, else `credsStore`), run as
//! `docker-credential-NAME store|erase` exactly as Docker runs it.
//!
//! The file is read as plain JSON and only the entries for one registry change, so every
//! other setting (and settings wharf does not know) survives. It is replaced atomically and
//! is readable by its owner only.

use std::ffi::OsString;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Map, Value};
use wharf_fs::{AtomicFile, Durability};

use super::credentials::{lookup_keys, normalize_key};
use crate::endpoint::{DOCKER_HUB_DOMAIN, DOCKER_HUB_HOST};
use crate::error::{ClientError, Result};

/// Fields of an `auths` entry that hold (or describe) a secret: replaced on login, so a
/// stale identity token cannot win over the password just stored.
const SECRET_FIELDS: [&str; 5] = [
    "auth",
    "username",
    "password",
    "identitytoken",
    "registrytoken",
];

/// Where a login was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredIn {
    /// In the file, base64-encoded but not encrypted.
    File(PathBuf),
    /// By a credential helper: `docker-credential-NAME`.
    Helper(String),
}

/// Docker's credential configuration file, for writing.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    path: PathBuf,
    /// `PATH` used to find `docker-credential-*` helpers; the process's when `None`.
    helper_path: Option<OsString>,
}

/// The registry a user typed for `login`/`logout`, as references spell its domain:
/// Docker Hub's aliases (`index.docker.io`, `https://index.docker.io/v1/`) are `docker.io`;
/// a URL loses its scheme and path (`https://reg.example.com/v2/` → `reg.example.com`), as
/// Docker's `ConvertToHostname` does.
pub fn login_registry(input: &str) -> Result<String> {
    let trimmed = input.trim();
    let host = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .unwrap_or(trimmed);
    let host = host.split('/').next().unwrap_or_default();
    if host.is_empty() || host.contains(['@', ' ', '\t']) || host.contains("://") {
        return Err(ClientError::Credentials {
            registry: input.to_string(),
            reason:
                "not a registry: expected `host[:port]`, such as `docker.io` or `localhost:5000`"
                    .into(),
        });
    }
    Ok(match host {
        "index.docker.io" | DOCKER_HUB_HOST | DOCKER_HUB_DOMAIN => DOCKER_HUB_DOMAIN.to_string(),
        other => other.to_string(),
    })
}

/// The key Docker files a registry's credentials under (and hands a helper):
/// `https://index.docker.io/v1/` for Docker Hub, the domain itself for the others.
pub fn auth_key(registry: &str) -> &str {
    lookup_keys(registry).server_url
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path(env: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let var = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    match var("DOCKER_CONFIG") {
        Some(dir) => Some(dir.join("config.json")),
        None => var("HOME").map(|h| h.join(".docker/config.json")),
    }
}

/// Stores a login for `registry` (a reference domain) in Docker's default place.
pub fn store_credentials(registry: &str, username: &str, secret: &str) -> Result<StoredIn> {
    CredentialStore::docker_default()?.store(registry, username, secret)
}

/// Removes every stored login for `registry` from Docker's default place.
pub fn erase_credentials(registry: &str) -> Result<()> {
    CredentialStore::docker_default()?.erase(registry).map(drop)
}

impl CredentialStore {
    pub fn new(path: impl Into<PathBuf>) -> CredentialStore {
        CredentialStore {
            path: path.into(),
            helper_path: None,
        }
    }

    /// The file of [`docker_config_path`] for this process.
    pub fn docker_default() -> Result<CredentialStore> {
        docker_config_path(&|k| std::env::var_os(k))
            .map(CredentialStore::new)
            .ok_or_else(|| {
                ClientError::Setup(
                    "cannot find Docker's config file: neither `$DOCKER_CONFIG` nor `$HOME` is set"
                        .into(),
                )
            })
    }

    /// Looks for `docker-credential-*` helpers in `path` (a `PATH`-style list) instead of
    /// the process's `PATH`.
    pub fn with_helper_path(mut self, path: impl Into<OsString>) -> CredentialStore {
        self.helper_path = Some(path.into());
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores `username`/`secret` for `registry`: through the helper the file configures
    /// for it, else in the file's `auths` (then the file also records an empty entry, as
    /// Docker does, so the login is listed without its secret).
    pub fn store(&self, registry: &str, username: &str, secret: &str) -> Result<StoredIn> {
        let key = auth_key(registry);
        let mut config = self.read(registry)?;
        if let Some(helper) = helper_for(&config, registry) {
            let input = serde_json::json!({
                "ServerURL": key,
                "Username": username,
                "Secret": secret,
            })
            .to_string();
            self.run_helper(registry, &helper, "store", &input)?;
            let entry = entry_mut(&mut config, registry, key)?;
            SECRET_FIELDS.iter().for_each(|f| {
                entry.remove(*f);
            });
            self.write(registry, &config)?;
            return Ok(StoredIn::Helper(format!("docker-credential-{helper}")));
        }
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{secret}"));
        let entry = entry_mut(&mut config, registry, key)?;
        SECRET_FIELDS.iter().for_each(|f| {
            entry.remove(*f);
        });
        entry.insert("auth".into(), Value::String(encoded));
        self.write(registry, &config)?;
        Ok(StoredIn::File(self.path.clone()))
    }

    /// Removes the login for `registry`: from its helper (one that has nothing stored is
    /// fine) and every `auths` entry that names the registry — all of them, not only the
    /// exact key, so no credential a later lookup would find is left behind.
    ///
    /// Whether the file recorded a login for the registry (a helper's logins are recorded
    /// there too): Docker's test for "Not logged in".
    pub fn erase(&self, registry: &str) -> Result<bool> {
        let mut config = self.read(registry)?;
        if let Some(helper) = helper_for(&config, registry) {
            self.run_helper(registry, &helper, "erase", auth_key(registry))?;
        }
        let keys = lookup_keys(registry);
        let Some(Value::Object(auths)) = config.get_mut("auths") else {
            return Ok(false);
        };
        let before = auths.len();
        auths.retain(|k, _| {
            !(k == keys.server_url || normalize_key(k).is_some_and(|h| keys.hosts.contains(&h)))
        });
        let erased = auths.len() != before;
        if erased {
            self.write(registry, &config)?;
        }
        Ok(erased)
    }

    fn fail(&self, registry: &str, reason: String) -> ClientError {
        ClientError::Credentials {
            registry: registry.to_string(),
            reason,
        }
    }

    /// The file as a JSON object; `{}` when it does not exist.
    fn read(&self, registry: &str) -> Result<Map<String, Value>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Map::new()),
            Err(e) => {
                return Err(self.fail(
                    registry,
                    format!("cannot read `{}`: {e}", self.path.display()),
                ))
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(self.fail(
                registry,
                format!("`{}` is not a JSON object", self.path.display()),
            )),
            Err(e) => Err(self.fail(
                registry,
                format!("`{}` is not valid JSON: {e}", self.path.display()),
            )),
        }
    }

    /// Replaces the file atomically ([`wharf_fs::AtomicFile`]), mode 0600 from the start,
    /// tab-indented as Docker writes it. A symlinked file is written through the link.
    fn write(&self, registry: &str, config: &Map<String, Value>) -> Result<()> {
        let target = match std::fs::canonicalize(&self.path) {
            Ok(real) => real,
            Err(_) => self.path.clone(),
        };
        let io = |what: &str, e: std::io::Error| {
            self.fail(
                registry,
                format!("cannot {what} `{}`: {e}", target.display()),
            )
        };
        let dir = target.parent().unwrap_or(Path::new("."));
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| io("create the directory of", e))?;
        }
        let mut text = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut text, formatter);
        serde::Serialize::serialize(config, &mut ser).expect("a JSON value serializes");
        let mut file = AtomicFile::create_with_mode(&target, 0o600)
            .map_err(|e| self.fail(registry, e.to_string()))?;
        file.write_all(&text).map_err(|e| io("write", e))?;
        file.commit(Durability::Durable)
            .map_err(|e| self.fail(registry, e.to_string()))
    }

    /// Runs `docker-credential-NAME action` with `input` on stdin.
    fn run_helper(&self, registry: &str, helper: &str, action: &str, input: &str) -> Result<()> {
        let program = format!("docker-credential-{helper}");
        let fail = |reason: String| {
            self.fail(
                registry,
                format!("credential helper `{program} {action}`: {reason}"),
            )
        };
        let out =
            super::credentials::run_helper(&program, action, input, self.helper_path.as_deref())
                .map_err(fail)?;
        if out.status.success() {
            return Ok(());
        }
        let said = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        // Erasing what is not there is what logout wants anyway.
        if action == "erase" && said.contains("credentials not found") {
            return Ok(());
        }
        // A helper echoing its input back would show the secret: never repeat it then.
        let said: String = if said.contains(input) || action == "store" && said.contains("Secret") {
            "(its output is not shown: it may hold the secret)".into()
        } else {
            said.trim().chars().take(200).collect()
        };
        Err(fail(format!("failed ({}): {said}", out.status)))
    }
}

/// The helper that keeps `registry`'s credentials: its `credHelpers` entry, else
/// `credsStore`.
fn helper_for(config: &Map<String, Value>, registry: &str) -> Option<String> {
    let keys = lookup_keys(registry);
    let matches =
        |k: &str| k == keys.server_url || normalize_key(k).is_some_and(|h| keys.hosts.contains(&h));
    let per_registry = config
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|helpers| {
            helpers
                .iter()
                .find(|(k, _)| matches(k))
                .and_then(|(_, v)| v.as_str())
        });
    per_registry
        .or_else(|| config.get("credsStore").and_then(Value::as_str))
        .filter(|h| !h.is_empty())
        .map(str::to_string)
}

/// The `auths[key]` object, created when missing.
fn entry_mut<'a>(
    config: &'a mut Map<String, Value>,
    registry: &str,
    key: &str,
) -> Result<&'a mut Map<String, Value>> {
    let bad = |what: &str| ClientError::Credentials {
        registry: registry.to_string(),
        reason: format!("{what} in Docker's config file is not a JSON object"),
    };
    let auths = config
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if auths.is_null() {
        *auths = Value::Object(Map::new());
    }
    let auths = auths.as_object_mut().ok_or_else(|| bad("`auths`"))?;
    let entry = auths
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()));
    if entry.is_null() {
        *entry = Value::Object(Map::new());
    }
    entry
        .as_object_mut()
        .ok_or_else(|| bad(&format!("`auths.{key}`")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::credentials::{AuthFile, CredentialProvider, Secret};
    use std::os::unix::fs::PermissionsExt;

    fn read_json(path: &Path) -> Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn password(store: &CredentialStore, registry: &str) -> Option<(String, String)> {
        let file = AuthFile::new(store.path());
        let file = match &store.helper_path {
            Some(p) => file.with_helper_path(p.clone()),
            None => file,
        };
        file.credential(registry).unwrap().map(|c| match c.secret {
            Secret::Password(p) => (c.username, p),
            _ => panic!("not a password"),
        })
    }

    #[test]
    fn registries_are_normalized_like_docker() {
        for (input, want) in [
            ("docker.io", "docker.io"),
            ("index.docker.io", "docker.io"),
            ("https://index.docker.io/v1/", "docker.io"),
            ("registry-1.docker.io", "docker.io"),
            ("localhost:5000", "localhost:5000"),
            ("http://localhost:5000/", "localhost:5000"),
            ("https://reg.example.com/v2/", "reg.example.com"),
        ] {
            assert_eq!(login_registry(input).unwrap(), want, "{input}");
        }
        for bad in ["", "https://", "user@host", "a b"] {
            assert!(login_registry(bad).is_err(), "{bad}");
        }
        assert_eq!(auth_key("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(auth_key("localhost:5000"), "localhost:5000");
    }

    #[test]
    fn stores_in_a_new_file_with_owner_only_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.json");
        let store = CredentialStore::new(&path);
        let stored = store.store("docker.io", "alice", "pw:with:colons").unwrap();
        assert_eq!(stored, StoredIn::File(path.clone()));
        assert_eq!(mode(&path), 0o600);
        let json = read_json(&path);
        assert_eq!(
            json["auths"]["https://index.docker.io/v1/"]["auth"],
            base64::engine::general_purpose::STANDARD.encode("alice:pw:with:colons")
        );
        assert_eq!(
            password(&store, "docker.io"),
            Some(("alice".into(), "pw:with:colons".into()))
        );
        // Tab-indented, as Docker writes it.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\n\t\"auths\""), "{text}");
        // No temp file left beside it.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["config.json"]);
    }

    #[test]
    fn keeps_every_other_setting_and_replaces_stale_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let original = serde_json::json!({
            "auths": {
                "ghcr.io": {"auth": "Z2g6dG9rZW4="},
                "localhost:5000": {"identitytoken": "stale", "email": "a@b.c"}
            },
            "psFormat": "table {{.ID}}",
            "proxies": {"default": {"httpProxy": "http://proxy:3128"}},
            "plugins": {"x": {"y": [1, 2.5, null, true]}},
            "currentContext": "default"
        });
        std::fs::write(&path, serde_json::to_vec(&original).unwrap()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let store = CredentialStore::new(&path);
        store.store("localhost:5000", "bob", "s3cret").unwrap();
        assert_eq!(mode(&path), 0o600);
        let mut want = original.clone();
        want["auths"]["localhost:5000"] = serde_json::json!({
            "email": "a@b.c",
            "auth": base64::engine::general_purpose::STANDARD.encode("bob:s3cret"),
        });
        assert_eq!(read_json(&path), want);
        assert_eq!(
            password(&store, "localhost:5000"),
            Some(("bob".into(), "s3cret".into()))
        );

        // Logout removes every entry naming the registry, and nothing else.
        std::fs::write(
            &path,
            serde_json::to_vec(&serde_json::json!({
                "auths": {
                    "localhost:5000": {"auth": "eDp5"},
                    "http://localhost:5000/v2/": {"auth": "eDp5"},
                    "localhost:5001": {"auth": "eDp5"}
                },
                "psFormat": "x"
            }))
            .unwrap(),
        )
        .unwrap();
        store.erase("localhost:5000").unwrap();
        assert_eq!(
            read_json(&path),
            serde_json::json!({"auths": {"localhost:5001": {"auth": "eDp5"}}, "psFormat": "x"})
        );
        assert_eq!(password(&store, "localhost:5000"), None);
    }

    #[test]
    fn erase_without_a_file_creates_none_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let store = CredentialStore::new(&path);
        store.erase("docker.io").unwrap();
        assert!(!path.exists());

        std::fs::write(&path, "{not json").unwrap();
        let err = store.store("x.io", "u", "p").unwrap_err().to_string();
        assert!(err.contains("config.json") && err.contains("x.io"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{not json");
        std::fs::write(&path, r#"{"auths": []}"#).unwrap();
        let err = store.store("x.io", "u", "p").unwrap_err().to_string();
        assert!(err.contains("`auths`"), "{err}");
    }

    #[test]
    fn writes_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        std::fs::write(&real, "{}").unwrap();
        let link = dir.path().join("config.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        CredentialStore::new(&link).store("x.io", "u", "p").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(read_json(&real)["auths"]["x.io"]["auth"].is_string());
    }

    /// A real helper program that records each call (`action` line, then its stdin) and
    /// answers `get` from what it last stored.
    const RECORDING_HELPER: &str = r#"#!/bin/sh
dir=$(dirname "$0")
input=$(cat)
printf '%s\n%s\n' "$1" "$input" >> "$dir/calls.log"
case "$1" in
  store) printf '%s' "$input" > "$dir/stored.json" ;;
  get) [ -f "$dir/stored.json" ] && cat "$dir/stored.json" || { echo 'credentials not found in native keychain'; exit 1; } ;;
  erase) [ -f "$dir/stored.json" ] || { echo 'credentials not found in native keychain'; exit 1; }; rm "$dir/stored.json" ;;
  *) exit 2 ;;
esac
"#;

    fn helper(dir: &Path, name: &str) {
        install_script(
            &dir.join(format!("docker-credential-{name}")),
            RECORDING_HELPER,
        );
    }

    /// Writes an executable script through another process (`install`): an executable
    /// this multi-threaded test process had open for writing could be inherited by a child
    /// another test forks meanwhile, and running it would then fail with `ETXTBSY`.
    fn install_script(path: &Path, text: &str) {
        let source = path.with_extension("src");
        std::fs::write(&source, text).unwrap();
        let status = std::process::Command::new("install")
            .args(["-m", "0755"])
            .arg(&source)
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::remove_file(&source).unwrap();
    }

    fn calls(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default()
    }

    #[test]
    fn cred_helpers_and_creds_store_receive_the_login() {
        let bin = tempfile::tempdir().unwrap();
        let hub_bin = bin.path().join("hub");
        let default_bin = bin.path().join("default");
        std::fs::create_dir_all(&hub_bin).unwrap();
        std::fs::create_dir_all(&default_bin).unwrap();
        helper(&hub_bin, "hub");
        helper(&default_bin, "default");
        // The script needs `cat` and friends from the usual `PATH` too.
        let system = std::env::var_os("PATH").unwrap_or_default();
        let path_var = std::env::join_paths(
            [hub_bin.clone(), default_bin.clone()]
                .into_iter()
                .chain(std::env::split_paths(&system)),
        )
        .unwrap();

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"credHelpers": {"index.docker.io": "hub"}, "credsStore": "default",
                "auths": {"https://index.docker.io/v1/": {"auth": "b2xkOm9sZA=="}}}"#,
        )
        .unwrap();
        let store = CredentialStore::new(&path).with_helper_path(&path_var);

        // Docker Hub goes to its own helper, under Docker's key.
        let stored = store.store("docker.io", "alice", "hub-secret").unwrap();
        assert_eq!(stored, StoredIn::Helper("docker-credential-hub".into()));
        let sent: Value = serde_json::from_str(calls(&hub_bin).lines().nth(1).unwrap()).unwrap();
        assert_eq!(
            sent,
            serde_json::json!({"ServerURL": "https://index.docker.io/v1/", "Username": "alice", "Secret": "hub-secret"})
        );
        assert_eq!(calls(&hub_bin).lines().next(), Some("store"));
        // The file keeps an entry without any secret, as Docker leaves it.
        let json = read_json(&path);
        assert_eq!(
            json["auths"]["https://index.docker.io/v1/"],
            serde_json::json!({})
        );
        assert_eq!(json["credsStore"], "default");
        assert!(!std::fs::read_to_string(&path)
            .unwrap()
            .contains("hub-secret"));
        assert_eq!(
            password(&store, "docker.io"),
            Some(("alice".into(), "hub-secret".into()))
        );

        // Any other registry goes to `credsStore`.
        store.store("localhost:5000", "bob", "other").unwrap();
        assert!(calls(&default_bin).starts_with("store\n"));
        assert!(calls(&default_bin).contains(r#""ServerURL":"localhost:5000""#));
        assert_eq!(
            password(&store, "localhost:5000"),
            Some(("bob".into(), "other".into()))
        );

        // Erase hands the helper the server URL, and drops the file's entry.
        store.erase("docker.io").unwrap();
        let log = calls(&hub_bin);
        assert!(
            log.ends_with("erase\nhttps://index.docker.io/v1/\n"),
            "{log}"
        );
        assert!(read_json(&path)["auths"]
            .get("https://index.docker.io/v1/")
            .is_none());
        // Erasing again: the helper has nothing, which is fine.
        store.erase("docker.io").unwrap();
    }

    #[test]
    fn a_missing_or_failing_helper_is_a_clear_error_without_the_secret() {
        let bin = tempfile::tempdir().unwrap();
        install_script(
            &bin.path().join("docker-credential-echo"),
            "#!/bin/sh\ncat; echo ' refused' >&2; exit 4\n",
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"credsStore": "echo"}"#).unwrap();
        let system = std::env::var_os("PATH").unwrap_or_default();
        let path_var = std::env::join_paths(
            std::iter::once(bin.path().to_path_buf()).chain(std::env::split_paths(&system)),
        )
        .unwrap();
        let store = CredentialStore::new(&path).with_helper_path(&path_var);
        let err = store.store("x.io", "u", "top-secret").unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(
            text.contains("docker-credential-echo store") && !text.contains("top-secret"),
            "{text}"
        );
        // Nothing written to the file either.
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            r#"{"credsStore": "echo"}"#
        );

        std::fs::write(&path, r#"{"credsStore": "absent"}"#).unwrap();
        let err = store.store("x.io", "u", "p").unwrap_err().to_string();
        assert!(
            err.contains("docker-credential-absent") && err.contains("not found on PATH"),
            "{err}"
        );
    }

    #[test]
    fn default_path_follows_docker_config() {
        let env = |k: &str| match k {
            "DOCKER_CONFIG" => Some(OsString::from("/d")),
            "HOME" => Some(OsString::from("/home/u")),
            _ => None,
        };
        assert_eq!(
            docker_config_path(&env),
            Some(PathBuf::from("/d/config.json"))
        );
        let env = |k: &str| (k == "HOME").then(|| OsString::from("/home/u"));
        assert_eq!(
            docker_config_path(&env),
            Some(PathBuf::from("/home/u/.docker/config.json"))
        );
        assert_eq!(docker_config_path(&|_| None), None);
    }
}
