use futures_util::StreamExt;

use crate::harness::*;

async fn base_and_health(h: Harness) {
    let r = h.get("/v2/").await.expect(200);
    assert_eq!(r.header("docker-distribution-api-version"), "registry/2.0");
    h.head("/v2/").await.expect(200);
    h.get("/healthz").await.expect(200);
    let r = h.get("/v2/nothing-here").await.error(404, "UNSUPPORTED");
    assert_eq!(r.header("docker-distribution-api-version"), "registry/2.0");
}

async fn monolithic_upload_then_head_get_and_ranges(h: Harness) {
    let blob: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let digest = sha256(&blob);
    let r = h
        .send(
            "POST",
            &format!("/v2/a/b/blobs/uploads/?digest={digest}"),
            &[],
            &blob,
        )
        .await
        .expect(201);
    assert_eq!(r.header("location"), format!("/v2/a/b/blobs/{digest}"));
    assert_eq!(r.header("docker-content-digest"), digest);

    let r = h.head(&format!("/v2/a/b/blobs/{digest}")).await.expect(200);
    assert_eq!(r.header("content-length"), "100000");
    assert_eq!(r.header("content-type"), "application/octet-stream");
    assert_eq!(r.header("accept-ranges"), "bytes");
    assert_eq!(r.header("docker-content-digest"), digest);
    assert!(r.body.is_empty());

    let r = h.get(&format!("/v2/a/b/blobs/{digest}")).await.expect(200);
    assert_eq!(r.body, blob);

    let uri = format!("/v2/a/b/blobs/{digest}");
    let r = h
        .send("GET", &uri, &[("range", "bytes=10-19")], b"")
        .await
        .expect(206);
    assert_eq!(r.header("content-range"), "bytes 10-19/100000");
    assert_eq!(r.header("content-length"), "10");
    assert_eq!(r.body, &blob[10..20]);
    let r = h
        .send("GET", &uri, &[("range", "bytes=99990-")], b"")
        .await
        .expect(206);
    assert_eq!(r.body, &blob[99990..]);
    let r = h
        .send("GET", &uri, &[("range", "bytes=100000-")], b"")
        .await
        .error(416, "RANGE_INVALID");
    assert_eq!(r.header("content-range"), "bytes */100000");

    // Blobs are per repository: another repository does not see it.
    h.get(&format!("/v2/other/blobs/{digest}"))
        .await
        .error(404, "BLOB_UNKNOWN");
    assert_eq!(
        h.head(&format!("/v2/other/blobs/{digest}")).await.status,
        404
    );

    // sha512 digests work too.
    let d512 = sha512(b"sha512 content");
    h.send(
        "POST",
        &format!("/v2/a/b/blobs/uploads/?digest={d512}"),
        &[],
        b"sha512 content",
    )
    .await
    .expect(201);
    assert_eq!(
        h.get(&format!("/v2/a/b/blobs/{d512}"))
            .await
            .expect(200)
            .body,
        b"sha512 content"
    );
}

