use std::io::Write;
use std::os::unix::fs::symlink;

use wharf_spec::descriptor::ANNOTATION_REF_NAME;
use wharf_spec::{Algorithm, Digest, MAX_MANIFEST_SIZE};
use wharf_store::{IngestStart, LayerInfo, StoreError, StrayKind};

use crate::{commit_image, data, files_under, new_store, put};

fn untag(store: &wharf_store::Store, name: &str) {
    store
        .update_index(|i| {
            i.manifests
                .retain(|d| d.annotation(ANNOTATION_REF_NAME) != Some(name));
            Ok(())
        })
        .unwrap();
}

#[test]
fn gc_removes_only_unreachable_blobs() {
    let (_t, store) = new_store();
    // Both images share layer (1, 4000), like debian-python on debian-minbase.
    let a = commit_image(&store, "a:1", &[(1, 4000), (2, 3000)]);
    let b = commit_image(&store, "b:1", &[(1, 4000), (3, 2000)]);
    let loose = put(&store, &data(777, 9));
    let loose_digest = loose.digest().clone();
    store.commit(vec![loose], |_| Ok(())).unwrap();

    // a: manifest, config, 2 layers; b: manifest, config, 1 new layer; the loose blob.
    assert_eq!(store.list_blobs().unwrap().len(), 4 + 3 + 1);
    let report = store.gc().unwrap();
    assert_eq!(report.removed, vec![loose_digest.clone()]);
    assert_eq!(report.reclaimed_bytes, 777);

    untag(&store, "a:1");
    let report = store.gc().unwrap();
    let mut expected = vec![a.manifest.clone(), a.config.clone(), a.layers[1].clone()];
    expected.sort();
    let mut removed = report.removed.clone();
    removed.sort();
    assert_eq!(removed, expected);
    for d in b.all_blobs() {
        assert!(
            store.blob_size(&d).unwrap().is_some(),
            "{d} is still referenced by b:1"
        );
    }
    assert!(store.fsck(false).unwrap().is_clean());
}

#[test]
fn gc_removes_stale_ingests_and_temp_files_but_not_live_ones() {
    let (_t, store) = new_store();
    let bytes = data(10_000, 1);
    let digest = Digest::sha256_of(&bytes);
    let IngestStart::Writer(mut w) = store.ingest(&digest, None).unwrap() else {
        panic!()
    };
    w.write_all(&bytes[..5000]).unwrap();
    drop(w); // abandoned: its lock is free
    let crashed_tmp = store.root().join(".wharf/tmp/12345-0-0.tmp");
    std::fs::write(&crashed_tmp, b"left by kill -9").unwrap();

    // Live writers in another thread hold their locks across the gc.
    let live_bytes = data(100, 2);
    let live_digest = Digest::sha256_of(&live_bytes);
    let IngestStart::Writer(mut live) = store.ingest(&live_digest, Some(100)).unwrap() else {
        panic!()
    };
    live.write_all(&live_bytes[..50]).unwrap();
    live.flush().unwrap();
    let mut live_unknown = store.ingest_unknown(Algorithm::Sha256).unwrap();
    live_unknown.write_all(b"streaming").unwrap();
    live_unknown.flush().unwrap();

    // A finished, uncommitted blob is live; a verified file nobody holds is not.
    let held_bytes = data(300, 3);
    let held = crate::put(&store, &held_bytes);
    let orphaned_verified = store.root().join(".wharf/ingest").join(format!(
        "sha256-{}.verified",
        Digest::sha256_of(b"dead").hex()
    ));
    std::fs::write(&orphaned_verified, b"dead").unwrap();

    // Expected state after crashes, not damage: the abandoned partial and the unheld
    // verified copy are resumable, the temp file is a leftover.
    let report = store.fsck(false).unwrap();
    assert!(report.is_clean(), "{report:?}");
    let mut sizes: Vec<u64> = report.resumable.iter().map(|l| l.size).collect();
    sizes.sort();
    assert_eq!(sizes, vec![4, 5000], "{report:?}");
    assert_eq!(report.leftover.len(), 1, "{report:?}");
    assert_eq!(report.leftover[0].path, crashed_tmp);
    let gc = {
        let store = store.clone();
        std::thread::spawn(move || store.gc().unwrap())
    };
    let report = gc.join().unwrap();
    assert_eq!(report.removed_files.len(), 3, "{report:?}");
    assert_eq!(report.reclaimed_bytes, 5000 + 15 + 4);
    assert!(!crashed_tmp.exists() && !orphaned_verified.exists());
    store.commit(vec![held], |_| Ok(())).unwrap();
    assert_eq!(
        store
            .read_blob(&Digest::sha256_of(&held_bytes), 300)
            .unwrap(),
        held_bytes
    );

    live.write_all(&live_bytes[50..]).unwrap();
    let staged = live.finish().unwrap();
    let unknown = live_unknown.finish().unwrap();
    store.commit(vec![staged, unknown], |_| Ok(())).unwrap();
    assert_eq!(store.read_blob(&live_digest, 100).unwrap(), live_bytes);
}

