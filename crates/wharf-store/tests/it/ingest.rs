use std::io::Write;

use wharf_spec::{Algorithm, Digest};
use wharf_store::{IngestStart, StoreError};

use crate::{data, files_under, new_store, put};

fn writer(start: IngestStart) -> wharf_store::Ingest {
    match start {
        IngestStart::Writer(w) => w,
        other => panic!("expected a writer, got {other:?}"),
    }
}

fn staged(start: IngestStart) -> wharf_store::StagedBlob {
    match start {
        IngestStart::Staged(b) => b,
        other => panic!("expected a shared staged blob, got {other:?}"),
    }
}

fn ingest_dir(store: &wharf_store::Store) -> Vec<String> {
    files_under(&store.root().join(".wharf/ingest"))
}

#[test]
fn blob_is_visible_only_after_commit() {
    let (_t, store) = new_store();
    let bytes = data(3 << 20, 1);
    let digest = Digest::sha256_of(&bytes);
    let mut w = writer(store.ingest(&digest, Some(bytes.len() as u64)).unwrap());
    w.write_all(&bytes[..1000]).unwrap();
    assert_eq!(store.blob_size(&digest).unwrap(), None);
    w.write_all(&bytes[1000..]).unwrap();
    let staged = w.finish().unwrap();
    assert_eq!(staged.digest(), &digest);
    assert_eq!(staged.size(), bytes.len() as u64);
    assert_eq!(
        store.blob_size(&digest).unwrap(),
        None,
        "staged is not committed"
    );
    assert!(files_under(&store.root().join("blobs")).is_empty());

    store.commit(vec![staged], |_| Ok(())).unwrap();
    assert_eq!(store.blob_size(&digest).unwrap(), Some(bytes.len() as u64));
    assert_eq!(std::fs::read(store.blob_path(&digest)).unwrap(), bytes);
    // Nothing left behind in the private area.
    assert!(files_under(&store.root().join(".wharf/ingest")).is_empty());
    assert!(files_under(&store.root().join(".wharf/tmp")).is_empty());

    match store.ingest(&digest, Some(bytes.len() as u64)).unwrap() {
        IngestStart::Exists(n) => assert_eq!(n, bytes.len() as u64),
        other => panic!("committed blob must be reported as existing, got {other:?}"),
    }
}

#[test]
fn interrupted_ingest_resumes_from_the_partial_file() {
    let (_t, store) = new_store();
    let bytes = data(5 * 1024 * 1024 + 17, 2);
    let half = bytes.len() / 2;
    let digest = Digest::sha256_of(&bytes);

    let mut w = writer(store.ingest(&digest, Some(bytes.len() as u64)).unwrap());
    w.write_all(&bytes[..half]).unwrap();
    drop(w);
    assert!(store
        .root()
        .join(".wharf/ingest")
        .join(format!("sha256-{}.partial", digest.hex()))
        .exists());

    let mut w = writer(store.ingest(&digest, Some(bytes.len() as u64)).unwrap());
    assert_eq!(w.offset(), half as u64);
    w.write_all(&bytes[half..]).unwrap();
    let staged = w.finish().unwrap();
    store.commit(vec![staged], |_| Ok(())).unwrap();
    assert_eq!(store.read_blob(&digest, u64::MAX).unwrap(), bytes);
}

#[test]
fn small_and_large_writes_across_write_behind_ranges_and_a_resume() {
    // Buffered small writes and unbuffered large ones alternate, so the ranges handed to
    // the kernel's writeback start and end inside writes and inside the buffer.
    let (_t, store) = new_store();
    let bytes = data((7 << 20) + 123, 7);
    let digest = Digest::sha256_of(&bytes);
    let size = Some(bytes.len() as u64);
    let write_in_pieces = |w: &mut wharf_store::Ingest, from: usize, to: usize| {
        let mut at = from;
        for piece in [4093, 700 << 10, 1, 333_333].iter().cycle() {
            if at == to {
                break;
            }
            let end = (at + piece).min(to);
            w.write_all(&bytes[at..end]).unwrap();
            at = end;
        }
    };
    let cut = (3 << 20) + 4321;
    let mut w = writer(store.ingest(&digest, size).unwrap());
    write_in_pieces(&mut w, 0, cut);
    drop(w);
    let mut w = writer(store.ingest(&digest, size).unwrap());
    assert_eq!(w.offset(), cut as u64);
    write_in_pieces(&mut w, cut, bytes.len());
    let staged = w.finish().unwrap();
    store.commit(vec![staged], |_| Ok(())).unwrap();
    assert_eq!(store.read_blob(&digest, u64::MAX).unwrap(), bytes);
}