async fn chunked_upload_with_content_range(h: Harness) {
    let r = h
        .send("POST", "/v2/repo/blobs/uploads/", &[], b"")
        .await
        .expect(202);
    let location = r.header("location").to_string();
    let uuid = r.header("docker-upload-uuid").to_string();
    assert_eq!(location, format!("/v2/repo/blobs/uploads/{uuid}"));
    assert_eq!(r.header("range"), "0-0");

    let r = h
        .send(
            "PATCH",
            &location,
            &[
                ("content-range", "0-4"),
                ("content-type", "application/octet-stream"),
            ],
            b"hello",
        )
        .await
        .expect(202);
    assert_eq!(r.header("range"), "0-4");
    assert_eq!(r.header("location"), location);

    // Out of order, and a repeated chunk: 416, nothing changes.
    let r = h
        .send("PATCH", &location, &[("content-range", "10-14")], b"xxxxx")
        .await
        .error(416, "RANGE_INVALID");
    assert_eq!(r.header("range"), "0-4");
    h.send("PATCH", &location, &[("content-range", "0-4")], b"hello")
        .await
        .error(416, "RANGE_INVALID");
    // A chunk whose body disagrees with its Content-Range is refused and cut back.
    h.send("PATCH", &location, &[("content-range", "5-9")], b"abc")
        .await
        .error(400, "SIZE_INVALID");

    let r = h.get(&location).await.expect(204);
    assert_eq!(r.header("range"), "0-4");
    assert_eq!(r.header("docker-upload-uuid"), uuid);

    // A streamed chunk (no Content-Range) continues it.
    h.send("PATCH", &location, &[], b", world")
        .await
        .expect(202);
    let digest = sha256(b"hello, world");
    let r = h
        .send("PUT", &format!("{location}?digest={digest}"), &[], b"!")
        .await
        .error(400, "DIGEST_INVALID");
    drop(r);
    // The mismatch dropped the session and stored nothing.
    h.get(&location).await.error(404, "BLOB_UPLOAD_UNKNOWN");
    h.head(&format!("/v2/repo/blobs/{}", sha256(b"hello, world!")))
        .await
        .expect(404);
    assert!(files(&h.root().join("uploads")).is_empty());
    assert!(files(&h.root().join("blobs")).is_empty());

    // Again, finished right.
    let r = h
        .send("POST", "/v2/repo/blobs/uploads/", &[], b"")
        .await
        .expect(202);
    let location = r.header("location").to_string();
    h.send("PATCH", &location, &[], b"hello, ")
        .await
        .expect(202);
    let r = h
        .send(
            "PUT",
            &format!("{location}?digest={digest}"),
            &[("content-range", "7-11")],
            b"world",
        )
        .await
        .expect(201);
    assert_eq!(r.header("docker-content-digest"), digest);
    assert_eq!(r.header("location"), format!("/v2/repo/blobs/{digest}"));
    assert_eq!(
        h.get(&format!("/v2/repo/blobs/{digest}"))
            .await
            .expect(200)
            .body,
        b"hello, world"
    );
    assert!(files(&h.root().join("uploads")).is_empty());
}

/// A chunk whose `Content-Range` and `Content-Length` disagree is answered from its headers:
/// over a real connection the client gets its 400 without sending a byte of the (claimed
/// 1 GiB) body, and the session stays as it was. Both for `PATCH` and for a closing `PUT`.
async fn a_chunk_whose_range_disagrees_with_its_length_is_refused_before_its_body(h: Harness) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = h.app.clone();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let r = h
        .send("POST", "/v2/repo/blobs/uploads/", &[], b"")
        .await
        .expect(202);
    let location = r.header("location").to_string();
    let uuid = r.header("docker-upload-uuid").to_string();
    h.send("PATCH", &location, &[("content-range", "0-4")], b"hello")
        .await
        .expect(202);
    let digest = sha256(b"hello");
    for target in [location.clone(), format!("{location}?digest={digest}")] {
        let method = if target.contains('?') { "PUT" } else { "PATCH" };
        let (status, body) = headers_only(
            addr,
            &format!(
                "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Range: 5-104\r\n\
                 Content-Length: 1073741824\r\nContent-Type: application/octet-stream\r\n\r\n"
            ),
        )
        .await;
        assert_eq!(status, 400, "{method}: {body}");
        assert!(body.contains("SIZE_INVALID"), "{body}");
        assert!(
            body.contains("100 bytes") && body.contains("1073741824"),
            "{body}"
        );
        let r = h.get(&location).await.expect(204);
        assert_eq!(r.header("range"), "0-4");
        let file = h.root().join("uploads").join(&uuid);
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 5);
    }
    server.abort();
}

/// Sends a request's head and nothing more; returns the status and body of the answer,
/// which must come without the body having been sent.
async fn headers_only(addr: std::net::SocketAddr, head: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let read = async {
        let mut text = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            text.extend_from_slice(&buf[..n]);
            let whole = String::from_utf8_lossy(&text).into_owned();
            if let Some((head, body)) = whole.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_string)
                    })
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
                if body.len() >= length || n == 0 {
                    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
                    return (status, body.to_string());
                }
            }
            assert!(
                n > 0,
                "connection closed: {}",
                String::from_utf8_lossy(&text)
            );
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .expect("no answer before the body was sent: the server waited for it")
}

