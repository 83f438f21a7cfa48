//! Online garbage collection: what it removes and keeps, dry runs, orphaned files, idle
//! uploads, and GC running while clients push and pull in a loop.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use wharf_registry::gc::{GcOptions, GcReport};

use crate::harness::*;

fn options(grace: u64, delete_untagged: bool, dry_run: bool) -> GcOptions {
    GcOptions {
        grace_period: Duration::from_secs(grace),
        upload_ttl: Duration::from_secs(grace),
        delete_untagged,
        dry_run,
    }
}

/// `sha256:<hex>` of every blob file under the registry's `blobs/`.
fn blob_files(h: &Harness) -> BTreeSet<String> {
    files(&h.root().join("blobs"))
        .into_iter()
        .map(|f| f.replacen('/', ":", 1))
        .collect()
}

/// The config and layer digests a manifest names.
fn named_blobs(manifest: &[u8]) -> Vec<String> {
    let m: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    let mut out = vec![m["config"]["digest"].as_str().unwrap().to_string()];
    for l in m["layers"].as_array().unwrap() {
        out.push(l["digest"].as_str().unwrap().to_string());
    }
    out
}

/// Timestamps are whole seconds: wait until everything so far is strictly older.
async fn age() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

async fn gc_removes_what_nothing_references_and_keeps_the_rest(h: Harness) {
    let (kept, kept_digest) = h.push_image("app", "v1", "kept").await;
    let (untagged, untagged_digest) = h.push_image("app", "v2", "replaced").await;
    let (current, _) = h.push_image("app", "v2", "current").await;
    // A referrer of the kept image, itself untagged: it lives as long as its subject.
    let referrer = h
        .image_manifest("app", "signature", Some((&kept_digest, kept.len())))
        .await;
    let referrer_digest = sha256(&referrer);
    h.send(
        "PUT",
        &format!("/v2/app/manifests/{referrer_digest}"),
        &[("content-type", OCI_MANIFEST)],
        &referrer,
    )
    .await
    .expect(201);
    let stray = h.push_blob("app", b"a blob no manifest names").await;
    let upload = h
        .send("POST", "/v2/app/blobs/uploads/", &[], b"")
        .await
        .expect(202)
        .header("location")
        .to_string();
    // A file the database never recorded (a crash between publishing and recording).
    let orphan = sha256(b"orphan");
    let orphan_path = h
        .root()
        .join("blobs/sha256")
        .join(orphan.trim_start_matches("sha256:"));
    std::fs::write(&orphan_path, b"orphan").unwrap();
    age().await;

    // A long grace period protects everything.
    let report = h
        .registry
        .collect_garbage(&options(3600, true, false))
        .await
        .unwrap();
    assert_eq!(report, GcReport::default());

    // A dry run counts and removes nothing.
    let before = blob_files(&h);
    let dry = h
        .registry
        .collect_garbage(&options(0, false, true))
        .await
        .unwrap();
    assert_eq!(
        (dry.blob_links, dry.blobs, dry.orphaned_files, dry.uploads),
        (1, 1, 1, 1)
    );
    assert_eq!(blob_files(&h), before);

    let report = h
        .registry
        .collect_garbage(&options(0, false, false))
        .await
        .unwrap();
    assert_eq!(
        report.manifests, 0,
        "untagged manifests stay without delete_untagged"
    );
    assert_eq!(
        (
            report.blob_links,
            report.blobs,
            report.orphaned_files,
            report.uploads
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(report.bytes, b"a blob no manifest names".len() as u64);
    h.head(&format!("/v2/app/blobs/{stray}")).await.expect(404);
    assert!(!orphan_path.exists());
    h.get(&upload).await.error(404, "BLOB_UPLOAD_UNKNOWN");
    h.get(&format!("/v2/app/manifests/{untagged_digest}"))
        .await
        .expect(200);

    // With delete_untagged the replaced image goes; the referrer of a tagged one stays.
    let report = h
        .registry
        .collect_garbage(&options(0, true, false))
        .await
        .unwrap();
    assert_eq!(report.manifests, 1);
    h.get(&format!("/v2/app/manifests/{untagged_digest}"))
        .await
        .error(404, "MANIFEST_UNKNOWN");
    h.get(&format!("/v2/app/manifests/{referrer_digest}"))
        .await
        .expect(200);
    for blob in named_blobs(&untagged) {
        h.head(&format!("/v2/app/blobs/{blob}")).await.expect(404);
    }
    let mut live = BTreeSet::new();
    for manifest in [&kept, &current, &referrer] {
        for blob in named_blobs(manifest) {
            h.get(&format!("/v2/app/blobs/{blob}")).await.expect(200);
            live.insert(blob);
        }
    }
    assert_eq!(
        blob_files(&h),
        live,
        "only referenced blobs remain as files"
    );

    // Deleting the subject's tag frees the subject, then its referrer.
    h.send("DELETE", "/v2/app/manifests/v1", &[], b"")
        .await
        .expect(202);
    age().await;
    let report = h
        .registry
        .collect_garbage(&options(0, true, false))
        .await
        .unwrap();
    assert_eq!(report.manifests, 2);
    h.get(&format!("/v2/app/manifests/{referrer_digest}"))
        .await
        .error(404, "MANIFEST_UNKNOWN");
}

/// Eight clients push (re-tagging `latest` each round, so older images become garbage) and
/// pull in a loop while GC runs continuously with a short grace period. No client may see
/// `BLOB_UNKNOWN` or `MANIFEST_BLOB_UNKNOWN` for content it pushed or was told exists; once
/// they stop, GC leaves exactly the blobs the last images name.
async fn gc_while_clients_push_and_pull(h: Harness) {
    let h = Arc::new(h);
    h.registry.set_gc_grace(Duration::from_secs(2));
    let stop_at = Instant::now() + Duration::from_secs(5);
    let base = b"a base layer every image shares".to_vec();

    let gc = {
        let h = h.clone();
        tokio::spawn(async move {
            let mut runs = 0;
            while Instant::now() < stop_at {
                h.registry
                    .collect_garbage(&options(2, true, false))
                    .await
                    .unwrap();
                runs += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            runs
        })
    };
    let mut clients = Vec::new();
    for client in 0..8 {
        let h = h.clone();
        let base = base.clone();
        clients.push(tokio::spawn(async move {
            let repo = format!("client{client}");
            let mut last = Vec::new();
            let mut round = 0;
            while Instant::now() < stop_at {
                round += 1;
                // The base layer: pushed only if the registry says it lacks it.
                let base_digest = sha256(&base);
                if h.head(&format!("/v2/{repo}/blobs/{base_digest}")).await.status == 404 {
                    h.push_blob(&repo, &base).await;
                }
                let config = format!("{{\"client\":{client},\"round\":{round}}}");
                let layer = format!("layer of client {client} round {round}").repeat(50);
                let config_digest = h.push_blob(&repo, config.as_bytes()).await;
                let layer_digest = h.push_blob(&repo, layer.as_bytes()).await;
                let manifest = serde_json::to_vec(&serde_json::json!({
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "digest": config_digest, "size": config.len()},
                    "layers": [
                        {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": base_digest, "size": base.len()},
                        {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()},
                    ],
                }))
                .unwrap();
                let r = h
                    .send(
                        "PUT",
                        &format!("/v2/{repo}/manifests/latest"),
                        &[("content-type", OCI_MANIFEST)],
                        &manifest,
                    )
                    .await;
                assert_eq!(r.status, 201, "client {client} round {round}: {}", String::from_utf8_lossy(&r.body));
                // Pull it back: manifest by tag, every blob.
                let r = h.get(&format!("/v2/{repo}/manifests/latest")).await.expect(200);
                for blob in named_blobs(&r.body) {
                    let r = h.get(&format!("/v2/{repo}/blobs/{blob}")).await;
                    assert_eq!(r.status, 200, "client {client} round {round}: blob {blob}");
                }
                last = manifest;
            }
            (repo, last)
        }));
    }
    let mut live = BTreeSet::new();
    let mut finals = Vec::new();
    for client in clients {
        let (repo, last) = client.await.unwrap();
        live.extend(named_blobs(&last));
        finals.push((repo, last));
    }
    let runs = gc.await.unwrap();
    assert!(runs > 3, "GC ran {runs} times");

    tokio::time::sleep(Duration::from_millis(3100)).await;
    h.registry
        .collect_garbage(&options(2, true, false))
        .await
        .unwrap();
    assert_eq!(blob_files(&h), live);
    for (repo, last) in finals {
        let r = h
            .get(&format!("/v2/{repo}/manifests/latest"))
            .await
            .expect(200);
        assert_eq!(r.body, last);
        for blob in named_blobs(&last) {
            h.get(&format!("/v2/{repo}/blobs/{blob}")).await.expect(200);
        }
    }
}

/// An upload whose PATCH body trickles in for longer than the upload TTL outlives GC runs
/// all along (its age moves with the bytes, not only when a chunk completes) and completes;
/// a session nothing is sent to is purged and then unknown to PATCH, PUT and GET.
async fn gc_keeps_uploads_that_receive_bytes_and_purges_idle_ones(h: Harness) {
    let h = Arc::new(h);
    let purge = GcOptions {
        grace_period: Duration::from_secs(3600),
        upload_ttl: Duration::ZERO,
        delete_untagged: false,
        dry_run: false,
    };
    let location = h
        .send("POST", "/v2/app/blobs/uploads/", &[], b"")
        .await
        .expect(202)
        .header("location")
        .to_string();
    // 12 pieces 250 ms apart: 3 s, so GC sees the session over several whole seconds.
    let pieces: Vec<Vec<u8>> = (0..12u8).map(|i| vec![i; 1024]).collect();
    let content = pieces.concat();
    let patch = {
        let app = h.app.clone();
        let uri = location.clone();
        let pieces = pieces.clone();
        tokio::spawn(async move {
            let body = futures_util::stream::iter(pieces).then(|piece| async move {
                tokio::time::sleep(Duration::from_millis(250)).await;
                Ok::<_, std::io::Error>(bytes::Bytes::from(piece))
            });
            let request = axum::http::Request::builder()
                .method("PATCH")
                .uri(uri)
                .header("content-type", "application/octet-stream")
                .body(axum::body::Body::from_stream(body))
                .unwrap();
            let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
            (
                response.status().as_u16(),
                response
                    .headers()
                    .get("range")
                    .map(|v| v.to_str().unwrap().to_string()),
            )
        })
    };
    let mut runs = 0;
    while !patch.is_finished() {
        let report = h.registry.collect_garbage(&purge).await.unwrap();
        assert_eq!(
            report.uploads, 0,
            "run {runs} purged the session being written"
        );
        runs += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(runs > 10, "GC ran {runs} times");
    let (status, range) = patch.await.unwrap();
    assert_eq!(status, 202);
    assert_eq!(range.as_deref(), Some("0-12287"));
    let digest = sha256(&content);
    h.send("PUT", &format!("{location}?digest={digest}"), &[], b"")
        .await
        .expect(201);
    let r = h.get(&format!("/v2/app/blobs/{digest}")).await.expect(200);
    assert_eq!(r.body, content);

    // A session nothing is sent to goes once it is older than the TTL.
    let idle = h
        .send("POST", "/v2/app/blobs/uploads/", &[], b"")
        .await
        .expect(202)
        .header("location")
        .to_string();
    age().await;
    let report = h.registry.collect_garbage(&purge).await.unwrap();
    assert_eq!(report.uploads, 1);
    h.get(&idle).await.error(404, "BLOB_UPLOAD_UNKNOWN");
    h.send("PATCH", &idle, &[], b"more")
        .await
        .error(404, "BLOB_UPLOAD_UNKNOWN");
    h.send("PUT", &format!("{idle}?digest={}", sha256(b"")), &[], b"")
        .await
        .error(404, "BLOB_UPLOAD_UNKNOWN");
}

/// A blob a HEAD or GET answered 200 for is kept for the serving registry's grace period,
/// even by a GC of another process (a replica on the same data, as `wharf registry gc` is)
/// with no grace at all; one nobody asked about goes, and so does the asked-about one once
/// its protection has passed.
async fn gc_keeps_blobs_a_client_was_just_told_exist(h: Harness) {
    h.registry.set_gc_grace(Duration::from_secs(2));
    let told = h.push_blob("app", b"a blob a client asked about").await;
    let untold = h.push_blob("app", b"a blob nobody asked about").await;
    h.head(&format!("/v2/app/blobs/{told}")).await.expect(200);
    age().await;

    let gc = h.replica().await;
    let dry = gc
        .registry
        .collect_garbage(&options(0, false, true))
        .await
        .unwrap();
    assert_eq!((dry.blob_links, dry.blobs), (1, 1));
    let report = gc
        .registry
        .collect_garbage(&options(0, false, false))
        .await
        .unwrap();
    assert_eq!((report.blob_links, report.blobs), (1, 1));
    h.head(&format!("/v2/app/blobs/{untold}")).await.expect(404);
    let r = h.get(&format!("/v2/app/blobs/{told}")).await.expect(200);
    assert_eq!(r.body, b"a blob a client asked about");
    assert_eq!(blob_files(&h), BTreeSet::from([told.clone()]));

    // Two seconds (and the rounding of whole seconds) after the last read, it is garbage.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let report = gc
        .registry
        .collect_garbage(&options(0, false, false))
        .await
        .unwrap();
    assert_eq!((report.blob_links, report.blobs), (1, 1));
    h.head(&format!("/v2/app/blobs/{told}")).await.expect(404);
    assert!(blob_files(&h).is_empty());
}

// Every test above runs on SQLite and on PostgreSQL (`sqlite::NAME`, `postgres::NAME`).
backends!(
    gc_removes_what_nothing_references_and_keeps_the_rest,
    gc_keeps_blobs_a_client_was_just_told_exist,
    ; multi_thread:
    gc_while_clients_push_and_pull,
    gc_keeps_uploads_that_receive_bytes_and_purges_idle_ones,
);