#[test]
fn resume_with_unknown_size_and_restart() {
    let (_t, store) = new_store();
    let bytes = data(10_000, 3);
    let digest = Digest::sha256_of(&bytes);
    let mut w = writer(store.ingest(&digest, None).unwrap());
    w.write_all(b"garbage from a server that ignored Range")
        .unwrap();
    drop(w);
    let mut w = writer(store.ingest(&digest, None).unwrap());
    assert_eq!(w.offset(), 40);
    w.restart().unwrap();
    assert_eq!(w.offset(), 0);
    w.write_all(&bytes).unwrap();
    let staged = w.finish().unwrap();
    assert_eq!(staged.digest(), &digest);
}

#[test]
fn partial_longer_than_expected_size_is_discarded() {
    let (_t, store) = new_store();
    let bytes = data(1000, 4);
    let digest = Digest::sha256_of(&bytes);
    let mut w = writer(store.ingest(&digest, None).unwrap());
    w.write_all(&data(5000, 5)).unwrap();
    drop(w);
    let w = writer(store.ingest(&digest, Some(1000)).unwrap());
    assert_eq!(w.offset(), 0);
}

#[test]
fn digest_mismatch_removes_partial_and_names_both_digests() {
    let (_t, store) = new_store();
    let bytes = data(4096, 6);
    let wrong = data(4096, 7);
    let digest = Digest::sha256_of(&bytes);
    let mut w = writer(store.ingest(&digest, Some(4096)).unwrap());
    w.write_all(&wrong).unwrap();
    let err = w.finish().unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{msg}");
    assert!(msg.contains(&digest.to_string()), "{msg}");
    assert!(
        msg.contains(&Digest::sha256_of(&wrong).to_string()),
        "{msg}"
    );
    assert_eq!(store.blob_size(&digest).unwrap(), None);
    assert!(files_under(&store.root().join("blobs")).is_empty());
    assert!(
        files_under(&store.root().join(".wharf/ingest")).is_empty(),
        "partial must be removed"
    );
    // And the next attempt starts from scratch.
    let w = writer(store.ingest(&digest, Some(4096)).unwrap());
    assert_eq!(w.offset(), 0);
}

#[test]
fn size_mismatch_is_reported_and_overlong_writes_fail_early() {
    let (_t, store) = new_store();
    let bytes = data(100, 8);
    let digest = Digest::sha256_of(&bytes);

    let mut w = writer(store.ingest(&digest, Some(100)).unwrap());
    w.write_all(&bytes[..60]).unwrap();
    let err = w.finish().unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SizeMismatch {
                expected: 100,
                actual: 60,
                ..
            }
        ),
        "{err}"
    );
    assert!(files_under(&store.root().join(".wharf/ingest")).is_empty());

    let mut w = writer(store.ingest(&digest, Some(100)).unwrap());
    let err = w.write_all(&data(101, 9)).unwrap_err();
    assert!(
        err.to_string()
            .contains("longer than its declared 100 bytes"),
        "{err}"
    );
}