#[test]
fn fsck_finds_corrupt_missing_orphaned_and_stray_and_repair_fixes_all_but_missing() {
    let (_t, store) = new_store();
    let img = commit_image(&store, "app:1", &[(1, 3 << 20), (2, 1000), (3, 500)]);
    assert!(store.fsck(false).unwrap().is_clean());

    // Corrupt: flip one byte of a layer.
    let corrupt = img.layers[0].clone();
    let path = store.blob_path(&corrupt);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1 << 20] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    // Missing: delete another layer.
    let missing = img.layers[1].clone();
    std::fs::remove_file(store.blob_path(&missing)).unwrap();
    // Orphan: a committed blob nothing references.
    let orphan = put(&store, &data(321, 4));
    let orphan_digest = orphan.digest().clone();
    store.commit(vec![orphan], |_| Ok(())).unwrap();
    // Strays: a symlink with a blob's name, junk names, a stale ingest.
    let sha = store.root().join("blobs/sha256");
    let link_digest = Digest::sha256_of(b"link");
    symlink("/etc/passwd", sha.join(link_digest.hex())).unwrap();
    std::fs::write(sha.join("not-a-digest"), b"x").unwrap();
    std::fs::write(sha.join("abc"), b"wrong length").unwrap();
    std::fs::write(store.root().join("blobs/stray-file"), b"x").unwrap();
    std::fs::create_dir(store.root().join("blobs/md5")).unwrap();
    let partial_digest = Digest::sha256_of(b"partial");
    let IngestStart::Writer(mut w) = store.ingest(&partial_digest, None).unwrap() else {
        panic!()
    };
    w.write_all(b"part").unwrap();
    drop(w);

    let report = store.fsck(false).unwrap();
    assert!(!report.is_clean());
    let problems = report.problems();
    assert_eq!(problems.len(), 1 + 1 + 1 + 5, "{problems:#?}");
    assert!(problems
        .iter()
        .any(|p| p.starts_with(&format!("corrupt blob `{corrupt}`"))));
    assert!(problems
        .iter()
        .any(|p| p.starts_with(&format!("missing blob `{missing}`"))));
    assert!(problems
        .iter()
        .any(|p| p.starts_with(&format!("orphaned blob `{orphan_digest}` (321 bytes)"))));
    assert!(problems
        .iter()
        .any(|p| p.contains("symlink (never followed)")));
    // Manifest, config and 3 layers, less the missing one, plus the orphan.
    assert_eq!(report.checked, 5 - 1 + 1);
    assert_eq!(report.corrupt.len(), 1, "{report:?}");
    assert_eq!(report.corrupt[0].digest, corrupt);
    assert_eq!(report.corrupt[0].actual, Some(Digest::sha256_of(&bytes)));
    assert_eq!(report.missing.len(), 1);
    assert_eq!(report.missing[0].0, missing);
    assert!(report.missing[0].1.contains(&img.manifest.to_string()));
    assert_eq!(report.orphaned, vec![(orphan_digest.clone(), 321)]);
    let stray_kind = |suffix: &str| {
        report
            .stray
            .iter()
            .find(|s| s.path.to_string_lossy().ends_with(suffix))
            .map(|s| s.kind)
    };
    assert_eq!(stray_kind(link_digest.hex()), Some(StrayKind::Symlink));
    assert_eq!(stray_kind("not-a-digest"), Some(StrayKind::BadName));
    assert_eq!(stray_kind("sha256/abc"), Some(StrayKind::BadName));
    assert_eq!(stray_kind("blobs/stray-file"), Some(StrayKind::BadName));
    assert_eq!(stray_kind("blobs/md5"), Some(StrayKind::BadName));
    // The abandoned partial is a resumable download, not damage.
    let partial_name = format!("sha256-{}.partial", partial_digest.hex());
    assert_eq!(stray_kind(&partial_name), None);
    assert_eq!(report.resumable.len(), 1, "{report:?}");
    assert!(report.resumable[0].path.ends_with(&partial_name));
    assert_eq!(report.resumable[0].size, 4);
    assert_eq!(report.stray.len(), 5, "{:?}", report.stray);
    assert!(report.removed.is_empty(), "a plain fsck changes nothing");
    assert!(store
        .root()
        .join(".wharf/ingest")
        .read_dir()
        .unwrap()
        .next()
        .is_some());

    let repaired = store.fsck(true).unwrap();
    assert_eq!(repaired.removed.len(), 1 + 1 + 5, "{:?}", repaired.removed);
    assert_eq!(
        repaired.lost,
        vec![corrupt.clone()],
        "a referenced blob was corrupt"
    );
    assert!(!repaired.repaired_everything(), "blobs are missing");
    assert!(
        store
            .root()
            .join(".wharf/ingest")
            .join(&partial_name)
            .exists(),
        "repair keeps resumable downloads"
    );
    assert!(
        std::path::Path::new("/etc/passwd").exists(),
        "symlink target untouched"
    );

    let after = store.fsck(false).unwrap();
    assert!(
        after.corrupt.is_empty() && after.orphaned.is_empty() && after.stray.is_empty(),
        "{after:?}"
    );
    assert!(after.unreadable.is_empty());
    let mut still_missing: Vec<_> = after.missing.iter().map(|(d, _)| d.clone()).collect();
    still_missing.sort();
    let mut expected = vec![corrupt, missing];
    expected.sort();
    assert_eq!(still_missing, expected, "repair never edits index.json");
    assert_eq!(store.read_index().unwrap().manifests.len(), 1);
}

