//! The copy engine's sinks refuse bytes that do not match their digest, whatever the
//! source, and leave nothing half-written: no blob file, no `index.json` entry, no
//! archive, no store name.

use std::path::Path;

use crate::run;
use wharf_image::engine::archive::{OciArchiveSink, OciArchiveSource};
use wharf_image::engine::layout::{LayoutSink, LayoutSource};
use wharf_image::engine::store::StoreSink;
use wharf_image::engine::{copy, ImageSink, Select};
use wharf_image::ImageError;
use wharf_spec::Digest;
use wharf_store::Store;
use wharf_testkit::fixtures::{gzip, image_from_layers, write_image_layout, Image, Layer};

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
fn a_plain_oci_archive_is_read_in_place_and_a_compressed_one_is_left_to_staging() {
    let dir = tempfile::tempdir().unwrap();
    let image = image_from_layers("linux/amd64", vec![Layer::random(200_000, 4)], 4);
    let layout = dir.path().join("layout");
    let layer = layout_with_a_corrupt_layer(&layout, &image, "1");
    let plain = dir.path().join("plain.tar");
    let mut tar = tar::Builder::new(std::fs::File::create(&plain).unwrap());
    tar.append_dir_all(".", &layout).unwrap();
    tar.into_inner().unwrap();

    let source = OciArchiveSource::open(&plain, Some("1".into()))
        .unwrap()
        .expect("a plain tar is read in place");
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
            plain.display()
        )),
        "{text}"
    );

    let gzipped = dir.path().join("gz.tar.gz");
    std::fs::write(&gzipped, gzip(&std::fs::read(&plain).unwrap())).unwrap();
    assert!(OciArchiveSource::open(&gzipped, None).unwrap().is_none());
}