#[test]
fn committed_blob_with_other_size_than_expected_is_an_error() {
    let (_t, store) = new_store();
    let bytes = data(100, 10);
    let staged = put(&store, &bytes);
    let digest = staged.digest().clone();
    store.commit(vec![staged], |_| Ok(())).unwrap();
    let err = store.ingest(&digest, Some(99)).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SizeMismatch {
                expected: 99,
                actual: 100,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn unknown_digest_ingest_learns_its_digest_at_finish() {
    let (_t, store) = new_store();
    let bytes = data(2 << 20, 11);
    for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
        let mut w = store.ingest_unknown(algorithm).unwrap();
        assert_eq!(w.expected(), None);
        w.write_all(&bytes).unwrap();
        let staged = w.finish().unwrap();
        let expected = Digest::of_bytes(algorithm, &bytes);
        assert_eq!(staged.digest(), &expected);
        store.commit(vec![staged], |_| Ok(())).unwrap();
        assert_eq!(store.read_blob(&expected, u64::MAX).unwrap(), bytes);
        assert!(store
            .blob_path(&expected)
            .starts_with(store.root().join("blobs").join(algorithm.name())));
    }
    assert!(files_under(&store.root().join(".wharf/tmp")).is_empty());
}

#[test]
fn dropped_unknown_ingest_and_dropped_staged_blobs_leave_nothing() {
    let (_t, store) = new_store();
    let mut w = store.ingest_unknown(Algorithm::Sha256).unwrap();
    w.write_all(b"half a layer").unwrap();
    drop(w);
    let staged = store.stage_bytes(b"{}", Algorithm::Sha256).unwrap();
    let known = put(&store, &data(1000, 12));
    drop((staged, known));
    assert!(
        files_under(&store.root().join(".wharf"))
            .iter()
            .all(|f| f.ends_with("store.lock") || f.ends_with("index.lock")),
        "{:?}",
        files_under(&store.root().join(".wharf"))
    );
    assert!(files_under(&store.root().join("blobs")).is_empty());
}

#[test]
fn stage_bytes_of_an_existing_blob_is_free_and_commits_fine() {
    let (_t, store) = new_store();
    let a = store.stage_bytes(b"config", Algorithm::Sha256).unwrap();
    let d = a.digest().clone();
    store.commit(vec![a], |_| Ok(())).unwrap();
    let b = store.stage_bytes(b"config", Algorithm::Sha256).unwrap();
    assert_eq!(b.digest(), &d);
    assert!(files_under(&store.root().join(".wharf/tmp")).is_empty());
    store.commit(vec![b], |_| Ok(())).unwrap();
    assert_eq!(store.read_blob(&d, 100).unwrap(), b"config");
}

#[test]
fn junk_at_the_partial_path_is_replaced() {
    let (_t, store) = new_store();
    let bytes = data(500, 13);
    let digest = Digest::sha256_of(&bytes);
    let partial = store
        .root()
        .join(".wharf/ingest")
        .join(format!("sha256-{}.partial", digest.hex()));
    std::os::unix::fs::symlink("/etc/passwd", &partial).unwrap();
    let mut w = writer(store.ingest(&digest, Some(500)).unwrap());
    assert_eq!(w.offset(), 0, "a symlinked partial must not be followed");
    w.write_all(&bytes).unwrap();
    store.commit(vec![w.finish().unwrap()], |_| Ok(())).unwrap();
    assert_eq!(store.read_blob(&digest, 500).unwrap(), bytes);
}

#[test]
fn threads_ingesting_one_blob_write_it_once() {
    let (_t, store) = new_store();
    let bytes = std::sync::Arc::new(data(3 << 20, 14));
    let digest = Digest::sha256_of(&bytes);
    let writers = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(
                || match store.ingest(&digest, Some(bytes.len() as u64)).unwrap() {
                    IngestStart::Exists(n) => assert_eq!(n, bytes.len() as u64),
                    IngestStart::Staged(b) => store.commit(vec![b], |_| Ok(())).unwrap(),
                    IngestStart::Writer(mut w) => {
                        writers.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        assert_eq!(w.offset(), 0, "no one else wrote to our file");
                        for c in bytes.chunks(65536) {
                            w.write_all(c).unwrap();
                        }
                        let staged = w.finish().unwrap();
                        store.commit(vec![staged], |_| Ok(())).unwrap();
                    }
                },
            );
        }
    });
    assert_eq!(writers.into_inner(), 1);
    assert_eq!(store.read_blob(&digest, u64::MAX).unwrap(), *bytes);
    assert_eq!(files_under(&store.root().join("blobs")).len(), 1);
    assert!(files_under(&store.root().join(".wharf/ingest")).is_empty());
}

#[test]
fn a_waiting_thread_takes_over_an_abandoned_partial() {
    let (_t, store) = new_store();
    let bytes = data(1 << 20, 15);
    let half = bytes.len() / 2;
    let digest = Digest::sha256_of(&bytes);
    let mut first = writer(store.ingest(&digest, Some(bytes.len() as u64)).unwrap());
    first.write_all(&bytes[..half]).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            tx.send(()).unwrap();
            let mut w = writer(store.ingest(&digest, Some(bytes.len() as u64)).unwrap());
            let offset = w.offset();
            w.write_all(&bytes[offset as usize..]).unwrap();
            store.commit(vec![w.finish().unwrap()], |_| Ok(())).unwrap();
            offset
        });
        rx.recv().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            !waiter.is_finished(),
            "the second ingest must wait for the first"
        );
        drop(first);
        assert_eq!(waiter.join().unwrap(), half as u64);
    });
    assert_eq!(store.read_blob(&digest, u64::MAX).unwrap(), bytes);
}

/// Two "pulls" that share two layers and fetch them concurrently, committing only once
/// everything is fetched: each finishes one layer, then needs the other's. (If staged
/// blobs kept other writers waiting until commit, this would deadlock.)
#[test]
fn concurrent_pulls_sharing_layers_do_not_deadlock() {
    let (_t, store) = new_store();
    let l1 = std::sync::Arc::new(data(300_000, 100));
    let l2 = std::sync::Arc::new(data(300_000, 200));
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    // Detached threads: a regression must fail this test, not hang the suite.
    for order in [[l1.clone(), l2.clone()], [l2.clone(), l1.clone()]] {
        let (store, barrier, done_tx) = (store.clone(), barrier.clone(), done_tx.clone());
        std::thread::spawn(move || {
            let mut staged = Vec::new();
            for (n, bytes) in order.iter().enumerate() {
                let digest = Digest::sha256_of(bytes);
                let start = store.ingest(&digest, Some(bytes.len() as u64)).unwrap();
                if n == 0 {
                    // Both are writing their first layer before either asks for its second.
                    barrier.wait();
                }
                match start {
                    IngestStart::Exists(_) => {}
                    IngestStart::Staged(b) => staged.push(b),
                    IngestStart::Writer(mut w) => {
                        let offset = w.offset() as usize;
                        w.write_all(&bytes[offset..]).unwrap();
                        staged.push(w.finish().unwrap());
                    }
                }
            }
            store.commit(staged, |_| Ok(())).unwrap();
            done_tx.send(()).unwrap();
        });
    }
    for _ in 0..2 {
        done_rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("deadlock: two ingests wait on each other");
    }
    assert_eq!(
        store.read_blob(&Digest::sha256_of(&l1), u64::MAX).unwrap(),
        *l1
    );
    assert_eq!(
        store.read_blob(&Digest::sha256_of(&l2), u64::MAX).unwrap(),
        *l2
    );
    assert!(ingest_dir(&store).is_empty(), "{:?}", ingest_dir(&store));
}