/// Without `Content-Length` (a streamed body), a chunk is held to its `Content-Range` as it
/// arrives: the answer comes once the body goes past it, not when the body ends.
async fn a_streamed_chunk_longer_than_its_range_is_cut_off(h: Harness) {
    use tower::ServiceExt;
    let r = h
        .send("POST", "/v2/repo/blobs/uploads/", &[], b"")
        .await
        .expect(202);
    let location = r.header("location").to_string();
    // Ten bytes for a five-byte range, then a body that never ends.
    let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(
        b"0123456789",
    ))])
    .chain(futures_util::stream::pending());
    let request = axum::http::Request::builder()
        .method("PATCH")
        .uri(&location)
        .header("content-range", "0-4")
        .body(axum::body::Body::from_stream(chunks))
        .unwrap();
    let response = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        h.app.clone().oneshot(request),
    )
    .await
    .expect("the server read on past the chunk's range")
    .unwrap();
    assert_eq!(response.status(), 400);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("SIZE_INVALID") && body.contains("5 bytes"),
        "{body}"
    );
    assert_eq!(h.get(&location).await.expect(204).header("range"), "0-0");
    h.send("PATCH", &location, &[("content-range", "0-4")], b"01234")
        .await
        .expect(202);
}

async fn a_digest_mismatch_leaves_nothing_visible(h: Harness) {
    let claimed = sha256(b"what the client claims");
    h.send(
        "POST",
        &format!("/v2/x/blobs/uploads/?digest={claimed}"),
        &[],
        b"other bytes",
    )
    .await
    .error(400, "DIGEST_INVALID");
    h.head(&format!("/v2/x/blobs/{claimed}")).await.expect(404);
    h.head(&format!("/v2/x/blobs/{}", sha256(b"other bytes")))
        .await
        .expect(404);
    assert!(files(&h.root().join("uploads")).is_empty());
    assert!(files(&h.root().join("blobs")).is_empty());
}

async fn upload_cancel_and_unknown_ids(h: Harness) {
    let r = h
        .send("POST", "/v2/repo/blobs/uploads/", &[], b"")
        .await
        .expect(202);
    let location = r.header("location").to_string();
    h.send("PATCH", &location, &[], b"abc").await.expect(202);
    h.send("DELETE", &location, &[], b"").await.expect(204);
    h.get(&location).await.error(404, "BLOB_UPLOAD_UNKNOWN");
    h.send("PATCH", &location, &[], b"abc")
        .await
        .error(404, "BLOB_UPLOAD_UNKNOWN");
    h.get("/v2/repo/blobs/uploads/not-a-uuid")
        .await
        .error(404, "BLOB_UPLOAD_UNKNOWN");
    h.get("/v2/repo/blobs/uploads/6f1f3f3e-1d2a-4c4e-9a55-2a8f3b2c1d00")
        .await
        .error(404, "BLOB_UPLOAD_UNKNOWN");
    // A session belongs to its repository.
    let r = h
        .send("POST", "/v2/repo/blobs/uploads/", &[], b"")
        .await
        .expect(202);
    let uuid = r.header("docker-upload-uuid").to_string();
    h.get(&format!("/v2/elsewhere/blobs/uploads/{uuid}"))
        .await
        .error(404, "BLOB_UPLOAD_UNKNOWN");
    // PUT without a digest.
    h.send("PUT", r.header("location"), &[], b"")
        .await
        .error(400, "DIGEST_INVALID");
    assert!(files(&h.root().join("uploads")).len() == 1);
}

async fn an_upload_session_survives_a_restart(mut h: Harness) {
    let r = h
        .send("POST", "/v2/repo/blobs/uploads/", &[], b"")
        .await
        .expect(202);
    let location = r.header("location").to_string();
    h.send("PATCH", &location, &[("content-range", "0-5")], b"before")
        .await
        .expect(202);
    h.restart().await;
    assert_eq!(h.get(&location).await.expect(204).header("range"), "0-5");
    h.send("PATCH", &location, &[("content-range", "6-11")], b"-after")
        .await
        .expect(202);
    let digest = sha256(b"before-after");
    h.send("PUT", &format!("{location}?digest={digest}"), &[], b"")
        .await
        .expect(201);
    assert_eq!(
        h.get(&format!("/v2/repo/blobs/{digest}")).await.body,
        b"before-after"
    );
}

