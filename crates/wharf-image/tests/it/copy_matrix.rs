//! `copy` between every pair of endpoint kinds: the store, a registry, an OCI layout
//! directory, an OCI archive and a docker-archive. Whatever the path, the image that
//! arrives is the one that left: the same config (so the same image ID), the same layer
//! content (diff_ids), and — unless a docker-archive's uncompressed layers had to be
//! compressed again on the way — the same manifest digest.

use std::path::Path;

use crate::run;
use wharf_client::Client;
use wharf_image::copy::{copy, CopyOptions, Location};
use wharf_spec::descriptor::ANNOTATION_REF_NAME;
use wharf_spec::{Digest, Reference};
use wharf_store::Store;
use wharf_testkit::fixtures::{
    client, image_from_layers, push_image, reference, Image, Layer, LayerTar,
};
use wharf_testkit::registry::{Auth, Registry};
use wharf_testkit::registry_or_skip;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Store,
    Registry,
    OciDir,
    OciArchive,
    DockerArchive,
}

const KINDS: [Kind; 5] = [
    Kind::Store,
    Kind::Registry,
    Kind::OciDir,
    Kind::OciArchive,
    Kind::DockerArchive,
];

/// One copy's endpoints live in `dir`; registry repositories are named after `tag`.
fn location(kind: Kind, registry: &Registry, dir: &Path, tag: &str) -> Location {
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let spec = match kind {
        Kind::Store => format!("wharf:matrix/{tag}:1"),
        Kind::Registry => format!("docker://{}/matrix/{tag}:1", registry.host),
        Kind::OciDir => format!("oci:{}:{tag}", path(&format!("{tag}-layout"))),
        Kind::OciArchive => format!("oci-archive:{}:{tag}", path(&format!("{tag}.oci.tar"))),
        Kind::DockerArchive => format!(
            "docker-archive:{}:matrix/{tag}:1",
            path(&format!("{tag}.docker.tar"))
        ),
    };
    Location::parse(&spec).unwrap()
}

/// An image with two real layers (uncompressed OCI tars, so a docker-archive holds them
/// byte for byte): a base with a directory, a file and a symlink, and a layer on top.
fn fixture() -> Image {
    let base = LayerTar::new()
        .dir("etc")
        .file("etc/os-release", b"ID=matrix\n")
        .symlink("etc/alias", "os-release")
        .finish();
    let app = LayerTar::new()
        .dir("app")
        .file_mode("app/run", b"#!/bin/sh\necho matrix\n", 0o755)
        .finish();
    image_from_layers(
        "linux/amd64",
        vec![Layer::plain(base), Layer::plain(app)],
        7,
    )
}

/// What any copy must keep, read back from the store the image was finally copied into.
#[derive(Debug, PartialEq, Eq)]
struct Identity {
    config: Digest,
    diff_ids: Vec<Digest>,
}

fn identity_in(store: &Store, name: &str) -> (Identity, Digest) {
    let found = wharf_image::catalog::find(store, name, None).unwrap();
    let resolved = found.resolved;
    let diff_ids = resolved.config.rootfs.diff_ids;
    (
        Identity {
            config: resolved.config_descriptor.digest,
            diff_ids,
        },
        resolved.manifest_descriptor.digest,
    )
}

async fn copy_ok(store: &Store, client: &Client, from: &Location, to: &Location) -> Digest {
    match copy(
        Some(store),
        client,
        from,
        to,
        &CopyOptions::default(),
        &|_| {},
    )
    .await
    {
        Ok(report) => report.digest,
        Err(e) => panic!("copy {from} → {to} failed: {e}"),
    }
}

#[test]
fn every_source_kind_copies_to_every_destination_kind() {
    let registry = registry_or_skip!(Auth::None);
    let client = client();
    let image = fixture();
    let seed = reference(&registry.host, "matrix/seed:1");
    run(push_image(&client, &seed, &image));
    let want = Identity {
        config: image.config_descriptor().digest,
        diff_ids: image.layers.iter().map(Layer::diff_id).collect(),
    };
    let seed = Location::Registry(Reference::parse_normalized(&seed.to_string()).unwrap());

    for (i, from_kind) in KINDS.into_iter().enumerate() {
        for (j, to_kind) in KINDS.into_iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path().join("store")).unwrap();
            let case = format!("{from_kind:?} → {to_kind:?}");
            let from = location(from_kind, &registry, dir.path(), &format!("src{i}{j}"));
            let to = location(to_kind, &registry, dir.path(), &format!("dst{i}{j}"));
            run(async {
                copy_ok(&store, &client, &seed, &from).await;
                let sent = copy_ok(&store, &client, &from, &to).await;
                // Read the destination back (a file or registry through a fresh store):
                // what arrived there.
                let (got, manifest) = match &to {
                    Location::Store(name) => identity_in(&store, name),
                    _ => {
                        let check = Store::open(dir.path().join("check")).unwrap();
                        let back = Location::Store("matrix/check:1".into());
                        copy_ok(&check, &client, &to, &back).await;
                        identity_in(&check, "matrix/check:1")
                    }
                };
                assert_eq!(got, want, "{case}: the image changed on the way");
                let through_docker_archive =
                    from_kind == Kind::DockerArchive || to_kind == Kind::DockerArchive;
                if !through_docker_archive {
                    assert_eq!(
                        &manifest,
                        image.manifest.digest(),
                        "{case}: the manifest digest changed"
                    );
                    assert_eq!(&sent, image.manifest.digest(), "{case}: reported digest");
                }
            });
        }
    }
}

#[test]
fn a_file_source_copied_into_the_store_leaves_only_the_destination_name() {
    let registry = registry_or_skip!(Auth::None);
    let client = client();
    let seed = reference(&registry.host, "matrix/names:1");
    run(push_image(&client, &seed, &fixture()));
    let seed = Location::Registry(Reference::parse_normalized(&seed.to_string()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let layout = Location::parse(&format!("oci:{}:v1", dir.path().join("l").display())).unwrap();
    let scratch = Store::open(dir.path().join("scratch")).unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    run(async {
        copy_ok(&scratch, &client, &seed, &layout).await;
        copy_ok(
            &store,
            &client,
            &layout,
            &Location::Store("wanted:1".into()),
        )
        .await;
    });
    let names: Vec<String> = store
        .read_index()
        .unwrap()
        .manifests
        .iter()
        .filter_map(|d| d.annotation(ANNOTATION_REF_NAME).map(str::to_string))
        .collect();
    assert_eq!(names, ["docker.io/library/wanted:1"]);
}