#[test]
fn corrupt_manifest_makes_gc_refuse_and_fsck_withhold_orphans() {
    let (_t, store) = new_store();
    let img = commit_image(&store, "app:1", &[(1, 100)]);
    let path = store.blob_path(&img.manifest);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[5] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();

    let err = store.gc().unwrap_err();
    assert!(matches!(err, StoreError::GcUnsafe { .. }), "{err}");
    assert!(err.to_string().contains(&img.manifest.to_string()), "{err}");
    for d in img.all_blobs() {
        assert!(store.blob_size(&d).unwrap().is_some(), "gc deleted {d}");
    }
    let report = store.fsck(false).unwrap();
    assert_eq!(report.corrupt.len(), 1);
    assert_eq!(report.unreadable.len(), 1);
    assert!(
        report.orphaned.is_empty(),
        "children of an unreadable manifest are not orphans"
    );
}

#[test]
fn read_blob_verifies_and_caps() {
    let (_t, store) = new_store();
    let b = store.stage_bytes(b"{\"a\":1}", Algorithm::Sha256).unwrap();
    let d = b.digest().clone();
    store.commit(vec![b], |_| Ok(())).unwrap();
    assert_eq!(store.read_blob(&d, 100).unwrap(), b"{\"a\":1}");
    let err = store.read_blob(&d, 3).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::TooLarge {
                size: 7,
                max: 3,
                ..
            }
        ),
        "{err}"
    );
    std::fs::write(store.blob_path(&d), b"{\"a\":2}").unwrap();
    let err = store.read_blob(&d, MAX_MANIFEST_SIZE).unwrap_err();
    assert!(matches!(err, StoreError::CorruptBlob { .. }), "{err}");
    assert!(err.to_string().contains(&d.to_string()));
    let absent = Digest::sha256_of(b"absent");
    let err = store.open_blob(&absent).unwrap_err();
    assert!(
        matches!(&err, StoreError::BlobNotFound(x) if x == &absent),
        "{err}"
    );
    assert!(err.to_string().contains(&absent.to_string()));
}

