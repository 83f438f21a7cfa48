//! A referrer's `subject` is a weak link: a signature or SBOM may travel without the image
//! it is about (the distribution-spec lets it be pushed first), so no walk requires it.

use wharf_image::load::{load, LoadOptions};
use wharf_store::Store;
use wharf_testkit::fixtures::{artifact, random_image, write_image_layout};

#[test]
fn a_layout_holding_a_referrer_without_its_subject_loads_and_gc_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let subject = random_image("linux/amd64", &[64], 5);
    let signature = artifact(
        &subject.manifest.descriptor(),
        "application/vnd.dev.cosign.artifact.sig.v1+json",
        b"signed",
    );
    // The layout: the signature only (its manifest, config and payload), no subject.
    let layout = dir.path().join("layout");
    write_image_layout(&layout, &signature, "sig");

    let store = Store::open(dir.path().join("store")).unwrap();
    let options = LoadOptions {
        tag: Some(wharf_spec::Reference::parse_normalized("signatures/app").unwrap()),
    };
    load(&store, &layout, &options).expect("a referrer loads without its subject");
    assert!(store
        .blob_size(signature.manifest.digest())
        .unwrap()
        .is_some());

    // Reachability names no missing blob for the absent subject, and gc keeps the
    // referrer and its blobs.
    let reach = store.reachable().unwrap();
    assert!(reach.missing.is_empty(), "{:?}", reach.missing);
    store.gc().unwrap();
    for blob in [
        signature.manifest.digest().clone(),
        signature.config_digest(),
        signature.layers[0].digest(),
    ] {
        assert!(
            store.blob_size(&blob).unwrap().is_some(),
            "gc removed {blob}"
        );
    }
}
