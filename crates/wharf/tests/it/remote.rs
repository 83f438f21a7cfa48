//! `wharf login/logout`, `wharf manifest inspect`, `wharf image inspect --remote` and
//! `wharf tags` against a real CNCF distribution registry started on 127.0.0.1.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value;
use wharf_client::{Client, Credential, StaticCredentials};
use wharf_testkit::fixtures::{
    config, index, push_image, push_index, random_image, reference, Image,
};
use wharf_testkit::registry::{Auth, Registry};
use wharf_testkit::registry_or_skip;

use crate::pull::{block_on, Env};

const USER: &str = "alice";
const PASSWORD: &str = "cli-login-secret";

#[test]
fn login_checks_stores_and_logout_removes() {
    let registry = registry_or_skip!(Auth::Htpasswd {
        user: USER.into(),
        password: PASSWORD.into(),
    });
    let host = registry.host.as_str();
    let mut seeding = config();
    seeding.credentials = Arc::new(StaticCredentials::one(
        host,
        Credential::basic(USER, PASSWORD),
    ));
    let seeding = Client::new(seeding).unwrap();
    let img = random_image("linux/amd64", &[200], 31);
    block_on(push_image(
        &seeding,
        &reference(host, "private/app:v1"),
        &img,
    ));
    let env = Env::new();
    let repo = format!("{host}/private/app");

    // Not logged in: the registry refuses, and the hint says what to do.
    let err = env.fails(&["tags", &repo]);
    assert!(err.contains("unauthorized") && err.contains(host), "{err}");

    // Wrong password: a clear error naming the registry, nothing stored, no secret shown.
    let (ok, stdout, stderr) = env.run(
        &["login", host, "-u", USER, "--password-stdin"],
        "wrong-password\n",
    );
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains("unauthorized") && stderr.contains(&format!("`{host}`")),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong-password") && !stdout.contains("wrong-password"));
    assert!(!env.docker_config().exists());

    // No password and no terminal to ask on.
    let err = env.fails(&["login", host, "-u", USER]);
    assert!(err.contains("--password-stdin"), "{err}");
    let err = env.fails(&["login", host, "--password-stdin"]);
    assert!(err.contains("--username"), "{err}");

    // The right password: checked, stored where Docker keeps it, owner-only.
    let (ok, stdout, stderr) = env.run(
        &["login", host, "-u", USER, "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert_eq!(stdout, "Login Succeeded\n");
    assert!(stderr.contains("stored unencrypted"), "{stderr}");
    assert!(!stderr.contains(PASSWORD) && !stdout.contains(PASSWORD));
    let json: Value = serde_json::from_slice(&std::fs::read(env.docker_config()).unwrap()).unwrap();
    assert_eq!(
        json["auths"][host]["auth"],
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    assert_eq!(
        std::fs::metadata(env.docker_config())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    // Later commands use the stored login.
    assert_eq!(env.ok(&["tags", &repo]), "v1\n");
    let raw = env.ok(&["manifest", "inspect", "--raw", &format!("{repo}:v1")]);
    assert_eq!(raw.as_bytes(), img.manifest.bytes());

    // `-p` works, with Docker's warning.
    let (ok, stdout, stderr) = env.run(&["login", host, "-u", USER, "-p", PASSWORD], "");
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "Login Succeeded\n");
    assert!(
        stderr.contains("Using --password via the CLI is insecure"),
        "{stderr}"
    );

    // Logout removes it; the registry refuses again.
    assert_eq!(
        env.ok(&["logout", host]),
        format!("Removing login credentials for {host}\n")
    );
    let json: Value = serde_json::from_slice(&std::fs::read(env.docker_config()).unwrap()).unwrap();
    assert!(json["auths"].get(host).is_none(), "{json}");
    let err = env.fails(&["tags", &repo]);
    assert!(err.contains("unauthorized"), "{err}");
    // Once more: nothing is stored, which Docker says, and is no failure.
    assert_eq!(
        env.ok(&["logout", host]),
        format!("Not logged in to {host}\n")
    );

    // Docker Hub is the default, under Docker's key.
    assert_eq!(
        env.ok(&["logout"]),
        "Not logged in to https://index.docker.io/v1/\n"
    );
}

/// A registry holding `multi:1` (an index of amd64 and arm64) and `single:{1,2,3}`.
struct Seeded {
    registry: Registry,
    amd64: Image,
    arm64: Image,
    index_digest: String,
}

fn seeded() -> Option<Seeded> {
    let registry = Registry::start(Auth::None)?;
    let client = Client::new(config()).unwrap();
    let amd64 = random_image("linux/amd64", &[1000, 2000], 41);
    let arm64 = random_image("linux/arm64/v8", &[1500], 42);
    let host = registry.host.clone();
    let index = block_on(async {
        let index = push_index(
            &client,
            &reference(&host, "multi:1"),
            &index(&[("linux/amd64", &amd64), ("linux/arm64/v8", &arm64)]),
        )
        .await;
        for tag in ["1", "2", "3"] {
            push_image(&client, &reference(&host, &format!("single:{tag}")), &amd64).await;
        }
        index
    });
    Some(Seeded {
        registry,
        amd64,
        arm64,
        index_digest: index.digest.to_string(),
    })
}

#[test]
fn manifest_inspect_prints_the_registry_document() {
    let Some(s) = seeded() else { return };
    let host = &s.registry.host;
    let env = Env::new();
    let multi = format!("{host}/multi:1");

    let pretty = env.ok(&["manifest", "inspect", &multi]);
    let mut settings = env.w.settings();
    settings.add_filter(r"sha256:[0-9a-f]{64}", "sha256:[DIGEST]");
    settings.bind(|| insta::assert_snapshot!(pretty));
    let raw = env.ok(&["manifest", "inspect", "--raw", &multi]);
    let raw_value: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&pretty).unwrap(), raw_value);
    assert_eq!(
        format!("sha256:{}", sha256_hex(raw.as_bytes())),
        s.index_digest
    );

    // `--platform` picks the manifest out of the index; by digest works too.
    let arm = env.ok(&[
        "manifest",
        "inspect",
        "--raw",
        "--platform",
        "linux/arm64",
        &multi,
    ]);
    assert_eq!(arm.as_bytes(), s.arm64.manifest.bytes());
    let by_digest = format!("{host}/multi@{}", s.arm64.manifest.digest());
    assert_eq!(
        env.ok(&["manifest", "inspect", "--raw", &by_digest])
            .as_bytes(),
        s.arm64.manifest.bytes()
    );
    let err = env.fails(&["manifest", "inspect", "--platform", "linux/s390x", &multi]);
    assert!(
        err.contains("linux/s390x") && err.contains("linux/amd64") && err.contains("linux/arm64"),
        "{err}"
    );
    let err = env.fails(&["manifest", "inspect", &format!("{host}/multi:nope")]);
    assert!(err.contains("not found"), "{err}");
    // Nothing was pulled into the store.
    assert!(!env.w.root().join("index.json").exists() || env.w.blob_files().is_empty());
}

#[test]
fn image_inspect_remote_and_tags() {
    let Some(s) = seeded() else { return };
    let host = &s.registry.host;
    let env = Env::new();
    let multi = format!("{host}/multi:1");

    let out = env.ok(&[
        "image",
        "inspect",
        "--remote",
        "--platform",
        "linux/arm64",
        &multi,
    ]);
    let docs: Value = serde_json::from_str(&out).unwrap();
    let doc = &docs[0];
    assert_eq!(doc["Id"], s.arm64.config_descriptor().digest.to_string());
    assert_eq!(doc["RepoTags"], serde_json::json!([multi]));
    assert_eq!(
        doc["RepoDigests"],
        serde_json::json!([format!("{host}/multi@{}", s.index_digest)])
    );
    assert_eq!(
        (
            doc["Os"].as_str(),
            doc["Architecture"].as_str(),
            doc["Variant"].as_str()
        ),
        (Some("linux"), Some("arm64"), Some("v8"))
    );
    assert_eq!(doc["Size"], 1500);
    assert_eq!(doc["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert_eq!(doc["Config"]["Env"], serde_json::json!(["SEED=42"]));
    assert_eq!(doc["Descriptor"]["digest"], s.index_digest.as_str());

    // The top-level `inspect` takes `--remote` too; several images in one array.
    let single = format!("{host}/single:2");
    let out = env.ok(&[
        "inspect",
        "--remote",
        "--platform",
        "linux/amd64",
        &multi,
        &single,
    ]);
    let docs: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(docs.as_array().unwrap().len(), 2);
    for doc in docs.as_array().unwrap() {
        assert_eq!(doc["Id"], s.amd64.config_descriptor().digest.to_string());
        assert_eq!(doc["Size"], 3000);
    }

    // One bad name: the others are still printed, and the command fails.
    let (ok, stdout, stderr) = env.run(
        &[
            "image",
            "inspect",
            "--remote",
            &single,
            &format!("{host}/absent:1"),
        ],
        "",
    );
    assert!(!ok);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(stderr.contains("absent"), "{stderr}");

    // Tags, one per line.
    let tags = env.ok(&["tags", &format!("{host}/single")]);
    let mut tags: Vec<&str> = tags.lines().collect();
    tags.sort();
    assert_eq!(tags, ["1", "2", "3"]);
    let err = env.fails(&["tags", &single]);
    assert!(err.contains("not a repository"), "{err}");
    assert!(!env.w.root().join("index.json").exists() || env.w.blob_files().is_empty());
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
