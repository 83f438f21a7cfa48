//! One manifest may name at most `MAX_MANIFEST_REFERENCES` (10,000) blobs and manifests;
//! a maximal one is stored, on both databases, without stalling other pushes for long.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::*;

const MAX: usize = wharf_registry::service::MAX_MANIFEST_REFERENCES;

/// `n` distinct small blobs in `name`, pushed a few at a time: (digest, size).
async fn seed_blobs(h: &Harness, name: &str, n: usize) -> Vec<(String, usize)> {
    let app = Arc::new(h.app.clone());
    let mut tasks = tokio::task::JoinSet::new();
    let workers = 8;
    for w in 0..workers {
        let app = app.clone();
        let name = name.to_string();
        tasks.spawn(async move {
            let mut out = Vec::new();
            for i in (w..n).step_by(workers) {
                let bytes = format!("blob {i} of {name}").into_bytes();
                let digest = sha256(&bytes);
                send_to(
                    &app,
                    "POST",
                    &format!("/v2/{name}/blobs/uploads/?digest={digest}"),
                    &[],
                    &bytes,
                )
                .await
                .expect(201);
                out.push((i, digest, bytes.len()));
            }
            out
        });
    }
    let mut all = Vec::new();
    while let Some(part) = tasks.join_next().await {
        all.extend(part.unwrap());
    }
    all.sort();
    all.into_iter().map(|(_, d, s)| (d, s)).collect()
}

/// An image manifest with config `config` and `layers` layers cycling through `pool`.
fn manifest_naming(
    config: &(String, usize),
    pool: &[(String, usize)],
    layers: usize,
    subject: Option<&(String, usize)>,
) -> Vec<u8> {
    let layers: Vec<_> = pool
        .iter()
        .cycle()
        .take(layers)
        .map(|(d, s)| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s}))
        .collect();
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.0, "size": config.1},
        "layers": layers,
    });
    if let Some((digest, size)) = subject {
        m["subject"] =
            serde_json::json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": size});
    }
    serde_json::to_vec(&m).unwrap()
}

fn index_naming(pool: &[(String, usize)], entries: usize) -> Vec<u8> {
    let manifests: Vec<_> = pool
        .iter()
        .cycle()
        .take(entries)
        .map(|(d, s)| serde_json::json!({"mediaType": OCI_MANIFEST, "digest": d, "size": s}))
        .collect();
    serde_json::to_vec(
        &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}),
    )
    .unwrap()
}