async fn bad_names_and_digests(h: Harness) {
    let long = "a".repeat(300);
    for name in ["../x", "A/b", "a//b", "x/..", "-x", long.as_str(), "a%2Fb"] {
        for path in ["blobs/uploads/", "tags/list"] {
            let method = if path.starts_with("blobs") {
                "POST"
            } else {
                "GET"
            };
            h.send(method, &format!("/v2/{name}/{path}"), &[], b"")
                .await
                .error(400, "NAME_INVALID");
        }
        h.get(&format!("/v2/{name}/manifests/latest"))
            .await
            .error(400, "NAME_INVALID");
    }
    h.get("/v2/x/blobs/sha256:xyz")
        .await
        .error(400, "DIGEST_INVALID");
    h.get("/v2/x/blobs/md5:d41d8cd98f00b204e9800998ecf8427e")
        .await
        .error(400, "DIGEST_INVALID");
    h.send(
        "POST",
        "/v2/x/blobs/uploads/?digest=sha256:short",
        &[],
        b"x",
    )
    .await
    .error(400, "DIGEST_INVALID");
    // A manifest reference that is neither a tag nor a digest names nothing: 404 (see
    // `references_that_name_no_manifest`).
    h.get("/v2/x/manifests/sha256:nothex")
        .await
        .error(404, "MANIFEST_UNKNOWN");
    h.get("/v2/x/manifests/bad$tag")
        .await
        .error(404, "MANIFEST_UNKNOWN");
    h.send("PUT", "/v2/x/blobs/uploads/", &[], b"")
        .await
        .error(405, "UNSUPPORTED");
    assert!(files(&h.root().join("uploads")).is_empty());
}

async fn cross_repository_mount(h: Harness) {
    let digest = h.push_blob("source", b"shared layer").await;
    let r = h
        .send(
            "POST",
            &format!("/v2/target/blobs/uploads/?mount={digest}&from=source"),
            &[],
            b"",
        )
        .await
        .expect(201);
    assert_eq!(r.header("location"), format!("/v2/target/blobs/{digest}"));
    assert_eq!(r.header("docker-content-digest"), digest);
    assert_eq!(
        h.get(&format!("/v2/target/blobs/{digest}"))
            .await
            .expect(200)
            .body,
        b"shared layer"
    );
    // Not in `from`: a fresh session instead.
    let missing = sha256(b"nowhere");
    let r = h
        .send(
            "POST",
            &format!("/v2/target/blobs/uploads/?mount={missing}&from=source"),
            &[],
            b"",
        )
        .await
        .expect(202);
    assert!(r.has_header("docker-upload-uuid"));
    // Without `from`: mounted from wherever it is (no auth: every repository is readable).
    h.send(
        "POST",
        &format!("/v2/third/blobs/uploads/?mount={digest}"),
        &[],
        b"",
    )
    .await
    .expect(201);
    // Blob delete unlinks it from one repository only.
    h.send("DELETE", &format!("/v2/target/blobs/{digest}"), &[], b"")
        .await
        .expect(202);
    h.head(&format!("/v2/target/blobs/{digest}"))
        .await
        .expect(404);
    h.head(&format!("/v2/source/blobs/{digest}"))
        .await
        .expect(200);
    h.send("DELETE", &format!("/v2/target/blobs/{digest}"), &[], b"")
        .await
        .error(404, "BLOB_UNKNOWN");
}