#[test]
fn symlinks_in_blobs_are_never_followed() {
    let (t, store) = new_store();
    let secret = t.path().join("secret");
    std::fs::write(&secret, b"secret").unwrap();
    let d = Digest::sha256_of(b"secret");
    std::fs::create_dir_all(store.root().join("blobs/sha256")).unwrap();
    symlink(&secret, store.blob_path(&d)).unwrap();
    assert!(matches!(
        store.blob_size(&d),
        Err(StoreError::NotARegularFile(_))
    ));
    assert!(matches!(
        store.open_blob(&d),
        Err(StoreError::NotARegularFile(_))
    ));
    assert!(store.read_blob(&d, 100).is_err());

    // A FIFO must not hang the reader.
    let fifo = Digest::sha256_of(b"fifo");
    let c = std::ffi::CString::new(store.blob_path(&fifo).to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    assert!(matches!(
        store.open_blob(&fifo),
        Err(StoreError::NotARegularFile(_))
    ));

    // A symlinked algorithm directory is not trusted either.
    let (t2, store2) = new_store();
    let elsewhere = t2.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::write(elsewhere.join(d.hex()), b"secret").unwrap();
    symlink(&elsewhere, store2.root().join("blobs/sha256")).unwrap();
    assert!(store2.open_blob(&d).is_err());
    assert!(matches!(
        store2.blob_size(&d),
        Err(StoreError::NotARegularFile(_))
    ));
    let report = store2.fsck(false).unwrap();
    assert_eq!(report.stray.len(), 1);
    assert_eq!(report.stray[0].kind, StrayKind::Symlink);
    store2.fsck(true).unwrap();
    assert!(
        elsewhere.join(d.hex()).exists(),
        "repair removes the link, not its target"
    );
    assert!(store2.fsck(false).unwrap().is_clean());

    // Ingesting the real blob replaces the planted symlink.
    let staged = put(&store, b"secret");
    store.commit(vec![staged], |_| Ok(())).unwrap();
    assert_eq!(store.read_blob(&d, 100).unwrap(), b"secret");
}

#[test]
fn layer_info_round_trips_and_gc_drops_entries_of_removed_blobs() {
    let (_t, store) = new_store();
    let img = commit_image(&store, "a:1", &[(1, 100)]);
    let layer = img.layers[0].clone();
    assert_eq!(store.layer_info(&layer).unwrap(), None);
    let info = LayerInfo {
        diff_id: Digest::sha256_of(b"uncompressed"),
        size: 12,
    };
    store.set_layer_info(&layer, &info).unwrap();
    assert_eq!(store.layer_info(&layer).unwrap(), Some(info.clone()));
    let file = store
        .root()
        .join(".wharf/layers/sha256")
        .join(format!("{}.json", layer.hex()));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(json["diffId"], info.diff_id.to_string());

    std::fs::write(&file, b"{garbage").unwrap();
    assert_eq!(
        store.layer_info(&layer).unwrap(),
        None,
        "a bad cache entry is a miss"
    );
    store.set_layer_info(&layer, &info).unwrap();

    store.gc().unwrap();
    assert!(file.exists(), "layer still referenced");
    untag(&store, "a:1");
    let report = store.gc().unwrap();
    assert!(report.removed_files.contains(&file), "{report:?}");
    assert_eq!(store.layer_info(&layer).unwrap(), None);
    assert!(files_under(&store.root().join(".wharf/layers")).is_empty());
}
