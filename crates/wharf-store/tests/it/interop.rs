//! The store must stay readable by other OCI tools as-is, and read what they write.

use std::process::Command;

use wharf_store::Store;

use crate::{commit_image, names};

/// Whether `tool` can run here. Skips with a reason, unless CI demands interop tests.
fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("WHARF_REQUIRE_INTEROP").as_deref() == Ok("1") {
            panic!("`{tool}` is required (WHARF_REQUIRE_INTEROP=1) but cannot run");
        }
        eprintln!("skipping: `{tool}` is not installed");
    }
    ok
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn umoci_lists_the_stores_tags() {
    if !have("umoci") {
        return;
    }
    let (_t, store) = crate::new_store();
    commit_image(&store, "v1", &[(1, 1024)]);
    commit_image(&store, "v2", &[(2, 1024)]);
    let out = run(Command::new("umoci")
        .args(["ls", "--layout"])
        .arg(store.root()));
    let mut tags: Vec<&str> = out.lines().collect();
    tags.sort();
    assert_eq!(tags, ["v1", "v2"]);
}

#[test]
fn skopeo_inspects_and_copies_out_of_and_into_the_store() {
    if !have("skopeo") {
        return;
    }
    let (t, store) = crate::new_store();
    let img = commit_image(&store, "v1", &[(1, 2048), (2, 4096)]);
    let src = format!("oci:{}:v1", store.root().display());
    let out = run(Command::new("skopeo").args(["inspect", &src]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Digest"], img.manifest.to_string());
    let layers: Vec<String> = img.layers.iter().map(|d| d.to_string()).collect();
    assert_eq!(v["Layers"], serde_json::json!(layers));

    // Into a fresh layout written by skopeo, which wharf then opens and verifies...
    let other = t.path().join("copied");
    let dst = format!("oci:{}:copied", other.display());
    run(Command::new("skopeo").args(["copy", "--quiet", &src, &dst]));
    let copied = Store::open(&other).unwrap();
    assert_eq!(names(&copied), ["copied"]);
    assert!(copied.fsck(false).unwrap().is_clean());
    // ...and skopeo adds another image into our store beside ours.
    let back = format!("oci:{}:v1-again", store.root().display());
    run(Command::new("skopeo").args(["copy", "--quiet", &dst, &back]));
    let store = Store::open(store.root()).unwrap();
    assert_eq!(names(&store), ["v1", "v1-again"]);
    assert!(store.fsck(false).unwrap().is_clean());
}