async fn manifests_by_tag_and_digest(h: Harness) {
    let (manifest, digest) = h.push_image("app", "v1", "one").await;
    let r = h.get("/v2/app/manifests/v1").await.expect(200);
    assert_eq!(r.body, manifest, "exact bytes");
    assert_eq!(r.header("content-type"), OCI_MANIFEST);
    assert_eq!(r.header("docker-content-digest"), digest);
    let r = h
        .head(&format!("/v2/app/manifests/{digest}"))
        .await
        .expect(200);
    assert_eq!(r.header("content-length"), manifest.len().to_string());
    assert!(r.body.is_empty());

    // PUT by digest: 201 with Location and the digest.
    let other = h.image_manifest("app", "two", None).await;
    let other_digest = sha256(&other);
    let r = h
        .send(
            "PUT",
            &format!("/v2/app/manifests/{other_digest}"),
            &[("content-type", OCI_MANIFEST)],
            &other,
        )
        .await
        .expect(201);
    assert_eq!(
        r.header("location"),
        format!("/v2/app/manifests/{other_digest}")
    );
    assert_eq!(r.header("docker-content-digest"), other_digest);
    // ... and with the wrong digest.
    h.send(
        "PUT",
        &format!("/v2/app/manifests/{}", sha256(b"no")),
        &[("content-type", OCI_MANIFEST)],
        &other,
    )
    .await
    .error(400, "DIGEST_INVALID");

    // An index over both; then one naming a manifest the repository lacks.
    let index = index_json(&[(&digest, manifest.len()), (&other_digest, other.len())]);
    h.send(
        "PUT",
        "/v2/app/manifests/multi",
        &[("content-type", OCI_INDEX)],
        &index,
    )
    .await
    .expect(201);
    assert_eq!(
        h.get("/v2/app/manifests/multi")
            .await
            .header("content-type"),
        OCI_INDEX
    );
    let bad_index = index_json(&[(&sha256(b"absent"), 10)]);
    h.send(
        "PUT",
        "/v2/app/manifests/bad",
        &[("content-type", OCI_INDEX)],
        &bad_index,
    )
    .await
    .error(400, "MANIFEST_BLOB_UNKNOWN");

    // Unknowns.
    h.get("/v2/app/manifests/nope")
        .await
        .error(404, "MANIFEST_UNKNOWN");
    h.get(&format!("/v2/app/manifests/{}", sha256(b"x")))
        .await
        .error(404, "MANIFEST_UNKNOWN");
    h.get("/v2/ghost/manifests/v1")
        .await
        .error(404, "NAME_UNKNOWN");

    // Delete a tag: only the tag goes.
    h.send("DELETE", "/v2/app/manifests/v1", &[], b"")
        .await
        .expect(202);
    h.get("/v2/app/manifests/v1")
        .await
        .error(404, "MANIFEST_UNKNOWN");
    h.get(&format!("/v2/app/manifests/{digest}"))
        .await
        .expect(200);
    // Delete by digest: the manifest and its tags.
    h.send(
        "DELETE",
        &format!("/v2/app/manifests/{other_digest}"),
        &[],
        b"",
    )
    .await
    .expect(202);
    h.get(&format!("/v2/app/manifests/{other_digest}"))
        .await
        .error(404, "MANIFEST_UNKNOWN");
    h.send("DELETE", "/v2/app/manifests/v1", &[], b"")
        .await
        .error(404, "MANIFEST_UNKNOWN");
}

/// distribution's conformance suite reads and deletes `.INVALID_MANIFEST_NAME` and expects
/// 404: a reference that cannot be a tag or a digest names no manifest. Only a push is told
/// (400) that its reference is malformed.
async fn references_that_name_no_manifest(h: Harness) {
    let (manifest, _) = h.push_image("app", "v1", "refs").await;
    for reference in [
        ".INVALID_MANIFEST_NAME",
        "-dash",
        "sha256:nothex",
        "md5:abc",
    ] {
        let uri = format!("/v2/app/manifests/{reference}");
        let r = h.get(&uri).await.error(404, "MANIFEST_UNKNOWN");
        let message = r.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(message.contains(&format!("`{reference}`")), "{message}");
        assert_eq!(h.head(&uri).await.status, 404);
        h.send("DELETE", &uri, &[], b"")
            .await
            .error(404, "MANIFEST_UNKNOWN");
    }
    let r = h
        .send(
            "PUT",
            "/v2/app/manifests/.INVALID_MANIFEST_NAME",
            &[("content-type", OCI_MANIFEST)],
            &manifest,
        )
        .await
        .error(400, "MANIFEST_INVALID");
    let message = r.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("`.INVALID_MANIFEST_NAME`"), "{message}");
    h.send(
        "PUT",
        "/v2/app/manifests/sha256:nothex",
        &[("content-type", OCI_MANIFEST)],
        &manifest,
    )
    .await
    .error(400, "DIGEST_INVALID");
    h.get("/v2/app/manifests/v1").await.expect(200);
}

