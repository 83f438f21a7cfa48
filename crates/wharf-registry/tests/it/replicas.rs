//! Two registries on one root and one database, as replicas behind a load balancer: what
//! one stores the other serves, an upload moves between them chunk by chunk, and GC's lock
//! holds across them (on PostgreSQL an advisory lock, checked here from a third session).

use std::time::Duration;

use sqlx::Connection;

use crate::harness::*;

async fn an_upload_moves_between_replicas_chunk_by_chunk(a: Harness) {
    let b = a.replica().await;
    let location = a
        .send("POST", "/v2/team/app/blobs/uploads/", &[], b"")
        .await
        .expect(202)
        .header("location")
        .to_string();
    a.send("PATCH", &location, &[("content-range", "0-5")], b"abcdef")
        .await
        .expect(202);
    // B never saw the session: it finds it in the database and the shared upload file.
    let r = b.get(&location).await.expect(204);
    assert_eq!(r.header("range"), "0-5");
    b.send("PATCH", &location, &[("content-range", "6-8")], b"ghi")
        .await
        .expect(202);
    // While another process writes the session (it holds the file's lock), a chunk is out
    // of order: two writers at one offset would mix their bytes.
    let id = location.rsplit('/').next().unwrap();
    let file = std::fs::File::open(a.root().join("uploads").join(id)).unwrap();
    file.lock().unwrap();
    let r = b
        .send("PATCH", &location, &[("content-range", "9-10")], b"jk")
        .await
        .error(416, "RANGE_INVALID");
    assert_eq!(r.header("range"), "0-8");
    drop(file);
    // A's running hash stopped at 6 bytes; it must not finish with it.
    a.send("PATCH", &location, &[("content-range", "6-8")], b"xyz")
        .await
        .error(416, "RANGE_INVALID");
    let digest = sha256(b"abcdefghijk");
    a.send(
        "PUT",
        &format!("{location}?digest={digest}"),
        &[("content-range", "9-10")],
        b"jk",
    )
    .await
    .expect(201);
    for h in [&a, &b] {
        let r = h
            .get(&format!("/v2/team/app/blobs/{digest}"))
            .await
            .expect(200);
        assert_eq!(r.body, b"abcdefghijk");
        h.get(&location).await.error(404, "BLOB_UPLOAD_UNKNOWN");
    }

    // A manifest pushed to B is served by A, and a tag moved on A is seen by B.
    let (manifest, digest) = b.push_image("team/app", "v1", "replicated").await;
    let r = a.get("/v2/team/app/manifests/v1").await.expect(200);
    assert_eq!(r.body, manifest);
    let (_, moved) = a.push_image("team/app", "v1", "moved").await;
    let r = b.head("/v2/team/app/manifests/v1").await.expect(200);
    assert_eq!(r.header("docker-content-digest"), moved);
    assert_ne!(moved, digest);
}

backends!(an_upload_moves_between_replicas_chunk_by_chunk);

/// Another session holds the advisory lock exclusively (as a GC on another host would): a
/// blob commit waits for it. Then it holds it shared (a commit elsewhere): GC's sweep waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_gc_lock_is_an_advisory_lock_across_replicas() {
    let Some(h) = Harness::on(Db::Postgres).await else {
        return;
    };
    let url = h.database.clone().unwrap();
    let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
    let key = wharf_registry::gc::ADVISORY_KEY;

    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(key)
        .execute(&mut other)
        .await
        .unwrap();
    // A request that gives up while waiting for the lock leaves nothing held behind.
    let app = h.app.clone();
    let uri = format!(
        "/v2/locked/repo/blobs/uploads/?digest={}",
        sha256(b"given up")
    );
    let given_up = tokio::spawn(async move { send_to(&app, "POST", &uri, &[], b"given up").await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    given_up.abort();
    let _ = given_up.await;

    let app = h.app.clone();
    let bytes = b"waits for the lock";
    let digest = sha256(bytes);
    let uri = format!("/v2/locked/repo/blobs/uploads/?digest={digest}");
    let push = tokio::spawn(async move { send_to(&app, "POST", &uri, &[], bytes).await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !push.is_finished(),
        "a commit went ahead under GC's exclusive lock"
    );
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(key)
        .execute(&mut other)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), push)
        .await
        .expect("the commit went on once the lock was free")
        .unwrap()
        .expect(201);
    h.head(&format!("/v2/locked/repo/blobs/{digest}"))
        .await
        .expect(200);
    // Nobody holds the lock now (the given-up request's session let go of it).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut other)
            .await
            .unwrap();
        if free {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a cancelled request left the GC lock held"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(key)
        .execute(&mut other)
        .await
        .unwrap();

    sqlx::query("SELECT pg_advisory_lock_shared($1)")
        .bind(key)
        .execute(&mut other)
        .await
        .unwrap();
    let registry = h.registry.clone();
    let gc = tokio::spawn(async move {
        registry
            .collect_garbage(&wharf_registry::gc::GcOptions::default())
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !gc.is_finished(),
        "GC swept blobs while a commit held the lock"
    );
    // The session ends without unlocking (a replica that died): the server frees its locks.
    other.close().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), gc)
        .await
        .expect("GC went on once the other session ended")
        .unwrap();
}
