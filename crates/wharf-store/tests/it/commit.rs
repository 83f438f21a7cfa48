use wharf_spec::descriptor::ANNOTATION_REF_NAME;
use wharf_spec::{
    media_type, Algorithm, Descriptor, Digest, ImageIndex, ImageManifest, RawManifest,
};
use wharf_store::StoreError;

use crate::{commit_image, data, files_under, image, names, new_store, put, tag};

#[test]
fn commit_publishes_blobs_and_index_entry() {
    let (_t, store) = new_store();
    let img = commit_image(&store, "app:1", &[(1, 5000), (2, 70_000)]);
    for d in img.all_blobs() {
        assert!(store.blob_size(&d).unwrap().is_some(), "{d} missing");
    }
    assert_eq!(names(&store), vec!["app:1"]);
    let index = store.read_index().unwrap();
    assert_eq!(index.manifests[0], img.desc);
    let r = store.reachable().unwrap();
    assert!(r.missing.is_empty() && r.unreadable.is_empty());
    assert_eq!(r.present.len(), 4);
}

#[test]
fn index_json_is_an_oci_index_with_stable_entry_order() {
    let (_t, store) = new_store();
    let a = commit_image(&store, "b:latest", &[(1, 10)]);
    commit_image(&store, "a:latest", &[(2, 10)]);
    commit_image(&store, "c:latest", &[(3, 10)]);
    // Retagging in place keeps the position.
    store
        .update_index(|i| {
            tag(i, "a:latest", &a.desc);
            Ok(())
        })
        .unwrap();
    assert_eq!(names(&store), vec!["b:latest", "a:latest", "c:latest"]);
    let raw = std::fs::read_to_string(store.root().join("index.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(v["schemaVersion"], 2);
    assert_eq!(v["mediaType"], media_type::OCI_INDEX);
    assert_eq!(v["manifests"].as_array().unwrap().len(), 3);
    assert!(raw.ends_with('\n'));
}

#[test]
fn missing_blob_fails_the_commit_and_changes_nothing() {
    let (_t, store) = new_store();
    commit_image(&store, "keep:1", &[(1, 100)]);
    let before = std::fs::read(store.root().join("index.json")).unwrap();

    let mut img = image(&store, "broken:1", &[(2, 100), (3, 100)]);
    let lost_layer = img.layers[1].clone();
    img.staged.retain(|b| b.digest() != &lost_layer);
    let desc = img.desc.clone();
    let err = store
        .commit(std::mem::take(&mut img.staged), |i| {
            i.manifests.push(desc);
            Ok(())
        })
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::MissingBlob { .. }), "{msg}");
    assert!(msg.contains(&lost_layer.to_string()), "{msg}");
    assert!(
        msg.contains(&format!("manifest `{}`", img.manifest)),
        "{msg}"
    );

    assert_eq!(
        std::fs::read(store.root().join("index.json")).unwrap(),
        before
    );
    for d in [&img.manifest, &img.config, &img.layers[0]] {
        assert_eq!(
            store.blob_size(d).unwrap(),
            None,
            "{d} must not be published"
        );
    }
    assert!(files_under(&store.root().join(".wharf/tmp")).is_empty());
    assert!(files_under(&store.root().join(".wharf/ingest")).is_empty());
}

#[test]
fn missing_manifest_named_by_index_entry() {
    let (_t, store) = new_store();
    let ghost = Digest::sha256_of(b"never stored");
    let mut d = Descriptor::new(media_type::OCI_MANIFEST, ghost.clone(), 12);
    d.set_annotation(ANNOTATION_REF_NAME, "ghost:1");
    let err = store
        .update_index(|i| {
            i.manifests.push(d);
            Ok(())
        })
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&ghost.to_string()) && err.contains("`index.json` entry `ghost:1`"),
        "{err}"
    );
    assert!(store.read_index().unwrap().manifests.is_empty());
}

#[test]
fn descriptor_size_must_match_the_blob() {
    let (_t, store) = new_store();
    let img = commit_image(&store, "x:1", &[(1, 100)]);
    let mut bad = img.desc.clone();
    bad.size += 1;
    let err = store
        .update_index(|i| {
            tag(i, "y:1", &bad);
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::SizeMismatch { .. }), "{err}");
}

#[test]
fn failing_update_writes_nothing_and_drops_staged_blobs() {
    let (_t, store) = new_store();
    let before = std::fs::read(store.root().join("index.json")).unwrap();
    let mut img = image(&store, "x:1", &[(1, 100)]);
    let err = store
        .commit(
            std::mem::take(&mut img.staged),
            |i| -> Result<(), StoreError> {
                i.manifests.clear();
                Err(StoreError::update("no such tag `x:2`"))
            },
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "no such tag `x:2`");
    assert_eq!(
        std::fs::read(store.root().join("index.json")).unwrap(),
        before
    );
    assert!(files_under(&store.root().join("blobs")).is_empty());
    assert!(files_under(&store.root().join(".wharf/tmp")).is_empty());
}

#[test]
fn update_returns_its_value_and_untag_needs_no_blobs() {
    let (_t, store) = new_store();
    commit_image(&store, "a:1", &[(1, 10)]);
    commit_image(&store, "b:1", &[(2, 10)]);
    let removed = store
        .update_index(|i| {
            let n = i.manifests.len();
            i.manifests
                .retain(|d| d.annotation(ANNOTATION_REF_NAME) != Some("a:1"));
            Ok(n - i.manifests.len())
        })
        .unwrap();
    assert_eq!(removed, 1);
    assert_eq!(names(&store), vec!["b:1"]);
}

