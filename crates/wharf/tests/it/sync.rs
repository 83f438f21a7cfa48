//! `wharf sync` between real registries (CNCF distribution and `wharf serve` on
//! 127.0.0.1), into an OCI layout and into the store: a namespace of 3 repositories × 4
//! tags sharing a base layer.

use std::collections::BTreeMap;

use wharf_spec::Digest;
use wharf_testkit::fixtures::{
    artifact, client, image_from_layers, index, push_image, push_index, reference, Image, Layer,
};
use wharf_testkit::registry::{Auth, Registry};
use wharf_testkit::registry_or_skip;

use crate::pull::block_on;
use crate::serve::Server;
use wharf_testkit::cli::{have_tool, regex_escape, s, Wharf};

const REPOSITORIES: [&str; 3] = ["team/a", "team/b", "team/c/deep"];
const TAGS: [&str; 4] = ["1.0", "1.1", "1.2", "2.0"];

/// Pushes the namespace `team` (every image: the shared base layer and one of its own)
/// and `other/x` outside it; returns each `repository:tag` with its manifest digest.
fn push_namespace(host: &str, unique_layer: usize) -> BTreeMap<String, Digest> {
    let base = Layer::random(300 << 10, 7);
    let c = client();
    let mut pushed = BTreeMap::new();
    block_on(async {
        for (r, repository) in REPOSITORIES.iter().enumerate() {
            for (t, tag) in TAGS.iter().enumerate() {
                let seed = (r * 10 + t + 1) as u64;
                let layers = vec![base.clone(), Layer::random(unique_layer, seed * 31)];
                let image = image_from_layers("linux/amd64", layers, seed);
                let name = format!("{repository}:{tag}");
                let d = push_image(&c, &reference(host, &name), &image).await;
                pushed.insert(name, d.digest);
            }
        }
        let other = image_from_layers("linux/amd64", vec![Layer::random(1000, 99)], 99);
        push_image(&c, &reference(host, "other/x:1"), &other).await;
    });
    pushed
}

/// The digest `host/name` (`repository:tag`) names, if any.
fn digest_at(host: &str, name: &str) -> Option<Digest> {
    block_on(client().head_manifest(&reference(host, name)))
        .ok()
        .map(|d| d.digest)
}

fn tags_at(host: &str, repository: &str) -> Vec<String> {
    let mut tags = block_on(client().tags(&reference(host, repository))).unwrap_or_default();
    tags.sort();
    tags
}

/// `team/…` as `mirror/…`.
fn mirrored(name: &str) -> String {
    name.replacen("team", "mirror", 1)
}

