//! `unpack_streamed` keeping the image in the store: the first layer streamed into both
//! DIR and the store, the others downloaded into the store ahead and applied from there.
//! A good image ends named in the store with every blob intact; a layer that fails its
//! digest leaves no DIR and no image.

use crate::run;
use wharf_image::copy::{open_source, Location};
use wharf_image::engine::Select;
use wharf_image::unpack::{unpack_streamed, Keep};
use wharf_spec::Reference;
use wharf_store::Store;
use wharf_testkit::fixtures::{client, wasteful_image, write_image_layout};

fn unpack_kept(
    layout: &std::path::Path,
    store: &Store,
    dir: &std::path::Path,
) -> wharf_image::Result<()> {
    let keep = Keep {
        store: store.clone(),
        name: Reference::parse_normalized("kept:1").unwrap(),
    };
    let location = Location::parse(&format!("oci:{}", layout.display())).unwrap();
    run(async {
        let source = open_source(None, &client(), &location).await?;
        unpack_streamed(source.as_ref(), &Select::default(), dir, Some(&keep)).await?;
        Ok(())
    })
}

#[test]
fn a_kept_streamed_unpack_stores_every_layer_and_names_the_image() {
    let tmp = tempfile::tempdir().unwrap();
    let image = wasteful_image();
    let layout = tmp.path().join("layout");
    write_image_layout(&layout, &image, "1");
    let store = Store::open(tmp.path().join("store")).unwrap();
    let dir = tmp.path().join("rootfs");
    unpack_kept(&layout, &store, &dir).unwrap();
    // The merged tree: layer 1's whiteout and opaque directory, layer 2's rewrite.
    assert!(!dir.join("big").exists());
    assert_eq!(std::fs::read(dir.join("dir/c")).unwrap(), vec![3u8; 30]);
    assert!(!dir.join("dir/a").exists());
    assert_eq!(std::fs::read(dir.join("new")).unwrap(), b"12345678");
    for layer in &image.layers {
        assert_eq!(
            store.blob_size(&layer.digest()).unwrap(),
            Some(layer.blob.len() as u64)
        );
    }
    let index = store.read_index().unwrap();
    assert_eq!(index.manifests.len(), 1, "one image named");
    let named = serde_json::to_string(&index.manifests[0]).unwrap();
    assert!(named.contains("kept:1"), "{named}");
    let report = store.fsck(false).unwrap();
    assert!(report.corrupt.is_empty() && report.missing.is_empty() && report.orphaned.is_empty());
}

#[test]
fn a_layer_fetched_ahead_that_fails_its_digest_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let image = wasteful_image();
    let layout = tmp.path().join("layout");
    write_image_layout(&layout, &image, "1");
    let last = image.layers.last().unwrap();
    let mut wrong = last.blob.clone();
    let end = wrong.len() - 1;
    wrong[end] ^= 1;
    std::fs::write(
        layout.join("blobs/sha256").join(last.digest().hex()),
        &wrong,
    )
    .unwrap();
    let store = Store::open(tmp.path().join("store")).unwrap();
    let dir = tmp.path().join("rootfs");
    let err = unpack_kept(&layout, &store, &dir).unwrap_err();
    assert!(
        err.to_string().contains(&format!("`{}`", last.digest()))
            && err.to_string().contains("does not match its digest"),
        "{err}"
    );
    assert!(!dir.exists(), "no target after a failed unpack");
    assert!(
        store.read_index().unwrap().manifests.is_empty(),
        "no image named"
    );
    assert_eq!(store.blob_size(&last.digest()).unwrap(), None);
}

/// An image naming the same layer twice (empty layers often repeat) unpacks kept: the
/// second copy is not fetched while the first is written, and both are applied.
#[test]
fn a_layer_named_twice_is_stored_once_and_applied_twice() {
    use wharf_testkit::fixtures::{image, layer};
    let tmp = tempfile::tempdir().unwrap();
    let base = layer(&[("a", b"1")]);
    let repeated = image(
        "twice",
        vec![base.clone(), layer(&[("b", b"2")]), base.clone()],
    );
    let layout = tmp.path().join("layout");
    write_image_layout(&layout, &repeated, "1");
    let store = Store::open(tmp.path().join("store")).unwrap();
    let dir = tmp.path().join("rootfs");
    unpack_kept(&layout, &store, &dir).unwrap();
    assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"1");
    assert_eq!(std::fs::read(dir.join("b")).unwrap(), b"2");
    assert_eq!(
        store.blob_size(&base.digest()).unwrap(),
        Some(base.blob.len() as u64)
    );
    assert!(store.fsck(false).unwrap().corrupt.is_empty());
}

/// Layers the store holds already are read from it, not from the source again: with
/// every layer blob of the source damaged after a first kept unpack, a second succeeds.
#[test]
fn layers_the_store_holds_are_read_from_it() {
    let tmp = tempfile::tempdir().unwrap();
    let image = wasteful_image();
    let layout = tmp.path().join("layout");
    write_image_layout(&layout, &image, "1");
    let store = Store::open(tmp.path().join("store")).unwrap();
    unpack_kept(&layout, &store, &tmp.path().join("first")).unwrap();
    // The same sizes (the layout's graph checks them), other bytes.
    for layer in &image.layers {
        let damaged: Vec<u8> = layer.blob.iter().map(|b| !b).collect();
        std::fs::write(
            layout.join("blobs/sha256").join(layer.digest().hex()),
            damaged,
        )
        .unwrap();
    }
    let again = tmp.path().join("again");
    unpack_kept(&layout, &store, &again).unwrap();
    assert_eq!(std::fs::read(again.join("new")).unwrap(), b"12345678");
}