#[test]
fn nested_index_children_are_checked() {
    let (_t, store) = new_store();
    let amd = image(&store, "unused", &[(1, 100)]);
    let arm = image(&store, "unused", &[(2, 100)]);
    let child = |img: &crate::Img| {
        Descriptor::new(
            media_type::OCI_MANIFEST,
            img.manifest.clone(),
            img.desc.size,
        )
    };
    let index = ImageIndex {
        manifests: vec![child(&amd), child(&arm)],
        ..ImageIndex::empty()
    };
    let bytes = serde_json::to_vec(&index).unwrap();
    let staged_index = store.stage_bytes(&bytes, Algorithm::Sha256).unwrap();
    let mut desc = Descriptor::new(
        media_type::OCI_INDEX,
        staged_index.digest().clone(),
        bytes.len() as u64,
    );
    desc.set_annotation(ANNOTATION_REF_NAME, "multi:1");

    // Without arm's blobs the commit is refused, naming the index that references them.
    let amd_only: Vec<_> = amd.staged.into_iter().chain([staged_index]).collect();
    let err = store
        .commit(amd_only, |i| {
            i.manifests.push(desc.clone());
            Ok(())
        })
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&arm.manifest.to_string()) && err.contains("index `"),
        "{err}"
    );

    let staged_index = store.stage_bytes(&bytes, Algorithm::Sha256).unwrap();
    let amd = image(&store, "unused", &[(1, 100)]);
    let all: Vec<_> = amd
        .staged
        .into_iter()
        .chain(arm.staged)
        .chain([staged_index])
        .collect();
    store
        .commit(all, |i| {
            i.manifests.push(desc.clone());
            Ok(())
        })
        .unwrap();
    assert_eq!(store.reachable().unwrap().present.len(), 1 + 2 * 3);
}

#[test]
fn unparseable_manifest_is_refused() {
    let (_t, store) = new_store();
    let staged = store.stage_bytes(b"not json", Algorithm::Sha256).unwrap();
    let mut d = Descriptor::new(media_type::OCI_MANIFEST, staged.digest().clone(), 8);
    d.set_annotation(ANNOTATION_REF_NAME, "junk:1");
    let err = store
        .commit(vec![staged], |i| {
            i.manifests.push(d);
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidManifest { .. }), "{err}");
}

#[test]
fn manifest_with_subject_needs_the_subject() {
    let (_t, store) = new_store();
    let base = commit_image(&store, "base:1", &[(1, 10)]);
    let cfg = store.stage_bytes(b"{}", Algorithm::Sha256).unwrap();
    let referrer = RawManifest::from_image(&ImageManifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.into()),
        artifact_type: Some("application/vnd.example.sig".into()),
        config: Descriptor::new(media_type::OCI_EMPTY, cfg.digest().clone(), 2),
        layers: vec![],
        subject: Some(base.desc.clone()),
        annotations: None,
    });
    let m = store
        .stage_bytes(referrer.bytes(), Algorithm::Sha256)
        .unwrap();
    let mut d = referrer.descriptor();
    d.set_annotation(ANNOTATION_REF_NAME, "sig:1");
    store
        .commit(vec![cfg, m], |i| {
            i.manifests.push(d.clone());
            Ok(())
        })
        .unwrap();
    // Untag the base: the signature still keeps it reachable through `subject`.
    store
        .update_index(|i| {
            i.manifests
                .retain(|e| e.annotation(ANNOTATION_REF_NAME) != Some("base:1"));
            Ok(())
        })
        .unwrap();
    let report = store.gc().unwrap();
    assert!(report.removed.is_empty(), "{report:?}");
    assert!(store.blob_size(&base.layers[0]).unwrap().is_some());
}

#[test]
fn threads_committing_concurrently_lose_no_entries() {
    let (_t, store) = new_store();
    let base = commit_image(&store, "base:0", &[(1, 100)]);
    std::thread::scope(|s| {
        for t in 0..8 {
            let store = store.clone();
            let desc = base.desc.clone();
            s.spawn(move || {
                for n in 0..15 {
                    // Each commit also publishes a blob of its own.
                    let blob = put(&store, &data(2000, 1000 + t * 100 + n));
                    store
                        .commit(vec![blob], |i| {
                            tag(i, &format!("t{t}:{n}"), &desc);
                            Ok(())
                        })
                        .unwrap();
                }
            });
        }
    });
    let names = names(&store);
    assert_eq!(names.len(), 1 + 8 * 15);
    for t in 0..8 {
        for n in 0..15 {
            assert!(names.contains(&format!("t{t}:{n}")));
        }
    }
}

#[test]
fn existing_corrupt_copy_is_replaced_by_a_verified_one() {
    let (_t, store) = new_store();
    let bytes = data(1000, 5);
    let b = put(&store, &bytes);
    let d = b.digest().clone();
    store.commit(vec![b], |_| Ok(())).unwrap();
    // Truncated on disk (say, by a crash of something that is not wharf).
    std::fs::write(store.blob_path(&d), &bytes[..10]).unwrap();
    let staged = store.stage_bytes(&bytes, Algorithm::Sha256).unwrap();
    store.commit(vec![staged], |_| Ok(())).unwrap();
    assert_eq!(store.read_blob(&d, 1000).unwrap(), bytes);
}