async fn invalid_manifests_are_refused(h: Harness) {
    let put = |body: Vec<u8>, content_type: &'static str| {
        let h = &h;
        async move {
            h.send(
                "PUT",
                "/v2/app/manifests/t",
                &[("content-type", content_type)],
                &body,
            )
            .await
        }
    };
    put(b"{not json".to_vec(), OCI_MANIFEST)
        .await
        .error(400, "MANIFEST_INVALID");
    put(
        br#"{"schemaVersion":1,"fsLayers":[]}"#.to_vec(),
        OCI_MANIFEST,
    )
    .await
    .error(400, "MANIFEST_INVALID");
    // A blob the repository does not have.
    let m = manifest_json((&sha256(b"c"), 1), (&sha256(b"l"), 1), None);
    put(m.clone(), OCI_MANIFEST)
        .await
        .error(400, "MANIFEST_BLOB_UNKNOWN");
    // Declared media type differs from Content-Type.
    put(m, OCI_INDEX).await.error(400, "MANIFEST_INVALID");
    // Over 4 MiB.
    let big = vec![b' '; 4 * 1024 * 1024 + 1];
    put(big, OCI_MANIFEST).await.error(413, "SIZE_INVALID");
    h.get("/v2/app/manifests/t")
        .await
        .error(404, "NAME_UNKNOWN");
}

/// Only manifest and index types are stored: the type is served back as `Content-Type`, and
/// a `text/html` or `image/svg+xml` "manifest" would be a page on the registry's origin.
async fn only_manifest_media_types_are_accepted(h: Harness) {
    let typed = h.image_manifest("app", "typed", None).await;
    let mut untyped: serde_json::Value = serde_json::from_slice(&typed).unwrap();
    untyped.as_object_mut().unwrap().remove("mediaType");
    let untyped = serde_json::to_vec(&untyped).unwrap();
    let declaring = |media_type: &str| {
        let mut m: serde_json::Value = serde_json::from_slice(&typed).unwrap();
        m["mediaType"] = media_type.into();
        serde_json::to_vec(&m).unwrap()
    };
    let cases = [
        // Content-Type alone (the body has no `mediaType`).
        (untyped.clone(), "text/html", "text/html"),
        (untyped.clone(), "image/svg+xml", "image/svg+xml"),
        (untyped.clone(), "Text/HTML; charset=utf-8", "text/html"),
        // The body's `mediaType`, with the same or a generic Content-Type.
        (declaring("text/html"), "text/html", "text/html"),
        (
            declaring("image/svg+xml"),
            "application/json",
            "image/svg+xml",
        ),
        (
            declaring("application/vnd.example+json"),
            "",
            "application/vnd.example+json",
        ),
    ];
    for (body, content_type, named) in cases {
        let headers: &[(&str, &str)] = match content_type {
            "" => &[],
            _ => &[("content-type", content_type)],
        };
        let r = h
            .send("PUT", "/v2/app/manifests/page", headers, &body)
            .await
            .error(400, "MANIFEST_INVALID");
        let message = r.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            message.contains(&format!("`{named}`")) && message.contains(OCI_MANIFEST),
            "{content_type}: {message}"
        );
    }
    h.get("/v2/app/manifests/page")
        .await
        .error(404, "MANIFEST_UNKNOWN");
    // A generic Content-Type claims nothing: the body's shape decides, and that is served.
    h.send(
        "PUT",
        "/v2/app/manifests/generic",
        &[("content-type", "application/json")],
        &untyped,
    )
    .await
    .expect(201);
    let r = h.get("/v2/app/manifests/generic").await.expect(200);
    assert_eq!(r.header("content-type"), OCI_MANIFEST);
    assert_eq!(r.body, untyped);
}

