//! The distribution spec v1.1 details: push by digest with several `?tag=`,
//! `OCI-Chunk-Min-Length`, `Accept` negotiation, the referrers API.

use crate::harness::*;

async fn put_by_digest_with_several_tags(h: Harness) {
    let manifest = h.image_manifest("app", "tagged", None).await;
    let digest = sha256(&manifest);
    let r = h
        .send(
            "PUT",
            &format!("/v2/app/manifests/{digest}?tag=one&tag=two&tag=three"),
            &[("content-type", OCI_MANIFEST)],
            &manifest,
        )
        .await
        .expect(201);
    let tags: Vec<&str> = r
        .headers
        .get_all("oci-tag")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(tags, ["one", "two", "three"]);
    for tag in ["one", "two", "three"] {
        let r = h.get(&format!("/v2/app/manifests/{tag}")).await.expect(200);
        assert_eq!(r.body, manifest);
    }
    let r = h.get("/v2/app/tags/list").await.expect(200);
    assert_eq!(r.json()["tags"], serde_json::json!(["one", "three", "two"]));
    // A bad tag refuses the whole push.
    let other = h.image_manifest("app", "other", None).await;
    h.send(
        "PUT",
        &format!("/v2/app/manifests/{}?tag=ok&tag=-bad", sha256(&other)),
        &[("content-type", OCI_MANIFEST)],
        &other,
    )
    .await
    .error(400, "MANIFEST_INVALID");
    h.get("/v2/app/manifests/ok")
        .await
        .error(404, "MANIFEST_UNKNOWN");
}

async fn upload_sessions_advertise_a_chunk_length(h: Harness) {
    let r = h
        .send("POST", "/v2/repo/blobs/uploads/", &[], b"")
        .await
        .expect(202);
    let min: u64 = r.header("oci-chunk-min-length").parse().unwrap();
    assert!(min > 0);
    // Smaller chunks are still accepted.
    let location = r.header("location").to_string();
    h.send("PATCH", &location, &[("content-range", "0-2")], b"abc")
        .await
        .expect(202);
}

async fn accept_negotiation_serves_the_stored_type_or_nothing(h: Harness) {
    let (manifest, digest) = h.push_image("app", "v1", "negotiated").await;
    let get = |accept: &'static str| {
        let h = &h;
        async move {
            h.send("GET", "/v2/app/manifests/v1", &[("accept", accept)], b"")
                .await
        }
    };
    // Listed (among others, with parameters), wildcards, or no Accept at all: served as is.
    let r = get("application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json;q=0.5")
        .await
        .expect(200);
    assert_eq!(r.header("content-type"), OCI_MANIFEST);
    assert_eq!(r.body, manifest);
    get("*/*").await.expect(200);
    h.get("/v2/app/manifests/v1").await.expect(200);
    // Excluded: no conversion, MANIFEST_UNKNOWN (as distribution answers).
    let r = get("application/vnd.docker.distribution.manifest.v2+json")
        .await
        .error(404, "MANIFEST_UNKNOWN");
    assert!(String::from_utf8_lossy(&r.body).contains(OCI_MANIFEST));
    h.send(
        "HEAD",
        "/v2/app/manifests/v1",
        &[(
            "accept",
            "application/vnd.docker.distribution.manifest.list.v2+json",
        )],
        b"",
    )
    .await
    .expect(404);
    // By digest the bytes are fixed: they are what is served.
    h.send(
        "GET",
        &format!("/v2/app/manifests/{digest}"),
        &[(
            "accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )],
        b"",
    )
    .await
    .expect(200);
}

fn artifact_json(subject: (&str, usize), artifact_type: &str, blob: (&str, usize)) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                   "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": blob.0, "size": blob.1}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject.0, "size": subject.1},
        "annotations": {"org.example.kind": artifact_type},
    }))
    .unwrap()
}