#[test]
fn a_finished_uncommitted_blob_is_shared_not_rewritten() {
    let (_t, store) = new_store();
    let bytes = data(200_000, 300);
    let digest = Digest::sha256_of(&bytes);
    let size = Some(bytes.len() as u64);
    let mut w = writer(store.ingest(&digest, size).unwrap());
    w.write_all(&bytes).unwrap();
    let first = w.finish().unwrap();
    let second = staged(store.ingest(&digest, size).unwrap());
    let third = staged(store.ingest(&digest, size).unwrap());
    assert_eq!(second.digest(), &digest);
    assert_eq!(second.size(), bytes.len() as u64);
    assert_eq!(store.blob_size(&digest).unwrap(), None, "still invisible");
    let err = store.ingest(&digest, Some(5)).unwrap_err();
    assert!(matches!(err, StoreError::SizeMismatch { .. }), "{err}");

    // The writer gives up; the sharers' copy must survive that.
    drop(first);
    assert_eq!(ingest_dir(&store).len(), 1, "{:?}", ingest_dir(&store));
    store.commit(vec![second], |_| Ok(())).unwrap();
    assert_eq!(store.read_blob(&digest, u64::MAX).unwrap(), bytes);
    // Another holder committing does not pull the staged file from under this one.
    assert_eq!(std::fs::read(third.path()).unwrap(), bytes);
    // Committing an already published blob again is a no-op.
    store.commit(vec![third], |_| Ok(())).unwrap();
    assert!(ingest_dir(&store).is_empty(), "{:?}", ingest_dir(&store));
}

#[test]
fn the_last_uncommitted_holder_deletes_the_verified_file() {
    let (_t, store) = new_store();
    let bytes = data(1000, 301);
    let digest = Digest::sha256_of(&bytes);
    let mut w = writer(store.ingest(&digest, None).unwrap());
    w.write_all(&bytes).unwrap();
    let first = w.finish().unwrap();
    let second = staged(store.ingest(&digest, None).unwrap());
    drop(second);
    assert_eq!(ingest_dir(&store).len(), 1);
    drop(first);
    assert!(ingest_dir(&store).is_empty(), "{:?}", ingest_dir(&store));
    assert!(files_under(&store.root().join("blobs")).is_empty());
    // Nothing shared any more: the next ingest writes afresh.
    let w = writer(store.ingest(&digest, None).unwrap());
    assert_eq!(w.offset(), 0);
}

#[test]
fn staged_bytes_are_readable_at_their_path_until_commit() {
    let (_t, store) = new_store();
    let known = data(70_000, 400);
    let mut w = writer(store.ingest(&Digest::sha256_of(&known), None).unwrap());
    w.write_all(&known).unwrap();
    let a = w.finish().unwrap();
    let mut u = store.ingest_unknown(Algorithm::Sha256).unwrap();
    u.write_all(b"unknown").unwrap();
    let b = u.finish().unwrap();
    let c = store.stage_bytes(b"small", Algorithm::Sha256).unwrap();
    assert_eq!(std::fs::read(a.path()).unwrap(), known);
    assert_eq!(std::fs::read(b.path()).unwrap(), b"unknown");
    assert_eq!(std::fs::read(c.path()).unwrap(), b"small");
    store.commit(vec![c], |_| Ok(())).unwrap();
    let c = store.stage_bytes(b"small", Algorithm::Sha256).unwrap();
    assert_eq!(c.path(), store.blob_path(c.digest()), "already committed");
    assert_eq!(std::fs::read(c.path()).unwrap(), b"small");
    let digests = [a.digest().clone(), b.digest().clone()];
    store.commit(vec![a, b, c], |_| Ok(())).unwrap();
    for d in digests {
        assert!(store.list_blobs().unwrap().contains_key(&d));
    }
    assert!(ingest_dir(&store).is_empty(), "{:?}", ingest_dir(&store));
}
