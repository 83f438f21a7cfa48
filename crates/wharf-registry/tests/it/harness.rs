use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use axum::Router;
use sha2::{Digest as _, Sha256, Sha512};
use tower::ServiceExt;
use wharf_registry::storage::Backend;
use wharf_registry::Registry;

/// The address a harness behind auth says it listens on (no socket is bound: requests go
/// straight to the router), from which the token realm is derived.
pub const LISTENING: &str = "127.0.0.1:5000";

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub app: Router,
    pub registry: Arc<Registry>,
    /// The PostgreSQL URL of the metadata; `None`: SQLite in the root.
    pub database: Option<String>,
}

/// Where a harness keeps its metadata.
#[derive(Debug, Clone, Copy)]
pub enum Db {
    Sqlite,
    /// A fresh database in the test process's private PostgreSQL server.
    Postgres,
}

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("no `{name}` header in {:?}", self.headers))
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.headers.contains_key(name)
    }

    /// The first OCI error code of an error reply.
    pub fn code(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)));
        v["errors"][0]["code"].as_str().unwrap().to_string()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    #[track_caller]
    pub fn error(self, status: u16, code: &str) -> Self {
        let reply = self.expect(status);
        assert_eq!(reply.code(), code);
        reply
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

pub fn sha512(bytes: &[u8]) -> String {
    format!("sha512:{:x}", Sha512::digest(bytes))
}

impl Harness {
    pub async fn new() -> Harness {
        Harness::on(Db::Sqlite).await.unwrap()
    }

    /// A registry with its metadata in `db`; `None` when PostgreSQL is not installed (the
    /// caller skips; the reason is printed).
    pub async fn on(db: Db) -> Option<Harness> {
        let database = match db {
            Db::Sqlite => None,
            Db::Postgres => Some(wharf_testkit::postgres::Postgres::shared()?.new_database()),
        };
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("registry");
        let (app, registry) = Self::open(&root, database.as_deref()).await;
        // The backend is the one asked for: PostgreSQL leaves no SQLite file behind.
        assert_eq!(root.join("registry.db").exists(), database.is_none());
        Some(Harness {
            dir,
            app,
            registry,
            database,
        })
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("registry")
    }

    pub async fn open(root: &Path, database: Option<&str>) -> (Router, Arc<Registry>) {
        let backend = Backend::from_setting(database, root).unwrap();
        let registry = Arc::new(Registry::open_with(root, &backend).await.unwrap());
        (wharf_registry::router(registry.clone()), registry)
    }

    /// A registry behind auth: `config` is TOML whose paths are relative to the temp dir,
    /// where an htpasswd file holding `users` (bcrypt, cheapest cost) is written first.
    pub async fn with_auth(config: &str, users: &[(&str, &str)]) -> Harness {
        Harness::with_auth_at_cost(config, users, 4).await
    }

    /// [`Harness::with_auth`] with password hashes of bcrypt cost `cost`.
    pub async fn with_auth_at_cost(config: &str, users: &[(&str, &str)], cost: u32) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let lines: Vec<String> = users
            .iter()
            .map(|(u, p)| format!("{u}:{}", bcrypt::hash(p, cost).unwrap()))
            .collect();
        std::fs::write(dir.path().join("htpasswd"), lines.join("\n")).unwrap();
        let config_path = dir.path().join("registry.toml");
        std::fs::write(&config_path, config).unwrap();
        let config = wharf_registry::Config::load(&config_path).unwrap();
        let auth = wharf_registry::auth::Auth::from_config(config.auth.as_ref().unwrap()).unwrap();
        let registry = Arc::new(Registry::open(&dir.path().join("registry")).await.unwrap());
        let app = wharf_registry::router_with(
            registry.clone(),
            wharf_registry::Gate::new(Some(auth), false, LISTENING.parse().unwrap()).unwrap(),
        );
        Harness {
            dir,
            app,
            registry,
            database: None,
        }
    }

    /// A second registry on the same root and database, beside this one (a replica).
    pub async fn replica(&self) -> Harness {
        let (app, registry) = Self::open(&self.root(), self.database.as_deref()).await;
        Harness {
            // Its own temp dir only keeps the struct whole; `root()` is not used on it.
            dir: tempfile::tempdir().unwrap(),
            app,
            registry,
            database: self.database.clone(),
        }
    }

    /// Drops the server state and opens the same directory (and database) again, as a
    /// restart does.
    pub async fn restart(&mut self) {
        self.app = Router::new();
        (self.app, self.registry) = Self::open(&self.root(), self.database.as_deref()).await;
    }

    pub async fn send(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        send_to(&self.app, method, uri, headers, body).await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.send("GET", uri, &[], b"").await
    }

    pub async fn head(&self, uri: &str) -> Reply {
        self.send("HEAD", uri, &[], b"").await
    }

    /// Monolithic upload; returns the digest.
    pub async fn push_blob(&self, name: &str, bytes: &[u8]) -> String {
        self.push_blob_as(name, bytes, &[]).await
    }

    pub async fn push_blob_as(&self, name: &str, bytes: &[u8], headers: &[(&str, &str)]) -> String {
        let digest = sha256(bytes);
        self.send(
            "POST",
            &format!("/v2/{name}/blobs/uploads/?digest={digest}"),
            headers,
            bytes,
        )
        .await
        .expect(201);
        digest
    }

    /// Pushes a config and one layer, then an image manifest naming them; returns the
    /// manifest's bytes and digest.
    pub async fn push_image(&self, name: &str, tag: &str, seed: &str) -> (Vec<u8>, String) {
        self.push_image_as(name, tag, seed, &[]).await
    }

    pub async fn push_image_as(
        &self,
        name: &str,
        tag: &str,
        seed: &str,
        headers: &[(&str, &str)],
    ) -> (Vec<u8>, String) {
        let manifest = self.image_manifest_as(name, seed, None, headers).await;
        let digest = sha256(&manifest);
        let mut all = vec![("content-type", OCI_MANIFEST)];
        all.extend_from_slice(headers);
        self.send(
            "PUT",
            &format!("/v2/{name}/manifests/{tag}"),
            &all,
            &manifest,
        )
        .await
        .expect(201);
        (manifest, digest)
    }

    pub async fn image_manifest(
        &self,
        name: &str,
        seed: &str,
        subject: Option<(&str, usize)>,
    ) -> Vec<u8> {
        self.image_manifest_as(name, seed, subject, &[]).await
    }

    pub async fn image_manifest_as(
        &self,
        name: &str,
        seed: &str,
        subject: Option<(&str, usize)>,
        headers: &[(&str, &str)],
    ) -> Vec<u8> {
        let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"{seed}\"}}");
        let layer = format!("layer bytes of {seed}").repeat(100);
        let config_digest = self.push_blob_as(name, config.as_bytes(), headers).await;
        let layer_digest = self.push_blob_as(name, layer.as_bytes(), headers).await;
        manifest_json(
            (&config_digest, config.len()),
            (&layer_digest, layer.len()),
            subject,
        )
    }
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

pub fn manifest_json(
    config: (&str, usize),
    layer: (&str, usize),
    subject: Option<(&str, usize)>,
) -> Vec<u8> {
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.0, "size": config.1},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer.0, "size": layer.1}],
    });
    if let Some((digest, size)) = subject {
        m["subject"] =
            serde_json::json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": size});
    }
    // Pretty-printed on purpose: the registry must keep these exact bytes.
    serde_json::to_vec_pretty(&m).unwrap()
}

pub fn index_json(children: &[(&str, usize)]) -> Vec<u8> {
    let manifests: Vec<_> = children
        .iter()
        .map(|(d, s)| {
            serde_json::json!({"mediaType": OCI_MANIFEST, "digest": d, "size": s,
            "platform": {"architecture": "amd64", "os": "linux"}})
        })
        .collect();
    serde_json::to_vec(
        &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}),
    )
    .unwrap()
}

/// Files under `dir`, recursively, relative.
pub fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// One request through `app` (for a task that cannot borrow a [`Harness`]).
pub async fn send_to(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Body::from(body.to_vec())).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}