/// A page stored as a manifest before only manifest types were accepted is served as
/// opaque bytes, not as the `text/html` it was stored as.
async fn a_page_stored_before_is_not_served_as_a_page(h: Harness) {
    use wharf_registry::storage::{Backend, Metadata, NewManifest};
    let backend = Backend::from_setting(h.database.as_deref(), &h.root()).unwrap();
    let meta = Metadata::open(&backend).await.unwrap();
    let page = b"<html><script>alert(document.domain)</script></html>";
    let digest = sha256(page);
    meta.put_manifest(NewManifest {
        repository: "app",
        digest: &wharf_spec::Digest::parse(&digest).unwrap(),
        media_type: "text/html",
        content: page,
        subject: None,
        artifact_type: None,
        tags: &["page"],
        blobs: &[],
        children: &[],
    })
    .await
    .unwrap()
    .unwrap();
    for uri in [
        "/v2/app/manifests/page".to_string(),
        format!("/v2/app/manifests/{digest}"),
    ] {
        let r = h.get(&uri).await.expect(200);
        assert_eq!(
            r.header("content-type"),
            "application/octet-stream",
            "{uri}"
        );
        assert_eq!(r.body, page);
    }
}

/// Every answer says `X-Content-Type-Options: nosniff`: blobs, manifests, errors, anything.
async fn no_response_is_sniffed(h: Harness) {
    let (_, digest) = h.push_image("app", "v1", "sniff").await;
    let config = h
        .push_blob("app", b"<html><script>alert(1)</script></html>")
        .await;
    let r = h.get(&format!("/v2/app/blobs/{config}")).await.expect(200);
    assert_eq!(r.header("x-content-type-options"), "nosniff");
    for (uri, status) in [
        ("/v2/app/manifests/v1".to_string(), 200),
        (format!("/v2/app/manifests/{digest}"), 200),
        ("/v2/app/manifests/nope".to_string(), 404),
        ("/v2/".to_string(), 200),
        ("/v2/app/tags/list".to_string(), 200),
        ("/nowhere".to_string(), 404),
    ] {
        let r = h.get(&uri).await.expect(status);
        assert_eq!(r.header("x-content-type-options"), "nosniff", "{uri}");
    }
    let r = h
        .send(
            "PUT",
            "/v2/app/manifests/bad",
            &[("content-type", "text/html")],
            b"<html>",
        )
        .await
        .error(400, "MANIFEST_INVALID");
    assert_eq!(r.header("x-content-type-options"), "nosniff");
}

/// CVE-2021-41190: a document that reads as an image manifest or as an index depending on
/// the type claimed for it is refused, whatever its blobs, and nothing is stored.
async fn ambiguous_manifests_are_refused(h: Harness) {
    let (manifest, digest) = h.push_image("app", "v1", "plain").await;
    let entry =
        serde_json::json!([{"mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.len()}]);
    let mut image: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let mut index =
        serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entry});
    index["layers"] = image["layers"].clone();
    image["manifests"] = entry;
    for (doc, content_type, field) in [
        (&image, OCI_MANIFEST, "`manifests`"),
        (&index, OCI_INDEX, "`layers`"),
    ] {
        let r = h
            .send(
                "PUT",
                "/v2/app/manifests/ambiguous",
                &[("content-type", content_type)],
                &serde_json::to_vec(doc).unwrap(),
            )
            .await
            .error(400, "MANIFEST_INVALID");
        let message = r.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            message.contains("ambiguous") && message.contains(field),
            "{message}"
        );
    }
    // A body whose `mediaType` contradicts its Content-Type is the same confusion.
    let mut declared_index: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    declared_index["mediaType"] = OCI_INDEX.into();
    h.send(
        "PUT",
        "/v2/app/manifests/ambiguous",
        &[("content-type", OCI_MANIFEST)],
        &serde_json::to_vec(&declared_index).unwrap(),
    )
    .await
    .error(400, "MANIFEST_INVALID");
    h.get("/v2/app/manifests/ambiguous")
        .await
        .error(404, "MANIFEST_UNKNOWN");
}

