//! `analysis::analyze` on an image of known contents ([`wasteful_image`]: a large file
//! deleted by a later layer, an opaque directory, a hard link, a file written twice the
//! same and one written twice differently), read from every kind of source, with exact
//! numbers.

use crate::run;
use wharf_client::Client;
use wharf_image::analysis::{analyze, Analysis, Changes};
use wharf_image::copy::{copy, open_source, CopyOptions, Location};
use wharf_image::engine::Select;
use wharf_spec::media_type::Compression;
use wharf_spec::Reference;
use wharf_store::Store;
use wharf_testkit::fixtures::{client, push_image, reference, wasteful_image, write_image_layout};
use wharf_testkit::registry::Auth;
use wharf_testkit::registry_or_skip;

fn changes(
    added: u64,
    changed: u64,
    removed: u64,
    files: u64,
    hidden: u64,
    identical: u64,
) -> Changes {
    Changes {
        added,
        changed,
        removed,
        files_bytes: files,
        hidden_bytes: hidden,
        identical_bytes: identical,
    }
}

fn assert_known_numbers(analysis: &Analysis, case: &str) {
    let got: Vec<Changes> = analysis.layers.iter().map(|l| l.changes.clone()).collect();
    assert_eq!(
        got,
        vec![
            // big, dir, dir/a, dir/b, keep, hl, sl: 100000 + 10 + 20 + 5 bytes of files.
            changes(7, 0, 0, 100_035, 0, 0),
            // Removes big (whiteout) and dir/a, dir/b (opaque dir); adds dir/c and new;
            // rewrites keep identically.
            changes(2, 1, 3, 42, 100_035, 5),
            // Rewrites new with other bytes.
            changes(0, 1, 0, 8, 7, 0),
        ],
        "{case}"
    );
    assert_eq!(analysis.files_bytes, 100_085, "{case}");
    assert_eq!(analysis.wasted_bytes, 100_042, "{case}");
    // Least bytes per path over bytes spent on it: big 100000/200000, dir/a 10/20, dir/b
    // 20/40, keep 5/10, hl 0/0, dir/c 30/30, new 7/15.
    let efficiency = 100_072.0 / 200_115.0;
    assert!(
        (analysis.efficiency - efficiency).abs() < 1e-12,
        "{case}: {}",
        analysis.efficiency
    );
    let repeated: Vec<(&str, u64, u64)> = analysis
        .repeated
        .iter()
        .map(|r| (r.path.as_str(), r.count, r.bytes))
        .collect();
    assert_eq!(
        repeated,
        vec![
            ("big", 2, 200_000),
            ("dir/b", 2, 40),
            ("dir/a", 2, 20),
            ("new", 2, 15),
            ("keep", 2, 10)
        ],
        "{case}"
    );
}

async fn analysis_of(store: &Store, client: &Client, location: &Location) -> Analysis {
    let source = open_source(Some(store), client, location).await.unwrap();
    analyze(source.as_ref(), &Select::default())
        .await
        .unwrap_or_else(|e| panic!("{location}: {e}"))
}

#[test]
fn layers_are_analysed_alike_from_every_kind_of_source() {
    let registry = registry_or_skip!(Auth::None);
    let client = client();
    let image = wasteful_image();
    let pushed = reference(&registry.host, "layers/app:1");
    run(push_image(&client, &pushed, &image));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let registry_location =
        Location::Registry(Reference::parse_normalized(&pushed.to_string()).unwrap());
    let p = |name: &str| dir.path().join(name).display().to_string();
    let others = [
        "wharf:layers/app:1".to_string(),
        format!("oci:{}:1", p("layout")),
        format!("oci-archive:{}:1", p("app.oci.tar")),
        format!("docker-archive:{}:layers/app:1", p("app.docker.tar")),
    ];
    run(async {
        let from_registry = analysis_of(&store, &client, &registry_location).await;
        assert_known_numbers(&from_registry, "registry");
        assert_eq!(from_registry.id, image.config_descriptor().digest);
        for other in &others {
            let location = Location::parse(other).unwrap();
            let options = CopyOptions {
                compression: Compression::Gzip,
                ..CopyOptions::default()
            };
            copy(
                Some(&store),
                &client,
                &registry_location,
                &location,
                &options,
                &|_| {},
            )
            .await
            .unwrap();
            let analysis = analysis_of(&store, &client, &location).await;
            assert_known_numbers(&analysis, other);
            assert_eq!(analysis.id, from_registry.id, "{other}");
        }
    });
}

/// A layer whose bytes differ from its digest is refused, naming where it was read; no
/// analysis of bad bytes.
#[test]
fn a_corrupt_layer_is_refused_not_analysed() {
    let dir = tempfile::tempdir().unwrap();
    let image = wasteful_image();
    let layout = dir.path().join("layout");
    write_image_layout(&layout, &image, "1");
    let blobs = layout.join("blobs/sha256");
    let last = image.layers.last().unwrap().digest();
    let mut wrong = image.layers.last().unwrap().blob.clone();
    let last_byte = wrong.len() - 1;
    wrong[last_byte] ^= 1;
    std::fs::write(blobs.join(last.hex()), &wrong).unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let location = Location::parse(&format!("oci:{}", layout.display())).unwrap();
    let err = run(async {
        let source = open_source(Some(&store), &client(), &location)
            .await
            .unwrap();
        analyze(source.as_ref(), &Select::default())
            .await
            .unwrap_err()
    });
    assert!(
        err.to_string().starts_with(&format!(
            "blob `{last}` from file `{}` does not match its digest",
            blobs.join(last.hex()).display()
        )),
        "{err}"
    );
}
