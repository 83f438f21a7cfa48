//! The copy engine's sinks refuse bytes that do not match their digest, whatever the
//! source, and leave nothing half-written: no blob file, no `index.json` entry, no
//! archive, no store name.

use std::path::Path;

use crate::run;
use wharf_image::engine::archive::{OciArchiveSink, OciArchiveSource};
use wharf_image::engine::docker_archive::{self, DockerArchiveSink};
use wharf_image::engine::layout::{LayoutSink, LayoutSource};
use wharf_image::engine::store::StoreSink;
use wharf_image::engine::{copy, ImageSink, Select};
use wharf_image::ImageError;
use wharf_spec::Digest;
use wharf_store::Store;
use wharf_testkit::fixtures::{
    gzip, image_from_layers, tar_members, write_image_layout, Image, Layer, Member,
};

/// Writes `image` as an OCI layout at `dir`, named `tag`, with its layer's bytes replaced
/// by others of the same size.
fn layout_with_a_corrupt_layer(dir: &Path, image: &Image, tag: &str) -> Digest {
    write_image_layout(dir, image, tag);
    let digest = image.layers[0].digest();
    let mut wrong = image.layers[0].blob.clone();
    wrong[0] ^= 0xff;
    std::fs::write(dir.join("blobs/sha256").join(digest.hex()), &wrong).unwrap();
    digest
}

#[test]
fn a_corrupt_blob_is_refused_by_every_sink_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let image = image_from_layers("linux/amd64", vec![Layer::random(300_000, 3)], 3);
    let source_dir = dir.path().join("source");
    let layer = layout_with_a_corrupt_layer(&source_dir, &image, "1");
    let source = LayoutSource {
        dir: source_dir.clone(),
        reference: Some("1".into()),
    };
    let select = Select::default();
    let names_the_file = |e: &ImageError| {
        matches!(e, ImageError::CorruptBlob { digest, .. } if *digest == layer)
            && e.to_string().contains(&format!(
                "from file `{}`",
                source_dir.join("blobs/sha256").join(layer.hex()).display()
            ))
    };

    let target = dir.path().join("target");
    let sink = LayoutSink {
        dir: target.clone(),
        reference: Some("1".into()),
    };
    let err = run(copy(&source, &sink, &select, &|_| {})).unwrap_err();
    assert!(names_the_file(&err), "{err}");
    assert!(!target.join("blobs/sha256").join(layer.hex()).exists());
    assert!(!target.join("index.json").exists(), "no entry names it");
    let leftovers: Vec<_> = std::fs::read_dir(target.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    let archives = dir.path().join("archives");
    std::fs::create_dir(&archives).unwrap();
    let sink = OciArchiveSink {
        path: archives.join("out.tar"),
        name: None,
        select: select.clone(),
    };
    let err = run(copy(&source, &sink, &select, &|_| {})).unwrap_err();
    assert!(names_the_file(&err), "{err}");
    let left: Vec<_> = std::fs::read_dir(&archives).unwrap().collect();
    assert!(left.is_empty(), "no archive, no temporary file: {left:?}");

    let sink = DockerArchiveSink {
        path: archives.join("out.docker.tar"),
        name: None,
        select: select.clone(),
    };
    let err = run(copy(&source, &sink, &select, &|_| {})).unwrap_err();
    assert!(names_the_file(&err), "{err}");
    let left: Vec<_> = std::fs::read_dir(&archives).unwrap().collect();
    assert!(
        left.is_empty(),
        "no docker-archive, no temporary file: {left:?}"
    );

    let store = Store::open(dir.path().join("store")).unwrap();
    let sink = StoreSink::new(&store, "corrupt/app:1").unwrap();
    let err = run(copy(&source, &sink, &select, &|_| {})).unwrap_err();
    assert!(names_the_file(&err), "{err}");
    assert_eq!(
        run(sink.current()).unwrap(),
        None,
        "the store names nothing"
    );
    assert_eq!(store.blob_size(&layer).unwrap(), None);
}

