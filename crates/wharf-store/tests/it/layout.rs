use wharf_store::{Store, StoreError};

use crate::{commit_image, names};

#[test]
fn open_creates_an_oci_layout_and_reopens_it() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("a/b/store");
    let store = Store::open(&root).unwrap();
    assert_eq!(store.root(), root);
    let layout: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout, serde_json::json!({"imageLayoutVersion": "1.0.0"}));
    let index = store.read_index().unwrap();
    assert_eq!(index.schema_version, 2);
    assert!(index.manifests.is_empty());
    assert!(root.join("blobs").is_dir());
    assert!(root.join(".wharf").is_dir());

    commit_image(&store, "x:1", &[(1, 10)]);
    let again = Store::open(&root).unwrap();
    assert_eq!(names(&again), vec!["x:1"]);
}

#[test]
fn relative_root_is_made_absolute() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path().join("s/../s2")).unwrap();
    assert!(store.root().is_absolute());
}

#[test]
fn unsupported_layout_version_is_named() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"2.0.0"}"#,
    )
    .unwrap();
    let err = Store::open(t.path()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::UnsupportedLayout { .. }), "{msg}");
    assert!(msg.contains("oci-layout") && msg.contains("2.0.0"), "{msg}");

    std::fs::write(t.path().join("oci-layout"), "nope").unwrap();
    let msg = Store::open(t.path()).unwrap_err().to_string();
    assert!(
        msg.contains("oci-layout") && msg.contains("not valid JSON"),
        "{msg}"
    );
}

#[test]
fn malformed_index_json_is_named_not_overwritten() {
    let t = tempfile::tempdir().unwrap();
    Store::open(t.path()).unwrap();
    let index = t.path().join("index.json");
    for (body, want) in [
        (&b"{\"schemaVersion\":2,"[..], "not a valid OCI image index"),
        (br#"{"schemaVersion":1,"manifests":[]}"#, "`schemaVersion` is 1"),
        (br#"{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:zz","size":1}]}"#, "not a valid OCI image index"),
        (br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","manifests":[]}"#, "`mediaType`"),
        (b"\xff\xfe", "not a valid OCI image index"),
    ] {
        std::fs::write(&index, body).unwrap();
        let err = Store::open(t.path()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, StoreError::CorruptIndex { .. }), "{msg}");
        assert!(msg.contains("index.json") && msg.contains(want), "want {want:?}: {msg}");
        assert_eq!(std::fs::read(&index).unwrap(), body, "open must not repair by overwriting");
    }
    std::fs::remove_file(&index).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", &index).unwrap();
    assert!(matches!(
        Store::open(t.path()),
        Err(StoreError::NotARegularFile(_))
    ));
}

#[test]
fn a_non_empty_non_layout_directory_is_refused() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("notes.txt"), "mine").unwrap();
    let msg = Store::open(t.path()).unwrap_err().to_string();
    assert!(
        msg.contains("notes.txt") && msg.contains("no `oci-layout`"),
        "{msg}"
    );
    assert!(!t.path().join("index.json").exists());
}

#[test]
fn a_layout_written_by_another_tool_opens_and_keeps_its_entries() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    // What skopeo/umoci write: no mediaType on the index, compact JSON.
    let store = Store::open(root.join("tmp-build")).unwrap();
    let img = commit_image(&store, "v1", &[(1, 10)]);
    std::fs::rename(root.join("tmp-build/blobs"), root.join("blobs")).unwrap();
    std::fs::write(
        root.join("oci-layout"),
        r#"{"imageLayoutVersion": "1.0.0"}"#,
    )
    .unwrap();
    let entry = serde_json::to_string(&img.desc).unwrap();
    std::fs::write(
        root.join("index.json"),
        format!(r#"{{"schemaVersion":2,"manifests":[{entry}]}}"#),
    )
    .unwrap();

    let store = Store::open(root).unwrap();
    assert_eq!(names(&store), vec!["v1"]);
    assert!(store.fsck(false).unwrap().is_clean());
    commit_image(&store, "v2", &[(2, 10)]);
    assert_eq!(names(&store), vec!["v1", "v2"]);
}

#[test]
fn handles_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Store>();
    send_sync::<StoreError>();
    send::<wharf_store::Ingest>();
    send::<wharf_store::StagedBlob>();
    send::<wharf_store::StoreGuard>();
}

#[test]
fn open_inside_a_commit_does_not_deadlock() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path()).unwrap();
    store
        .update_index(|_| Store::open(t.path()).map(drop))
        .unwrap();
}
