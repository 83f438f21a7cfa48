//! What `wharf login`/`logout` do, at the library level, against real registries: check the
//! credentials with `ping`, store them with `CredentialStore`, and find them again through
//! `AuthFile` exactly as a later command (or Docker) would.

use std::path::Path;
use std::sync::Arc;

use wharf_client::{
    AuthFile, Client, ClientError, Credential, CredentialStore, StaticCredentials, StoredIn,
};

use crate::support::fixtures::{config, push_image, random_image, reference};
use crate::support::registry::{Auth, Registry};
use crate::support::token::{TokenIssuer, ISSUER, SERVICE};

const USER: &str = "alice";
const PASSWORD: &str = "login-test-password";

fn with_credentials(registry: &str, password: &str) -> Client {
    let mut config = config();
    config.credentials = Arc::new(StaticCredentials::one(
        registry,
        Credential::basic(USER, password),
    ));
    Client::new(config).unwrap()
}

fn from_file(store: &CredentialStore, helper_path: Option<&std::ffi::OsStr>) -> Client {
    let mut file = AuthFile::new(store.path());
    if let Some(p) = helper_path {
        file = file.with_helper_path(p);
    }
    let mut config = config();
    config.credentials = Arc::new(file);
    Client::new(config).unwrap()
}

/// Login, use, logout, for one registry and one place to store.
async fn round_trip(
    registry: &Registry,
    store: &CredentialStore,
    helper_path: Option<&std::ffi::OsStr>,
) {
    let host = &registry.host;
    let tagged = reference(host, "private/app:v1");
    let img = random_image("linux/amd64", &[300], 21);
    push_image(&with_credentials(host, PASSWORD), &tagged, &img).await;

    // Wrong credentials fail the check (and so are never stored by the CLI).
    let err = with_credentials(host, "wrong")
        .ping(host)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains(host.as_str()), "{err}");

    with_credentials(host, PASSWORD).ping(host).await.unwrap();
    store.store(host, USER, PASSWORD).unwrap();
    let resolved = from_file(store, helper_path)
        .resolve(&tagged)
        .await
        .unwrap();
    assert_eq!(resolved.manifest.bytes(), img.manifest.bytes());

    store.erase(host).unwrap();
    let err = from_file(store, helper_path)
        .resolve(&tagged)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Unauthorized { .. }), "{err}");
}

#[tokio::test]
async fn login_to_htpasswd_registry_stores_in_the_file() {
    let registry = registry_or_skip!(Auth::Htpasswd {
        user: USER.into(),
        password: PASSWORD.into(),
    });
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::new(dir.path().join("config.json"));
    round_trip(&registry, &store, None).await;
    // Logout left a valid file without the registry.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.path()).unwrap()).unwrap();
    assert_eq!(json["auths"], serde_json::json!({}));
}

/// A credential helper that keeps one credential in a file beside itself.
const HELPER: &str = r#"#!/bin/sh
dir=$(dirname "$0")
case "$1" in
  store) cat > "$dir/stored.json" ;;
  get) cat > /dev/null; if [ -f "$dir/stored.json" ]; then cat "$dir/stored.json"; else echo 'credentials not found in native keychain'; exit 1; fi ;;
  erase) cat > /dev/null; rm -f "$dir/stored.json" ;;
  *) exit 2 ;;
esac
"#;

fn install_helper(dir: &Path) -> std::ffi::OsString {
    // Written by another process (`install`): an executable this multi-threaded test
    // process held open for writing could leak into a concurrently forked child, and
    // running it would fail with `ETXTBSY`.
    let source = dir.join("helper.src");
    std::fs::write(&source, HELPER).unwrap();
    let status = std::process::Command::new("install")
        .args(["-m", "0755"])
        .arg(&source)
        .arg(dir.join("docker-credential-filekeeper"))
        .status()
        .unwrap();
    assert!(status.success());
    let system = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&system)))
        .unwrap()
}

#[tokio::test]
async fn login_to_token_registry_stores_through_a_credential_helper() {
    if crate::support::registry::binary().is_none() {
        return;
    }
    let issuer = TokenIssuer::start(USER, PASSWORD, 300, "token").await;
    let registry = registry_or_skip!(Auth::Token {
        realm: issuer.realm(),
        service: SERVICE.into(),
        issuer: ISSUER.into(),
        root_cert_pem: issuer.cert_pem.clone(),
    });
    let bin = tempfile::tempdir().unwrap();
    let helper_path = install_helper(bin.path());
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("config.json");
    std::fs::write(&config_path, r#"{"credsStore": "filekeeper"}"#).unwrap();
    let store = CredentialStore::new(&config_path).with_helper_path(&helper_path);

    // Stored by the helper: the file never sees the password.
    let stored = store.store("example.invalid", USER, "x").unwrap();
    assert_eq!(
        stored,
        StoredIn::Helper("docker-credential-filekeeper".into())
    );
    round_trip(&registry, &store, Some(&helper_path)).await;
    assert!(!std::fs::read_to_string(&config_path)
        .unwrap()
        .contains(PASSWORD));
    assert!(!bin.path().join("stored.json").exists());
}