#[test]
fn an_oci_archive_plain_or_compressed_is_read_in_place_and_its_blobs_checked() {
    let dir = tempfile::tempdir().unwrap();
    let image = image_from_layers("linux/amd64", vec![Layer::random(200_000, 4)], 4);
    let layout = dir.path().join("layout");
    let layer = layout_with_a_corrupt_layer(&layout, &image, "1");
    let plain = dir.path().join("plain.tar");
    let mut tar = tar::Builder::new(std::fs::File::create(&plain).unwrap());
    tar.append_dir_all(".", &layout).unwrap();
    tar.into_inner().unwrap();

    let gzipped = dir.path().join("gz.tar.gz");
    gzip_file(&plain, &gzipped);

    // The corrupt layer is named as a member of the archive the user gave, compressed
    // or not.
    for archive in [&plain, &gzipped] {
        let source = OciArchiveSource::open(archive, Some("1".into())).unwrap();
        let sink = LayoutSink {
            dir: dir.path().join("target"),
            reference: None,
        };
        let err = run(copy(&source, &sink, &Select::default(), &|_| {})).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "blob `{layer}` from member `blobs/sha256/{}` of archive `{}` does not match its digest",
                layer.hex(),
                archive.display()
            )),
            "{text}"
        );
    }
}

/// Writes [`tar_members`] of `members`: (path, bytes) regular files, or (path, target)
/// symlinks when the bytes start with `->`.
fn tar_with_links(path: &Path, members: &[(String, Vec<u8>)]) {
    let members: Vec<Member> = members
        .iter()
        .map(|(name, bytes)| match bytes.strip_prefix(b"->") {
            Some(target) => Member::Symlink(name, std::str::from_utf8(target).unwrap()),
            None => Member::File(name, bytes),
        })
        .collect();
    std::fs::write(path, tar_members(&members)).unwrap();
}

fn gzip_file(from: &Path, to: &Path) {
    std::fs::write(to, gzip(&std::fs::read(from).unwrap())).unwrap();
}

