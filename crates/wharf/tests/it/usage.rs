//! `wharf image prune` and `wharf system df`: what sharing saves and what pruning frees.

use serde_json::Value;

use wharf_testkit::cli::*;
use wharf_testkit::fixtures::*;

/// go-units' `HumanSize` for the small sizes these tests meet.
fn human(bytes: u64) -> String {
    if bytes < 1000 {
        return format!("{bytes}B");
    }
    let kb = bytes as f64 / 1000.0;
    assert!(kb < 1000.0);
    let decimals = if kb >= 100.0 {
        0
    } else if kb >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{kb:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    format!("{s}kB")
}

fn file_size(w: &Wharf, hex: &str) -> u64 {
    std::fs::metadata(w.root().join("blobs/sha256").join(hex))
        .unwrap()
        .len()
}

fn load_layout(w: &Wharf, dir: &str, img: &Image, name: &str) {
    let path = w.path(dir);
    write_image_layout(&path, img, name);
    w.ok(&["load", "-i", s(&path)]);
}

#[test]
fn prune_removes_dangling_images_and_unreferenced_blobs() {
    let w = Wharf::new();
    let base = base_layer();
    let a = image_on(&base, "a");
    let b = image_on(&base, "b");
    load_layout(&w, "a", &a, "app:1");
    load_layout(&w, "b", &b, "b:1");
    // `a` loses its name: dangling.
    w.ok(&["tag", "b:1", "app:1"]);
    // A blob nothing references (valid, correctly named).
    let orphan = b"an orphaned blob".to_vec();
    let orphan_hex = wharf_spec::Digest::sha256_of(&orphan).hex().to_string();
    std::fs::write(w.root().join("blobs/sha256").join(&orphan_hex), &orphan).unwrap();
    let freed: Vec<String> = vec![
        a.manifest.digest().hex().to_string(),
        a.config_digest().hex().to_string(),
        a.layers[1].digest().hex().to_string(),
        orphan_hex,
    ];
    let bytes: u64 = freed.iter().map(|h| file_size(&w, h)).sum();
    let out = w.ok(&["image", "prune"]);
    assert_eq!(
        out,
        format!(
            "Deleted Images:\ndeleted: {}\n\nTotal reclaimed space: {}\n",
            a.manifest.digest(),
            human(bytes)
        )
    );
    let mut left: Vec<String> = b.blobs().iter().map(|(d, _)| d.hex().to_string()).collect();
    left.sort();
    assert_eq!(w.blob_files(), left);
    assert_eq!(
        w.ok(&["images", "-q"]),
        format!("{}\n{}\n", &b.id()[7..19], &b.id()[7..19])
    );
    // `-f` is accepted as in Docker (wharf never prompts).
    assert_eq!(
        w.ok(&["image", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );
    assert!(w.ok(&["fsck"]).contains("the store is clean"));
}

#[test]
fn df_counts_a_shared_base_layer_once() {
    let w = Wharf::new();
    let base = base_layer();
    let a = image_on(&base, "a");
    let b = image_on(&base, "b");
    load_layout(&w, "a", &a, "a:1");
    load_layout(&w, "b", &b, "b:1");
    // The base layer is one file in blobs/.
    let files = w.blob_files();
    assert_eq!(files.len(), 7);
    assert_eq!(
        files.iter().filter(|f| **f == base.digest().hex()).count(),
        1
    );
    let shared = base.blob.len() as u64;

    let out = w.ok(&["system", "df"]);
    w.settings().bind(|| insta::assert_snapshot!(out));
    for line in out
        .lines()
        .filter(|l| l.starts_with("a ") || l.starts_with("b "))
    {
        let cols: Vec<&str> = line
            .split("   ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(cols[5], human(shared), "{out}");
    }

    let json: Value = serde_json::from_str(&w.ok(&["system", "df", "--format", "json"])).unwrap();
    let images = json["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    let on_disk: u64 = files.iter().map(|h| file_size(&w, h)).sum();
    let mut sizes = 0;
    for (img, test) in images.iter().zip([&a, &b]) {
        let size = img["size"].as_u64().unwrap();
        let blobs: u64 = test
            .blobs()
            .iter()
            .map(|(_, bytes)| bytes.len() as u64)
            .sum();
        assert_eq!(size, blobs);
        assert_eq!(img["shared_size"].as_u64().unwrap(), shared);
        assert_eq!(
            img["shared_size"].as_u64().unwrap() + img["unique_size"].as_u64().unwrap(),
            size
        );
        assert_eq!(img["id"], test.id());
        sizes += size;
    }
    assert_eq!(json["size_without_sharing"].as_u64().unwrap(), sizes);
    assert_eq!(json["images_size"].as_u64().unwrap(), on_disk);
    assert_eq!(on_disk + shared, sizes);
    assert_eq!(json["reclaimable"], 0);
    assert_eq!(json["dangling_images"], 0);
}

#[test]
fn df_counts_what_a_prune_would_reclaim() {
    let w = Wharf::new();
    let base = base_layer();
    let a = image_on(&base, "a");
    let b = image_on(&base, "b");
    load_layout(&w, "a", &a, "a:1");
    load_layout(&w, "b", &b, "b:1");
    w.ok(&["rmi", "a:1"]);
    load_layout(&w, "a", &a, "a:1");
    w.ok(&["tag", "b:1", "a:1"]);
    let json: Value = serde_json::from_str(&w.ok(&["system", "df", "--format", "json"])).unwrap();
    assert_eq!(json["dangling_images"], 1);
    let reclaimable = json["reclaimable"].as_u64().unwrap();
    let out = w.ok(&["image", "prune"]);
    assert!(
        out.ends_with(&format!("Total reclaimed space: {}\n", human(reclaimable))),
        "{out} vs {reclaimable}"
    );
}

/// One of a thing is said in the singular: "1 layer", "1 dangling image".
#[test]
fn one_of_a_thing_is_singular() {
    let w = Wharf::new();
    let a = image("a", vec![base_layer()]);
    let b = image("b", vec![layer(&[("b.txt", b"b")])]);
    load_layout(&w, "a", &a, "app:1");
    load_layout(&w, "b", &b, "b:1");
    let unpacked = w.ok(&["unpack", "--snapshots", "app:1", s(&w.path("rootfs"))]);
    assert!(
        unpacked.contains("(1 layer: 1 extracted, 0 from snapshots)"),
        "{unpacked}"
    );
    // `a` loses its name: one dangling image.
    w.ok(&["tag", "b:1", "app:1"]);
    let df = w.ok(&["system", "df"]);
    assert!(df.contains("(1 dangling image and"), "{df}");
    assert!(df.contains("Snapshots: 1 unpacked layer uses "), "{df}");
}