/// Access-log lines of requests that write (uploads, mounts, manifests).
fn writes(registry: &Registry) -> Vec<String> {
    registry
        .log()
        .lines()
        .filter(|l| {
            l.contains("\"POST /v2/") || l.contains("\"PUT /v2/") || l.contains("\"PATCH /v2/")
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn a_namespace_is_mirrored_with_shared_blobs_sent_once_and_a_second_run_sends_nothing() {
    let a = registry_or_skip!(Auth::None);
    let b = registry_or_skip!(Auth::None);
    let pushed = push_namespace(&a.host, 2000);
    let w = Wharf::new();
    let source = format!("docker://{}/team", a.host);
    let destination = format!("docker://{}/mirror", b.host);
    let out = w.ok(&["sync", &source, &destination]);
    assert!(out.contains("Synced: 12 copied, 0 up to date"), "{out}");
    for (name, digest) in &pushed {
        assert_eq!(
            digest_at(&b.host, &mirrored(name)).as_ref(),
            Some(digest),
            "{name}"
        );
    }
    let mut catalog = block_on(client().catalog(&b.host)).unwrap();
    catalog.sort();
    assert_eq!(catalog, ["mirror/a", "mirror/b", "mirror/c/deep"]);

    // The base layer went over the wire once: every other repository mounted it.
    let base = Layer::random(300 << 10, 7).digest().to_string();
    // (The access log shows the upload's `digest` URL-encoded, the mount's as sent.)
    let encoded = base.replace(':', "%3A");
    let log = b.log();
    let uploads = log
        .lines()
        .filter(|l| l.contains("\"PUT /v2/") && l.contains(&format!("digest={encoded}")))
        .count();
    assert_eq!(uploads, 1, "{log}");
    let mounts = log
        .lines()
        .filter(|l| l.contains(&format!("mount={base}")))
        .count();
    assert_eq!(mounts, 2, "{log}");

    let before = writes(&b).len();
    let again = w.ok(&["sync", &source, &destination]);
    assert!(again.contains("Synced: 0 copied, 12 up to date"), "{again}");
    assert_eq!(writes(&b).len(), before, "a second run writes nothing");
}

#[test]
fn filters_select_exactly_what_they_say_and_delete_mirrors_on_wharf_serve() {
    let w = Wharf::new();
    let source_root = w.path("source-registry");
    let target_root = w.path("target-registry");
    let (src, dst) = (Server::start(&source_root), Server::start(&target_root));
    let pushed = push_namespace(&src.host, 500);
    let from = format!("docker://{}/team/a", src.host);
    let sync = |to: &str, extra: &[&str]| {
        let mut args = vec!["sync", from.as_str(), to];
        args.extend_from_slice(extra);
        w.ok(&args)
    };

    let x = format!("docker://{}/x", dst.host);
    sync(&x, &["--semver", ">=1.1, <2"]);
    assert_eq!(tags_at(&dst.host, "x"), ["1.1", "1.2"]);
    let y = format!("docker://{}/y", dst.host);
    sync(&y, &["--tag-regex", r"^1\.", "--newest", "1"]);
    assert_eq!(tags_at(&dst.host, "y"), ["1.2"]);
    assert_eq!(
        digest_at(&dst.host, "y:1.2"),
        Some(pushed["team/a:1.2"].clone())
    );

    // A dry run says what would change and changes nothing.
    let plan = sync(&x, &["--tag", "2.0", "--delete", "--dry-run"]);
    assert!(
        plan.contains(&format!("2.0 -> {x}:2.0: would copy")),
        "{plan}"
    );
    assert!(plan.contains(&format!("would delete {x}:1.1")), "{plan}");
    assert!(
        plan.contains("Would sync: 1 copied, 0 up to date, 2 deleted"),
        "{plan}"
    );
    let mut settings = w.settings();
    settings.add_filter(&regex_escape(&src.host), "[SOURCE]");
    settings.add_filter(&regex_escape(&dst.host), "[DESTINATION]");
    settings.bind(|| insta::assert_snapshot!("sync_dry_run_with_delete", plan));
    assert_eq!(tags_at(&dst.host, "x"), ["1.1", "1.2"]);

    // Mirror mode: the destination ends with exactly the source's selection.
    let out = sync(&x, &["--tag", "2.0", "--tag", "1.2", "--delete"]);
    assert!(out.contains("1 copied, 1 up to date, 1 deleted"), "{out}");
    assert_eq!(tags_at(&dst.host, "x"), ["1.2", "2.0"]);
}

#[test]
fn delete_on_a_registry_without_tag_deletion_keeps_a_tag_that_shares_a_kept_manifest() {
    let a = registry_or_skip!(Auth::None);
    let b = registry_or_skip!(Auth::None);
    push_namespace(&a.host, 500);
    let w = Wharf::new();
    let from = format!("docker://{}/team/a", a.host);
    let to = format!("docker://{}/team/a", b.host);
    w.ok(&["sync", &from, &to]);
    // Destination-only tags: one over a manifest a kept tag names, one over its own.
    let c = client();
    block_on(async {
        let kept = c.resolve(&reference(&b.host, "team/a:1.0")).await.unwrap();
        c.put_manifest(&reference(&b.host, "team/a:extra"), &kept.manifest)
            .await
            .unwrap();
        let stale = image_from_layers("linux/amd64", vec![Layer::random(100, 5)], 555);
        push_image(&c, &reference(&b.host, "team/a:stale"), &stale).await;
    });
    let out = w.ok(&["sync", &from, &to, "--delete"]);
    assert!(out.contains("deleted"), "{out}");
    assert!(
        out.contains(&format!(
            "kept {to}:extra: the registry deletes manifests, not tags, and `1.0` names the same manifest"
        )),
        "{out}"
    );
    assert_eq!(
        tags_at(&b.host, "team/a"),
        ["1.0", "1.1", "1.2", "2.0", "extra"]
    );
}

#[test]
fn a_sync_killed_halfway_resumes_and_finishes() {
    let a = registry_or_skip!(Auth::None);
    let b = registry_or_skip!(Auth::None);
    let pushed = push_namespace(&a.host, 3 << 20);
    let w = Wharf::new();
    let source = format!("docker://{}/team", a.host);
    let destination = format!("docker://{}/mirror", b.host);
    let mut child = w
        .command()
        .args([
            "sync",
            &source,
            &destination,
            "--max-concurrent-uploads",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once its first image is in (or when it has finished, on a fast machine).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !b.log().contains("/manifests/1.0") && child.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "no image arrived");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill();
    child.wait().unwrap();
    let done_before: usize = pushed
        .keys()
        .filter(|n| digest_at(&b.host, &mirrored(n)).is_some())
        .count();
    let out = w.ok(&["sync", &source, &destination]);
    assert!(
        out.contains(&format!(
            "Synced: {} copied, {done_before} up to date",
            12 - done_before
        )),
        "{done_before} were in before: {out}"
    );
    for (name, digest) in &pushed {
        assert_eq!(
            digest_at(&b.host, &mirrored(name)).as_ref(),
            Some(digest),
            "{name}"
        );
    }
}

#[test]
fn an_oci_layout_and_the_store_take_a_namespace_with_blobs_shared() {
    let a = registry_or_skip!(Auth::None);
    let pushed = push_namespace(&a.host, 1000);
    let w = Wharf::new();
    let source = format!("docker://{}/team", a.host);
    let dir = w.path("mirror-layout");
    let layout = format!("oci:{}", s(&dir));
    let out = w.ok(&["sync", &source, &layout]);
    assert!(out.contains("Synced: 12 copied"), "{out}");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let names: BTreeMap<String, String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["annotations"]["org.opencontainers.image.ref.name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                m["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: BTreeMap<String, String> = pushed
        .iter()
        .map(|(n, d)| (n.clone(), d.to_string()))
        .collect();
    assert_eq!(names, expected);
    // One base layer, and per image its own layer, config and manifest.
    let blobs = std::fs::read_dir(dir.join("blobs/sha256")).unwrap().count();
    assert_eq!(blobs, 1 + 12 * 3);
    if have_tool("skopeo") {
        let inspected = crate::serve::run(
            "skopeo",
            &["inspect", "--raw", &format!("oci:{}:team/b:1.1", s(&dir))],
        );
        assert_eq!(
            Digest::sha256_of(inspected.as_bytes()),
            pushed["team/b:1.1"]
        );
    }
    let again = w.ok(&["sync", &source, &layout, "--tag", "2.0", "--delete"]);
    assert!(
        again.contains("0 copied, 3 up to date, 9 deleted"),
        "{again}"
    );

    let out = w.ok(&["sync", &source, "wharf:", "--tag", "1.1"]);
    assert!(out.contains("Synced: 3 copied"), "{out}");
    let images = w.ok(&["images"]);
    for repository in REPOSITORIES {
        assert!(
            images.contains(&format!("{}/{repository}", a.host)),
            "{images}"
        );
    }
    // The store names the manifest the registry's tag names, with every blob present.
    w.ok(&["fsck"]);
    let name = format!("{}/team/c/deep:1.1", a.host);
    let layout_dir = w.path("from-store");
    w.ok(&["copy", &name, &format!("oci:{}:t", s(&layout_dir))]);
    let copied: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout_dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        copied["manifests"][0]["digest"],
        pushed["team/c/deep:1.1"].to_string()
    );
    let again = w.ok(&["sync", &source, "wharf:", "--tag", "1.1"]);
    assert!(again.contains("Synced: 0 copied, 3 up to date"), "{again}");
}

#[test]
fn bad_sources_destinations_and_filters_are_named() {
    let w = Wharf::new();
    let err = w.fails(&["sync", "docker://team/app", "oci:/tmp/x"]);
    assert!(err.contains("`team` is not a registry host"), "{err}");
    let err = w.fails(&["sync", "docker://r.example/team", "oci:/tmp/x:ref"]);
    assert!(err.contains("a sync writes into one layout"), "{err}");
    let err = w.fails(&[
        "sync",
        "docker://r.example/team",
        "oci:/tmp/x",
        "--semver",
        "nope",
    ]);
    assert!(err.contains("`nope` is not a semver range"), "{err}");
    let file = w.write(
        "sync.toml",
        b"[[sync]]\nsource = \"docker://r.example/a\"\nnewst = 1\n",
    );
    let err = w.fails(&["sync", s(&file), "oci:/tmp/x"]);
    assert!(err.contains("newst"), "{err}");
}

#[test]
fn referrers_come_along_also_for_an_image_that_did_not_change() {
    let w = Wharf::new();
    let (src, dst) = (
        Server::start(&w.path("source-registry")),
        Server::start(&w.path("target-registry")),
    );
    let c = client();
    let image = image_from_layers("linux/amd64", vec![Layer::random(2000, 1)], 1);
    let pushed = block_on(push_image(&c, &reference(&src.host, "app:1"), &image));
    let from = format!("docker://{}/app", src.host);
    let to = format!("docker://{}/app", dst.host);
    w.ok(&["sync", &from, &to]);
    // A signature added after the image was mirrored.
    let signature = artifact(
        &pushed,
        "application/vnd.dev.cosign.artifact.sig.v1+json",
        b"signed",
    );
    let sig = block_on(push_image(
        &c,
        &reference(&src.host, &format!("app@{}", signature.manifest.digest())),
        &signature,
    ));
    let out = w.ok(&["sync", &from, &to, "--referrers"]);
    assert!(
        out.contains("1 up to date") && out.contains("1 referrers"),
        "{out}"
    );
    assert!(
        out.contains(&format!("copied referrer {}", sig.digest)),
        "{out}"
    );
    let found = block_on(c.referrers(&reference(&dst.host, "app"), &pushed.digest)).unwrap();
    assert_eq!(
        found.iter().map(|d| &d.digest).collect::<Vec<_>>(),
        [&sig.digest]
    );
}

#[test]
fn several_platforms_make_an_index_of_just_those_and_all_copies_the_index_as_it_is() {
    let w = Wharf::new();
    let (src, dst) = (
        Server::start(&w.path("source-registry")),
        Server::start(&w.path("target-registry")),
    );
    let c = client();
    let platforms = ["linux/amd64", "linux/arm64", "linux/s390x"];
    let images: Vec<_> = platforms
        .iter()
        .enumerate()
        .map(|(i, _)| {
            image_from_layers(
                "linux/amd64",
                vec![Layer::random(1000, 50 + i as u64)],
                50 + i as u64,
            )
        })
        .collect();
    let pairs: Vec<(&str, &Image)> = platforms.iter().copied().zip(images.iter()).collect();
    let index = block_on(push_index(
        &c,
        &reference(&src.host, "multi:1"),
        &index(&pairs),
    ));
    let from = format!("docker://{}/multi", src.host);

    let two = format!("docker://{}/two", dst.host);
    let args = ["--platform", "linux/arm64", "--platform", "linux/amd64"];
    let out = w.ok(&[&["sync", from.as_str(), two.as_str()][..], &args[..]].concat());
    assert!(out.contains("1 copied"), "{out}");
    let copied = block_on(c.resolve(&reference(&dst.host, "two:1"))).unwrap();
    let narrowed = copied.index().expect("an index").clone();
    let children: Vec<&Digest> = narrowed.manifests.iter().map(|d| &d.digest).collect();
    assert_eq!(
        children,
        [images[0].manifest.digest(), images[1].manifest.digest()],
        "just those platforms, in the source index's order"
    );
    assert_ne!(copied.descriptor.digest, index.digest, "a new index");
    let again = w.ok(&[&["sync", from.as_str(), two.as_str()][..], &args[..]].concat());
    assert!(again.contains("0 copied, 1 up to date"), "{again}");

    let all = format!("docker://{}/all", dst.host);
    w.ok(&["sync", &from, &all, "--all"]);
    assert_eq!(digest_at(&dst.host, "all:1"), Some(index.digest.clone()));
    let err = w.fails(&[
        "sync",
        &from,
        &all,
        "--platform",
        "linux/arm64",
        "--platform",
        "windows/amd64",
    ]);
    assert!(
        err.contains("no image for platform `windows/amd64`"),
        "{err}"
    );
}

#[test]
fn a_skopeo_sync_file_gives_what_skopeo_sync_gives() {
    let a = registry_or_skip!(Auth::None);
    let b = registry_or_skip!(Auth::None);
    if !have_tool("skopeo") {
        return;
    }
    let pushed = push_namespace(&a.host, 500);
    let w = Wharf::new();
    let file = w.write(
        "mirror.yaml",
        format!(
            "{}:\n  images:\n    team/a: []\n    team/b: [\"1.0\"]\n  images-by-tag-regex:\n    team/c/deep: ^1\\.[12]$\n  tls-verify: false\n",
            a.host
        )
        .as_bytes(),
    );
    let out = w.ok(&["sync", s(&file), &format!("docker://{}/by-wharf", b.host)]);
    assert!(out.contains("Synced: 7 copied"), "{out}");
    crate::serve::run(
        "skopeo",
        &[
            "--insecure-policy",
            "sync",
            "--src",
            "yaml",
            "--dest",
            "docker",
            "--dest-tls-verify=false",
            s(&file),
            &format!("{}/by-skopeo", b.host),
        ],
    );
    // Named as skopeo names them: the last path component under the destination.
    let mut catalog = block_on(client().catalog(&b.host)).unwrap();
    catalog.sort();
    assert_eq!(
        catalog,
        [
            "by-skopeo/a",
            "by-skopeo/b",
            "by-skopeo/deep",
            "by-wharf/a",
            "by-wharf/b",
            "by-wharf/deep"
        ]
    );
    for (repository, short) in REPOSITORIES.iter().zip(["a", "b", "deep"]) {
        let ours = tags_at(&b.host, &format!("by-wharf/{short}"));
        let theirs = tags_at(&b.host, &format!("by-skopeo/{short}"));
        assert_eq!(ours, theirs, "{repository}");
        for tag in &ours {
            let name = format!("{repository}:{tag}");
            assert_eq!(
                digest_at(&b.host, &format!("by-wharf/{short}:{tag}")).as_ref(),
                Some(&pushed[&name]),
                "{name}"
            );
        }
    }
    assert_eq!(tags_at(&b.host, "by-wharf/deep"), ["1.1", "1.2"]);
}