async fn referrers_list_manifests_by_subject_with_a_filter(h: Harness) {
    let (manifest, digest) = h.push_image("app", "v1", "subject").await;
    h.push_blob("app", b"{}").await;
    let sig = h.push_blob("app", b"a signature").await;
    let sbom = h.push_blob("app", b"an sbom").await;
    let mut pushed = Vec::new();
    for (kind, blob, len) in [
        ("application/vnd.example.signature", &sig, 11),
        ("application/vnd.example.sbom", &sbom, 7),
    ] {
        let artifact = artifact_json((&digest, manifest.len()), kind, (blob, len));
        let artifact_digest = sha256(&artifact);
        let r = h
            .send(
                "PUT",
                &format!("/v2/app/manifests/{artifact_digest}"),
                &[("content-type", OCI_MANIFEST)],
                &artifact,
            )
            .await
            .expect(201);
        assert_eq!(r.header("oci-subject"), digest);
        // Fetching a referrer names its subject too.
        let r = h
            .head(&format!("/v2/app/manifests/{artifact_digest}"))
            .await
            .expect(200);
        assert_eq!(r.header("oci-subject"), digest);
        pushed.push((kind, artifact_digest, artifact.len()));
    }

    let r = h
        .get(&format!("/v2/app/referrers/{digest}"))
        .await
        .expect(200);
    assert_eq!(r.header("content-type"), OCI_INDEX);
    assert!(!r.has_header("oci-filters-applied"));
    let index = r.json();
    assert_eq!(index["mediaType"], OCI_INDEX);
    let listed = index["manifests"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    for (kind, artifact_digest, size) in &pushed {
        let entry = listed
            .iter()
            .find(|m| m["digest"] == artifact_digest.as_str())
            .unwrap();
        assert_eq!(entry["artifactType"], *kind);
        assert_eq!(entry["size"], *size);
        assert_eq!(entry["mediaType"], OCI_MANIFEST);
        assert_eq!(entry["annotations"]["org.example.kind"], *kind);
    }

    let r = h
        .get(&format!(
            "/v2/app/referrers/{digest}?artifactType=application/vnd.example.sbom"
        ))
        .await
        .expect(200);
    assert_eq!(r.header("oci-filters-applied"), "artifactType");
    let listed = r.json()["manifests"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["digest"], pushed[1].1.as_str());

    // Unknown digests and repositories: an empty index, never 404.
    for uri in [
        format!("/v2/app/referrers/{}", sha256(b"nothing")),
        format!("/v2/ghost/referrers/{digest}"),
    ] {
        let r = h.get(&uri).await.expect(200);
        assert_eq!(r.json()["manifests"], serde_json::json!([]));
    }
    h.get("/v2/app/referrers/sha256:nothex")
        .await
        .error(400, "DIGEST_INVALID");
}

async fn metrics_count_requests_bytes_uploads_and_storage(h: Harness) {
    h.push_image("app", "v1", "measured").await;
    h.get("/v2/app/manifests/v1").await.expect(200);
    h.get("/v2/app/manifests/nope").await.expect(404);
    h.send("POST", "/v2/app/blobs/uploads/", &[], b"")
        .await
        .expect(202);
    let r = h.get("/metrics").await.expect(200);
    assert!(r.header("content-type").starts_with("text/plain"));
    let text = String::from_utf8(r.body).unwrap();
    for line in [
        "wharf_http_requests_total{route=\"manifest\",method=\"GET\",status=\"200\"} 1",
        "wharf_http_requests_total{route=\"manifest\",method=\"GET\",status=\"404\"} 1",
        "wharf_http_requests_total{route=\"manifest\",method=\"PUT\",status=\"201\"} 1",
        "wharf_http_requests_total{route=\"uploads\",method=\"POST\",status=\"202\"} 1",
        "wharf_http_request_duration_seconds_count{route=\"manifest\"} 3",
        "wharf_uploads_in_progress 1",
    ] {
        assert!(text.contains(line), "no `{line}` in\n{text}");
    }
    let value = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(value("wharf_storage_bytes") > 1000);
    assert!(value("wharf_http_request_bytes_total") > 1000);
    assert!(value("wharf_http_response_bytes_total") > 0);
    // No repository name appears.
    assert!(!text.contains("app"), "{text}");
}

// Every test above runs on SQLite and on PostgreSQL (`sqlite::NAME`, `postgres::NAME`).
backends!(
    put_by_digest_with_several_tags,
    upload_sessions_advertise_a_chunk_length,
    accept_negotiation_serves_the_stored_type_or_nothing,
    referrers_list_manifests_by_subject_with_a_filter,
    metrics_count_requests_bytes_uploads_and_storage,
);
