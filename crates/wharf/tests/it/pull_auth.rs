//! `wharf login` + `wharf pull` through the binary against real CNCF distribution
//! registries: htpasswd Basic auth, and `auth: token` (Bearer tokens from the test kit's
//! issuer, checked by the real registry). No password or token may ever be printed.

use std::sync::Arc;

use base64::Engine as _;
use wharf_client::{Client, Credential, StaticCredentials};
use wharf_testkit::fixtures::{config, push_image, random_image, reference, Image};
use wharf_testkit::registry::{self, Auth, Registry};
use wharf_testkit::registry_or_skip;
use wharf_testkit::token::{TokenIssuer, ISSUER, SERVICE};

use crate::pull::{block_on, Env};

const USER: &str = "pull-alice";
const PASSWORD: &str = "pull-secret-Zq8vK2";
const WRONG: &str = "wrong-secret-Hx41";

/// Everything a run printed must be free of secrets: the passwords, the Basic
/// `user:password` encoding, and any JWT (their base64 header starts `eyJ`).
fn assert_no_secret(stdout: &str, stderr: &str) {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    for text in [stdout, stderr] {
        for secret in [PASSWORD, WRONG, basic.as_str(), "eyJ"] {
            assert!(
                !text.contains(secret),
                "`{secret}` appears in the output:\n{text}"
            );
        }
    }
}

fn seeding_client(host: &str) -> Client {
    let mut seeding = config();
    seeding.credentials = Arc::new(StaticCredentials::one(
        host,
        Credential::basic(USER, PASSWORD),
    ));
    Client::new(seeding).unwrap()
}