fn message(reply: &Reply) -> String {
    reply.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The cap counts every reference (config, layers and subject; an index's entries) and is
/// checked before anything is looked up or written; a manifest at the cap is stored. The
/// pool is larger than one batch of the batched reads and writes.
async fn references_per_manifest_are_capped(h: Harness) {
    let pool = seed_blobs(&h, "app", 600).await;
    let config = &pool[0];
    let over = [
        (manifest_naming(config, &pool, MAX, None), OCI_MANIFEST),
        (
            manifest_naming(config, &pool, MAX - 1, Some(&pool[1])),
            OCI_MANIFEST,
        ),
        (index_naming(&pool, MAX + 1), OCI_INDEX),
    ];
    for (body, content_type) in &over {
        // In a repository that holds none of it: the cap is what answers, and nothing is
        // written (not even the repository).
        for name in ["fresh", "app"] {
            let r = send_to(
                &h.app,
                "PUT",
                &format!("/v2/{name}/manifests/big"),
                &[("content-type", content_type)],
                body,
            )
            .await
            .error(400, "MANIFEST_INVALID");
            let text = message(&r);
            assert!(
                text.contains(&format!("names {} ", MAX + 1))
                    && text.contains(&format!("at most {MAX}")),
                "{text}"
            );
        }
    }
    h.get("/v2/fresh/tags/list")
        .await
        .error(404, "NAME_UNKNOWN");
    h.get("/v2/app/manifests/big")
        .await
        .error(404, "MANIFEST_UNKNOWN");

    // A blob missing past the first batch is named.
    let absent = (sha256(b"absent"), 6);
    let mut named = pool[1..].to_vec();
    named.push(absent.clone());
    let r = put(
        &h.app,
        "/v2/app/manifests/big",
        &manifest_naming(config, &named, named.len(), None),
    )
    .await
    .error(400, "MANIFEST_BLOB_UNKNOWN");
    assert!(message(&r).contains(&absent.0), "{}", message(&r));

    // At the cap: stored, and served as the exact bytes.
    let maximal = manifest_naming(config, &pool[1..], MAX - 1, None);
    let r = put(&h.app, "/v2/app/manifests/big", &maximal)
        .await
        .expect(201);
    let digest = r.header("docker-content-digest").to_string();
    assert_eq!(
        h.get("/v2/app/manifests/big").await.expect(200).body,
        maximal
    );
    let index = index_naming(&[(digest, maximal.len())], MAX);
    send_to(
        &h.app,
        "PUT",
        "/v2/app/manifests/index",
        &[("content-type", OCI_INDEX)],
        &index,
    )
    .await
    .expect(201);
    assert_eq!(
        h.get("/v2/app/manifests/index").await.expect(200).body,
        index
    );
}

backends!(references_per_manifest_are_capped);

/// An image manifest whose config is `blobs[0]` and whose layers are the rest.
fn big_manifest(blobs: &[(String, usize)], note: &str) -> Vec<u8> {
    let layers: Vec<_> = blobs[1..]
        .iter()
        .map(|(d, s)| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blobs[0].0, "size": blobs[0].1},
        "layers": layers,
        "annotations": {"note": note},
    }))
    .unwrap()
}

async fn put(app: &axum::Router, uri: &str, body: &[u8]) -> Reply {
    send_to(app, "PUT", uri, &[("content-type", OCI_MANIFEST)], body).await
}

/// Prints: the time of one maximal PUT, and small PUTs' latencies while 4 maximal ones run.
async fn measure(h: Harness) {
    let seeding = Instant::now();
    let blobs = seed_blobs(&h, "big", MAX).await;
    eprintln!("seeded {MAX} blobs in {:?}", seeding.elapsed());
    let started = Instant::now();
    put(
        &h.app,
        "/v2/big/manifests/alone",
        &big_manifest(&blobs, "alone"),
    )
    .await
    .expect(201);
    let alone = started.elapsed();

    let small = h.image_manifest("big", "small", None).await;
    let mut big = tokio::task::JoinSet::new();
    for i in 0..4 {
        let app = h.app.clone();
        let body = big_manifest(&blobs, &format!("parallel {i}"));
        big.spawn(async move {
            let started = Instant::now();
            put(&app, &format!("/v2/big/manifests/p{i}"), &body)
                .await
                .expect(201);
            started.elapsed()
        });
    }
    let mut latencies = Vec::new();
    let mut parallel = Vec::new();
    while !big.is_empty() {
        let started = Instant::now();
        put(&h.app, "/v2/big/manifests/small", &small)
            .await
            .expect(201);
        latencies.push(started.elapsed());
        while let Some(done) = big.try_join_next() {
            parallel.push(done.unwrap());
        }
    }
    latencies.sort();
    let pct = |p: usize| latencies[(latencies.len() - 1) * p / 100];
    eprintln!(
        "{:?}: one {MAX}-reference PUT {:?}; during 4 in parallel ({:?} max), {} small PUTs: p50 {:?}, p99 {:?}, max {:?}",
        h.database.as_ref().map_or("sqlite", |_| "postgres"),
        alone,
        parallel.iter().max().unwrap_or(&Duration::ZERO),
        latencies.len(),
        pct(50),
        pct(99),
        latencies.last().unwrap(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn measure_big_manifests_sqlite() {
    measure(Harness::on(Db::Sqlite).await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn measure_big_manifests_postgres() {
    if let Some(h) = Harness::on(Db::Postgres).await {
        measure(h).await
    }
}
