//! Failures a real registry does not produce on request, from a fake server: overload,
//! redirects to object storage, ignored ranges, cut connections, lying digests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use wharf_client::{Client, ClientError, ClientEvent, Credential, EventHandler, StaticCredentials};
use wharf_spec::{media_type, Descriptor, Digest, RawManifest};

use crate::support::fake::{FakeServer, Reply};
use crate::support::fixtures::{config, data, random_image, reference};

/// A client whose events are collected.
fn observed_client(
    tweak: impl FnOnce(&mut wharf_client::ClientConfig),
) -> (Client, Arc<Mutex<Vec<ClientEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let mut config = config();
    config.events = Some(EventHandler::new(move |e| {
        sink.lock().unwrap().push(e.clone())
    }));
    tweak(&mut config);
    (Client::new(config).unwrap(), events)
}

fn manifest_reply(manifest: &RawManifest) -> Reply {
    manifest_reply_claiming(manifest, manifest.digest().to_string())
}

fn manifest_reply_claiming(manifest: &RawManifest, digest: String) -> Reply {
    Reply::new(200)
        .header("Content-Type", manifest.media_type())
        .header("Docker-Content-Digest", digest)
        .body(manifest.bytes().to_vec())
}

#[tokio::test]
async fn overload_is_retried_honouring_retry_after() {
    let img = random_image("linux/amd64", &[10], 30);
    let manifest = img.manifest.clone();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let server = FakeServer::start("127.0.0.1", move |req| {
        if !req.path().contains("/manifests/") {
            return Reply::new(200);
        }
        match seen.fetch_add(1, Ordering::SeqCst) {
            0 => Reply::new(503),
            1 => Reply::new(429).header("Retry-After", "1"),
            _ => manifest_reply(&manifest),
        }
    })
    .await;
    let (client, events) = observed_client(|_| {});
    let started = std::time::Instant::now();
    let resolved = client
        .resolve(&reference(&server.host(), "busy:v1"))
        .await
        .unwrap();
    assert_eq!(resolved.manifest.bytes(), img.manifest.bytes());
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(started.elapsed() >= Duration::from_secs(1));
    let retries: Vec<(u32, Duration, String)> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Retrying {
                attempt,
                delay,
                reason,
                ..
            } => Some((*attempt, *delay, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(retries.len(), 2, "{retries:?}");
    assert!(retries[0].2.contains("503"), "{retries:?}");
    assert_eq!(retries[1].0, 2);
    assert_eq!(retries[1].1, Duration::from_secs(1), "Retry-After honoured");
}

#[tokio::test]
async fn retries_are_bounded() {
    let server = FakeServer::start("127.0.0.1", |req| {
        if req.path().contains("/manifests/") {
            Reply::new(500)
                .header("Content-Type", "application/json")
                .body(r#"{"errors":[{"code":"UNKNOWN","message":"storage on fire"}]}"#)
        } else {
            Reply::new(200)
        }
    })
    .await;
    let err = crate::support::fixtures::client()
        .resolve(&reference(&server.host(), "broken:v1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Registry { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("storage on fire"), "{err}");
    let manifest_requests = server
        .requests()
        .iter()
        .filter(|r| r.path().contains("/manifests/"))
        .count();
    assert_eq!(manifest_requests, 3, "max_attempts");

    // Nobody listening: a connection error naming the registry, after the same retries.
    let err = crate::support::fixtures::client()
        .resolve(&reference(crate::support::DEAD_HOST, "gone:v1"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains(crate::support::DEAD_HOST), "{err}");
}

#[tokio::test]
async fn redirects_to_another_host_carry_no_credentials() {
    let blob = data(50_000, 31);
    let digest = Digest::sha256_of(&blob);
    let storage_blob = blob.clone();
    let storage = FakeServer::start("127.0.0.2", move |req| {
        if req.path() == "/bucket/good" {
            Reply::new(200).body(storage_blob.clone())
        } else {
            Reply::new(403).body("<Error>SignatureDoesNotMatch</Error>")
        }
    })
    .await;
    let storage_host = storage.host();
    let expected = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "bob:pw")
    );
    let registry = FakeServer::start("127.0.0.1", move |req| {
        if req.header("authorization") != Some(expected.as_str()) {
            return Reply::new(401).header("WWW-Authenticate", r#"Basic realm="fake""#);
        }
        if req.path().ends_with(
            "/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ) {
            return Reply::new(307).header(
                "Location",
                format!("http://{storage_host}/bucket/bad?X-Amz-Signature=topsecret"),
            );
        }
        if req.path().contains("/blobs/") {
            return Reply::new(307).header(
                "Location",
                format!("http://{storage_host}/bucket/good?X-Amz-Signature=topsecret"),
            );
        }
        Reply::new(200)
    })
    .await;
    let mut config = config();
    config.credentials = Arc::new(StaticCredentials::one(
        registry.host(),
        Credential::basic("bob", "pw"),
    ));
    let client = Client::new(config).unwrap();
    let repo = reference(&registry.host(), "redirected");
    let descriptor = Descriptor::new(media_type::OCI_LAYER_TAR, digest.clone(), blob.len() as u64);
    let mut stream = client
        .fetch_blob_verified(&repo, &descriptor)
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Some(chunk) = stream.next().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(got, blob);
    let to_storage = storage.requests();
    assert!(!to_storage.is_empty());
    for r in &to_storage {
        assert_eq!(
            r.header("authorization"),
            None,
            "credentials leaked to {r:?}"
        );
    }
    assert!(registry
        .requests()
        .iter()
        .any(|r| r.header("authorization").is_some()));

    // A failing storage URL: the error names the registry and the blob, never the signature.
    let zero = Digest::parse(&format!("sha256:{}", "0".repeat(64))).unwrap();
    let err = client
        .fetch_blob(
            &repo,
            &Descriptor::new(media_type::OCI_LAYER_TAR, zero, 5),
            0,
        )
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains("topsecret") && !text.contains("pw\""),
        "{text}"
    );
    assert!(matches!(err, ClientError::Denied { .. }), "{err:?}");
}

/// Serves `blob` at any `/blobs/` path, with `respond` deciding how for each request.
async fn blob_server(
    blob: Vec<u8>,
    respond: impl Fn(usize, Option<u64>, &[u8]) -> Reply + Send + Sync + 'static,
) -> FakeServer {
    let count = AtomicUsize::new(0);
    FakeServer::start("127.0.0.1", move |req| {
        if !req.path().contains("/blobs/") {
            return Reply::new(200);
        }
        let from = req
            .header("range")
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|r| r.parse().ok());
        respond(count.fetch_add(1, Ordering::SeqCst), from, &blob)
    })
    .await
}

fn partial(blob: &[u8], from: u64) -> Reply {
    Reply::new(206)
        .header(
            "Content-Range",
            format!("bytes {from}-{}/{}", blob.len() - 1, blob.len()),
        )
        .body(blob[from as usize..].to_vec())
}

async fn fetch_all(
    client: &Client,
    host: &str,
    blob: &[u8],
    offset: u64,
) -> Result<Vec<u8>, ClientError> {
    let descriptor = Descriptor::new(
        media_type::OCI_LAYER_TAR,
        Digest::sha256_of(blob),
        blob.len() as u64,
    );
    let mut stream = client
        .fetch_blob(&reference(host, "faulty"), &descriptor, offset)
        .await?;
    let mut got = Vec::new();
    while let Some(chunk) = stream.next().await {
        got.extend_from_slice(&chunk?);
    }
    Ok(got)
}

#[tokio::test]
async fn a_server_that_ignores_range_has_the_prefix_skipped() {
    let blob = data(300_000, 32);
    let server = blob_server(blob.clone(), |_, _, b| Reply::new(200).body(b.to_vec())).await;
    let got = fetch_all(
        &crate::support::fixtures::client(),
        &server.host(),
        &blob,
        123_457,
    )
    .await
    .unwrap();
    assert_eq!(got, blob[123_457..]);
}

#[tokio::test]
async fn a_cut_connection_resumes_with_range() {
    let blob = data(400_000, 33);
    // The first answer breaks off after 100 000 bytes, the second after 250 000 more.
    let server = blob_server(blob.clone(), |n, from, b| match (n, from) {
        (0, None) => Reply::new(200).body(b.to_vec()).cut_after(100_000),
        (1, Some(from)) => partial(b, from).cut_after(250_000),
        (_, Some(from)) => partial(b, from),
        (_, None) => Reply::new(200).body(b.to_vec()),
    })
    .await;
    let (client, events) = observed_client(|_| {});
    let got = fetch_all(&client, &server.host(), &blob, 0).await.unwrap();
    assert_eq!(Digest::sha256_of(&got), Digest::sha256_of(&blob));
    let resumed: Vec<u64> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Resuming { offset, .. } => Some(*offset),
            _ => None,
        })
        .collect();
    assert_eq!(resumed, [100_000, 350_000]);
    let ranges: Vec<Option<String>> = server
        .requests()
        .iter()
        .filter(|r| r.path().contains("/blobs/"))
        .map(|r| r.header("range").map(str::to_string))
        .collect();
    assert_eq!(
        ranges,
        [
            None,
            Some("bytes=100000-".into()),
            Some("bytes=350000-".into())
        ]
    );

    // A connection that keeps breaking without progress gives up, saying where.
    let server = blob_server(blob.clone(), |_, _, b| {
        Reply::new(200).body(b.to_vec()).cut_after(0)
    })
    .await;
    let (client, _) = observed_client(|c| c.max_resumes = 2);
    let err = fetch_all(&client, &server.host(), &blob, 0)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Interrupted { offset: 0, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn corrupted_bytes_fail_verification() {
    let blob = data(10_000, 34);
    let mut corrupt = blob.clone();
    corrupt[5000] ^= 0xff;
    let server = blob_server(corrupt, |_, _, b| Reply::new(200).body(b.to_vec())).await;
    let client = crate::support::fixtures::client();
    let descriptor = Descriptor::new(
        media_type::OCI_LAYER_TAR,
        Digest::sha256_of(&blob),
        blob.len() as u64,
    );
    let mut stream = client
        .fetch_blob_verified(&reference(&server.host(), "faulty"), &descriptor)
        .await
        .unwrap();
    let mut last = None;
    while let Some(item) = stream.next().await {
        last = Some(item);
    }
    let err = last.unwrap().unwrap_err();
    assert!(matches!(err, ClientError::DigestMismatch { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&descriptor.digest.to_string()),
        "{err}"
    );

    // More bytes than the descriptor says: stopped at the boundary.
    let server = blob_server(data(20_000, 35), |_, _, b| Reply::new(200).body(b.to_vec())).await;
    let err = fetch_all(&client, &server.host(), &blob, 0)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::SizeMismatch { .. }), "{err:?}");
}

#[tokio::test]
async fn manifests_that_do_not_check_out_are_refused() {
    let img = random_image("linux/amd64", &[10], 36);
    let other = random_image("linux/amd64", &[10], 37);
    let good = img.manifest.clone();
    let lying = other.manifest.digest().to_string();
    let schema1 = br#"{"schemaVersion":1,"name":"x","tag":"v1","architecture":"amd64","fsLayers":[],"history":[]}"#;
    let server = FakeServer::start("127.0.0.1", move |req| {
        let path = req.path();
        if path.ends_with("/manifests/lying") {
            manifest_reply_claiming(&good, lying.clone())
        } else if path.contains("/manifests/sha256:") {
            // Whatever digest is asked for, serve the same bytes.
            manifest_reply(&good)
        } else if path.ends_with("/manifests/old") {
            Reply::new(200)
                .header(
                    "Content-Type",
                    "application/vnd.docker.distribution.manifest.v1+prettyjws",
                )
                .body(schema1.to_vec())
        } else if path.ends_with("/manifests/huge") {
            Reply::new(200)
                .header("Content-Type", media_type::OCI_MANIFEST)
                .body(vec![b' '; 5 << 20])
        } else {
            Reply::new(200)
        }
    })
    .await;
    let client = crate::support::fixtures::client();
    let host = server.host();

    // `Docker-Content-Digest` names other bytes than those served.
    let err = client
        .resolve(&reference(&host, "app:lying"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::DigestMismatch { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&other.manifest.digest().to_string()),
        "{err}"
    );

    // Pinned by digest, served other bytes (and a header that agrees with the bytes).
    let pinned = reference(&host, &format!("app@{}", other.manifest.digest()));
    let err = client.resolve(&pinned).await.unwrap_err();
    assert!(matches!(err, ClientError::DigestMismatch { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&other.manifest.digest().to_string()) && text.contains(&host),
        "{text}"
    );

    let err = client
        .resolve(&reference(&host, "app:old"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("schema1") && text.contains("app:old"),
        "{text}"
    );
    assert!(err.hint().is_some());

    let err = client
        .resolve(&reference(&host, "app:huge"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::ManifestTooLarge { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("app:huge"), "{err}");
}