/// Refused without credentials and with wrong ones (nothing stored, a clear error naming
/// the registry), then `login` and a pull that works; nothing secret printed anywhere.
fn login_then_pull(registry: &Registry, repo: &str, img: &Image) {
    let host = registry.host.as_str();
    let name = format!("{host}/{repo}");
    let env = Env::new();

    // Anonymous: refused; nothing stored.
    let (ok, stdout, stderr) = env.run(&["pull", &name], "");
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains("unauthorized") && stderr.contains(&format!("`{host}`")),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("wharf login {host}")), "{stderr}");
    assert_no_secret(&stdout, &stderr);
    assert!(env.w.blob_files().is_empty());

    // Wrong password: `login` refuses and stores nothing.
    let (ok, stdout, stderr) = env.run(
        &["login", host, "-u", USER, "--password-stdin"],
        &format!("{WRONG}\n"),
    );
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains("unauthorized") && stderr.contains(&format!("`{host}`")),
        "{stderr}"
    );
    assert_no_secret(&stdout, &stderr);
    assert!(!env.w.path("docker/config.json").exists());

    // Wrong credentials stored by hand (as a stale login would be): the pull is refused,
    // saying access was denied to them (logging in is not the remedy: the user did), and
    // nothing of the image is stored.
    std::fs::create_dir_all(env.w.path("docker")).unwrap();
    let stale = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{WRONG}"));
    std::fs::write(
        env.w.path("docker/config.json"),
        serde_json::json!({"auths": {host: {"auth": stale}}}).to_string(),
    )
    .unwrap();
    let (ok, stdout, stderr) = env.run(&["pull", &name], "");
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains("access denied: registry") && stderr.contains(&format!("`{host}`")),
        "{stderr}"
    );
    assert!(!stderr.contains("unauthorized"), "{stderr}");
    assert!(!stderr.contains("wharf login"), "{stderr}");
    assert_no_secret(&stdout, &stderr);
    assert!(!stderr.contains(&stale), "{stderr}");
    assert!(env.w.blob_files().is_empty());
    assert_eq!(env.ok(&["images", "-q"]), "");
    // A bare `login` tries the stored credentials first; refused, with no terminal to ask
    // on, it fails naming where they are stored.
    let (ok, stdout, stderr) = env.run(&["login", host], "");
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains(&format!(
            "Authenticating with existing credentials... [Username: {USER}]"
        )) && stderr.contains("were refused")
            && stderr.contains("config.json"),
        "{stdout}\n{stderr}"
    );
    assert_no_secret(&stdout, &stderr);
    std::fs::remove_file(env.w.path("docker/config.json")).unwrap();

    // The right password: login, then pull with the stored credentials.
    let (ok, stdout, stderr) = env.run(
        &["login", host, "-u", USER, "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert_eq!(stdout, "Login Succeeded\n");
    assert_no_secret(&stdout, &stderr);
    // Logged in: a bare `login` checks the stored credentials and asks for nothing.
    let (ok, stdout, stderr) = env.run(&["login", host], "");
    assert!(ok, "{stdout}\n{stderr}");
    assert_eq!(
        stdout,
        format!(
            "Authenticating with existing credentials... [Username: {USER}]\nLogin Succeeded\n"
        )
    );
    assert_no_secret(&stdout, &stderr);
    let (ok, stdout, stderr) = env.run(&["pull", &name], "");
    assert!(ok, "{stdout}\n{stderr}\nregistry log:\n{}", registry.log());
    assert!(
        stdout.contains(&format!("Digest: {}", img.manifest.digest()))
            && stdout.contains(&format!("Status: Downloaded newer image for {name}")),
        "{stdout}"
    );
    assert_no_secret(&stdout, &stderr);
    let (ok, stdout, stderr) = env.run(&["pull", &name], "");
    assert!(ok && stdout.contains("Image is up to date"), "{stdout}");
    assert_no_secret(&stdout, &stderr);
    let (ok, stdout, stderr) = env.run(&["fsck"], "");
    assert!(ok, "{stdout}\n{stderr}");
}

#[test]
fn login_and_pull_with_htpasswd_basic_auth() {
    let registry = registry_or_skip!(Auth::Htpasswd {
        user: USER.into(),
        password: PASSWORD.into(),
    });
    let img = random_image("linux/amd64", &[3000, 70_000], 51);
    let host = registry.host.clone();
    block_on(push_image(
        &seeding_client(&host),
        &reference(&host, "private/app:v1"),
        &img,
    ));
    login_then_pull(&registry, "private/app:v1", &img);
}

#[test]
fn login_and_pull_with_bearer_tokens() {
    if registry::binary().is_none() {
        return;
    }
    // The issuer is served by this runtime's workers while the binary runs.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let issuer = runtime.block_on(TokenIssuer::start(USER, PASSWORD, 300, "token"));
    let registry = Registry::start(Auth::Token {
        realm: issuer.realm(),
        service: SERVICE.into(),
        issuer: ISSUER.into(),
        root_cert_pem: issuer.cert_pem.clone(),
    })
    .unwrap();
    let img = random_image("linux/amd64", &[4000, 60_000], 52);
    let host = registry.host.clone();
    runtime.block_on(push_image(
        &seeding_client(&host),
        &reference(&host, "secure/app:v1"),
        &img,
    ));
    let before = issuer.issued();
    login_then_pull(&registry, "secure/app:v1", &img);
    // The registry really demanded tokens of the binary, and the issuer gave them.
    assert!(issuer.issued() > before);
    let asked_for_pull = issuer
        .server
        .requests()
        .iter()
        .any(|r| r.query("scope") == ["repository:secure/app:pull"]);
    assert!(asked_for_pull);
}

/// `--ca-cert FILE` reaches the client of every registry command: a file that is missing
/// or holds no certificate is an error naming it; a real PEM is trusted and the command
/// works. (Whether a private CA makes HTTPS verify is the client's TLS test.)
#[test]
fn ca_cert_flag_reaches_every_registry_command() {
    let registry = registry_or_skip!(Auth::None);
    let img = random_image("linux/amd64", &[1000], 53);
    let host = registry.host.clone();
    let name = format!("{host}/app:v1");
    block_on(push_image(
        &Client::new(config()).unwrap(),
        &reference(&host, "app:v1"),
        &img,
    ));
    let env = Env::new();
    let pem = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(TokenIssuer::start(USER, PASSWORD, 300, "token"))
        .cert_pem;
    let ca = env.w.write("ca.pem", pem.as_bytes());
    let ca = ca.to_str().unwrap();
    let empty = env.w.write("empty.pem", b"not a certificate\n");
    let empty = empty.to_str().unwrap();
    let missing = env.w.path("missing.pem");
    let missing = missing.to_str().unwrap();
    let repo = format!("{host}/app");
    let commands: Vec<Vec<&str>> = vec![
        vec!["pull", &name],
        vec!["manifest", "inspect", &name],
        vec!["image", "inspect", "--remote", &name],
        vec!["tags", &repo],
    ];
    for command in &commands {
        for bad in [missing, empty] {
            let mut args = command.clone();
            args.extend(["--ca-cert", bad]);
            let err = env.fails(&args);
            assert!(err.contains(bad), "{args:?}: {err}");
        }
        let mut args = command.clone();
        args.extend(["--ca-cert", ca]);
        env.ok(&args);
    }
    let (ok, _, stderr) = env.run(
        &[
            "login",
            &host,
            "-u",
            USER,
            "--password-stdin",
            "--ca-cert",
            missing,
        ],
        "pw\n",
    );
    assert!(!ok && stderr.contains(missing), "{stderr}");
}

/// HTTPS with a certificate from a private CA, through the binary: refused (naming the
/// certificate problem, with a hint) until `--ca-cert` names the CA, then the pull verifies
/// the chain and works. The registry's host name is pinned to 127.0.0.1 with the config
/// file's `[resolve]`, because loopback names are not verified (as in Docker).
#[test]
fn ca_cert_makes_a_private_ca_trusted() {
    let pki = wharf_testkit::pki::private_ca();
    let ca_pem = pki.ca_pem.clone();
    let Some(registry) = Registry::start_with(Auth::None, Some(pki.tls)) else {
        return;
    };
    let host = format!("{}:{}", wharf_testkit::pki::TLS_HOST, registry.port);
    let env = Env::new();
    let ca = env.w.write("ca.pem", ca_pem.as_bytes());
    let config_file = format!(
        "[resolve]\n\"{}\" = \"127.0.0.1\"\n",
        wharf_testkit::pki::TLS_HOST
    );
    std::fs::create_dir_all(env.w.path("config/wharf")).unwrap();
    env.w
        .write("config/wharf/config.toml", config_file.as_bytes());

    let mut seeding = config();
    seeding.resolve = [(
        wharf_testkit::pki::TLS_HOST.to_string(),
        ([127, 0, 0, 1], 0).into(),
    )]
    .into();
    seeding.ca_certs = vec![ca.clone()];
    let img = random_image("linux/amd64", &[1500], 54);
    block_on(push_image(
        &Client::new(seeding).unwrap(),
        &reference(&host, "secure/app:v1"),
        &img,
    ));
    let name = format!("{host}/secure/app:v1");

    let err = env.fails(&["pull", &name]);
    assert!(
        err.contains(&host) && err.contains("certificate") && err.contains("ca-cert"),
        "{err}"
    );
    assert!(env.w.blob_files().is_empty());

    let out = env.ok(&["pull", &name, "--ca-cert", ca.to_str().unwrap()]);
    assert!(out.contains(&img.manifest.digest().to_string()), "{out}");
    env.ok(&["inspect", &name]);
}