/// Docker ≥ 25 writes an OCI layout inside its docker-archive, with the legacy layer
/// paths as symlinks into `blobs/`: read in place (links followed, gzipped or not), the
/// image named as `RepoTags` name it, and its manifest kept byte for byte.
#[test]
fn a_docker_25_archive_is_read_as_its_oci_layout_with_links_followed() {
    let dir = tempfile::tempdir().unwrap();
    let image = image_from_layers(
        "linux/amd64",
        vec![Layer::random(50_000, 7), Layer::random(20_000, 8)],
        7,
    );
    let blob = |d: &Digest| format!("blobs/sha256/{}", d.hex());
    let mut entry = image.manifest.descriptor();
    entry.set_annotation("io.containerd.image.name", "docker.io/library/app:v1");
    entry.set_annotation("org.opencontainers.image.ref.name", "v1");
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [entry]});
    let layer_digests: Vec<Digest> = image.layers.iter().map(Layer::digest).collect();
    let docker_manifest = serde_json::json!([{
        "Config": blob(&Digest::sha256_of(&image.config)),
        "RepoTags": ["app:v1"],
        "Layers": layer_digests.iter().map(|d| format!("{}/layer.tar", d.hex())).collect::<Vec<_>>(),
    }]);
    let mut members = vec![
        (
            "oci-layout".to_string(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        (
            blob(&Digest::sha256_of(&image.config)),
            image.config.clone(),
        ),
        (
            blob(&image.manifest.descriptor().digest),
            image.manifest.bytes().to_vec(),
        ),
    ];
    for (layer, d) in image.layers.iter().zip(&layer_digests) {
        members.push((blob(d), layer.blob.clone()));
        members.push((
            format!("{}/layer.tar", d.hex()),
            format!("->../blobs/sha256/{}", d.hex()).into_bytes(),
        ));
    }
    members.push(("index.json".into(), serde_json::to_vec(&index).unwrap()));
    members.push((
        "manifest.json".into(),
        serde_json::to_vec(&docker_manifest).unwrap(),
    ));
    let plain = dir.path().join("docker25.tar");
    tar_with_links(&plain, &members);
    let gzipped = dir.path().join("docker25.tar.gz");
    gzip_file(&plain, &gzipped);

    for (archive, layout) in [(&plain, "plain"), (&gzipped, "gzipped")] {
        let source = docker_archive::open(archive, Some("app:v1".into())).unwrap();
        let target = dir.path().join(layout);
        let sink = LayoutSink {
            dir: target.clone(),
            reference: Some("v1".into()),
        };
        let copied = run(copy(source.as_ref(), &sink, &Select::default(), &|_| {})).unwrap();
        assert_eq!(
            copied.graph.top().digest,
            image.manifest.descriptor().digest
        );
        for d in &layer_digests {
            assert!(target.join(blob(d)).is_file(), "{layout}: {d}");
        }
    }
    let source = docker_archive::open(&plain, Some("other:v1".into())).unwrap();
    let err = run(source.graph(&Select::default())).unwrap_err();
    assert!(
        err.to_string().contains("holds no image named `other:v1`"),
        "{err}"
    );
}

/// A legacy docker-archive (no `index.json`) whose layer path is a link to another
/// member: its plain layers keep their bytes into the store (named by their diff_id),
/// and a layer whose bytes differ from the config's diff_id is refused, named.
#[test]
fn a_legacy_docker_archive_keeps_its_plain_layers_and_refuses_a_wrong_one() {
    let dir = tempfile::tempdir().unwrap();
    let image = image_from_layers("linux/amd64", vec![Layer::random(40_000, 9)], 9);
    let layer = &image.layers[0].blob;
    let diff_id = Digest::sha256_of(layer);
    let config_name = format!("{}.json", Digest::sha256_of(&image.config).hex());
    let manifest = |layer_path: &str| {
        serde_json::to_vec(&serde_json::json!([{
            "Config": config_name,
            "RepoTags": ["legacy/app:1"],
            "Layers": [layer_path],
        }]))
        .unwrap()
    };
    let archive = dir.path().join("legacy.tar");
    tar_with_links(
        &archive,
        &[
            (config_name.clone(), image.config.clone()),
            ("stored/layer.tar".into(), layer.clone()),
            ("linked/layer.tar".into(), b"->../stored/layer.tar".to_vec()),
            ("manifest.json".into(), manifest("linked/layer.tar")),
        ],
    );
    let store = Store::open(dir.path().join("store")).unwrap();
    let source = docker_archive::open(&archive, Some("1".into())).unwrap();
    let sink = StoreSink::new(&store, "legacy/app:1").unwrap();
    let copied = run(copy(source.as_ref(), &sink, &Select::default(), &|_| {})).unwrap();
    assert_eq!(store.blob_size(&diff_id).unwrap(), Some(layer.len() as u64));
    assert_eq!(
        run(sink.current()).unwrap(),
        Some(copied.graph.top().digest.clone())
    );

    let mut wrong = layer.clone();
    wrong[10] ^= 1;
    let bad = dir.path().join("bad.tar");
    tar_with_links(
        &bad,
        &[
            (config_name.clone(), image.config.clone()),
            ("x/layer.tar".into(), wrong),
            ("manifest.json".into(), manifest("x/layer.tar")),
        ],
    );
    let other = Store::open(dir.path().join("other")).unwrap();
    let source = docker_archive::open(&bad, None).unwrap();
    let sink = StoreSink::new(&other, "legacy/app:1").unwrap();
    let err = run(copy(source.as_ref(), &sink, &Select::default(), &|_| {})).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "blob `{diff_id}` from member `x/layer.tar` of archive `{}` does not match its digest",
            bad.display()
        )),
        "{err}"
    );
    assert_eq!(run(sink.current()).unwrap(), None);
}