async fn subject_is_echoed(h: Harness) {
    let (manifest, digest) = h.push_image("app", "v1", "base").await;
    let referrer = h
        .image_manifest("app", "sig", Some((&digest, manifest.len())))
        .await;
    let r = h
        .send(
            "PUT",
            &format!("/v2/app/manifests/{}", sha256(&referrer)),
            &[("content-type", OCI_MANIFEST)],
            &referrer,
        )
        .await
        .expect(201);
    assert_eq!(r.header("oci-subject"), digest);
    // A subject need not exist yet (referrers may be pushed first).
    let orphan = h
        .image_manifest("app", "early", Some((&sha256(b"later"), 5)))
        .await;
    h.send(
        "PUT",
        "/v2/app/manifests/early",
        &[("content-type", OCI_MANIFEST)],
        &orphan,
    )
    .await
    .expect(201);
}

async fn tags_and_catalog_page_with_link(h: Harness) {
    let (manifest, _) = h.push_image("app", "c", "x").await;
    for tag in ["a", "d", "b", "B"] {
        h.send(
            "PUT",
            &format!("/v2/app/manifests/{tag}"),
            &[("content-type", OCI_MANIFEST)],
            &manifest,
        )
        .await
        .expect(201);
    }
    let r = h.get("/v2/app/tags/list").await.expect(200);
    assert_eq!(
        r.json(),
        serde_json::json!({"name": "app", "tags": ["B", "a", "b", "c", "d"]})
    );
    assert!(!r.has_header("link"));
    let r = h.get("/v2/app/tags/list?n=2").await.expect(200);
    assert_eq!(r.json()["tags"], serde_json::json!(["B", "a"]));
    assert_eq!(
        r.header("link"),
        "</v2/app/tags/list?n=2&last=a>; rel=\"next\""
    );
    let r = h.get("/v2/app/tags/list?n=2&last=a").await.expect(200);
    assert_eq!(r.json()["tags"], serde_json::json!(["b", "c"]));
    let r = h.get("/v2/app/tags/list?n=2&last=c").await.expect(200);
    assert_eq!(r.json()["tags"], serde_json::json!(["d"]));
    assert!(!r.has_header("link"));
    assert_eq!(
        h.get("/v2/app/tags/list?n=0").await.json()["tags"],
        serde_json::json!([])
    );
    h.get("/v2/app/tags/list?n=many")
        .await
        .error(400, "PAGINATION_NUMBER_INVALID");
    h.get("/v2/ghost/tags/list")
        .await
        .error(404, "NAME_UNKNOWN");

    h.push_blob("lib/zeta", b"z").await;
    h.push_blob("lib/alpha", b"a").await;
    let r = h.get("/v2/_catalog").await.expect(200);
    assert_eq!(
        r.json(),
        serde_json::json!({"repositories": ["app", "lib/alpha", "lib/zeta"]})
    );
    let r = h.get("/v2/_catalog?n=1").await.expect(200);
    assert_eq!(r.json()["repositories"], serde_json::json!(["app"]));
    assert_eq!(
        r.header("link"),
        "</v2/_catalog?n=1&last=app>; rel=\"next\""
    );
    let r = h.get("/v2/_catalog?n=5&last=app").await.expect(200);
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["lib/alpha", "lib/zeta"])
    );
}

// Every test above runs on SQLite and on PostgreSQL (`sqlite::NAME`, `postgres::NAME`).
backends!(
    base_and_health,
    monolithic_upload_then_head_get_and_ranges,
    chunked_upload_with_content_range,
    a_chunk_whose_range_disagrees_with_its_length_is_refused_before_its_body,
    a_streamed_chunk_longer_than_its_range_is_cut_off,
    a_digest_mismatch_leaves_nothing_visible,
    upload_cancel_and_unknown_ids,
    an_upload_session_survives_a_restart,
    bad_names_and_digests,
    cross_repository_mount,
    manifests_by_tag_and_digest,
    references_that_name_no_manifest,
    invalid_manifests_are_refused,
    ambiguous_manifests_are_refused,
    only_manifest_media_types_are_accepted,
    a_page_stored_before_is_not_served_as_a_page,
    no_response_is_sniffed,
    subject_is_echoed,
    tags_and_catalog_page_with_link,
);
