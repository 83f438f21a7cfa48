//! `wharf mutate`: config edits into a new image that shares the layers, keeps every
//! field it does not change (unknown ones too), and is read by skopeo and umoci.

use serde_json::{json, Value};

use crate::append::{config_of, inspect, manifest_of, ok_at_epoch, peer, EPOCH_TIME};
use wharf_testkit::cli::*;
use wharf_testkit::fixtures::*;

/// An OCI image whose config carries fields wharf has no type for.
fn image_with_extra_fields(w: &Wharf, name: &str) -> Image {
    let layer = base_layer();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "created": CREATED,
        "author": "someone",
        "config": {"Env": ["PATH=/usr/bin:/bin", "MODE=base"], "Cmd": ["sh"], "Labels": {"keep": "me"}, "StopSignal": "SIGQUIT", "Healthcheck": {"Test": ["CMD", "true"]}},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id()]},
        "history": [{"created": CREATED, "created_by": "base layer"}],
        "moby.buildkit.buildinfo.v1": "e30=",
    }))
    .unwrap();
    let img = Image::edited(config, vec![layer], KeyOrder::Sorted, |m| {
        m.annotations = Some([("org.example.note".into(), "kept".into())].into());
    });
    let layout = w.path(&format!("layout-{name}"));
    write_image_layout(&layout, &img, "1");
    w.ok(&["load", "-i", s(&layout), "-t", name]);
    img
}

const EDITS: &[&str] = &[
    "--entrypoint",
    r#"["/bin/app","--serve"]"#,
    "--env",
    "MODE=edited",
    "--env",
    "EXTRA=a=b",
    "--label",
    "org.example.version=2",
    "--workdir",
    "/srv",
    "--user",
    "1000:1000",
    "--expose",
    "8080",
    "--expose",
    "53/udp",
];

#[test]
fn mutate_edits_the_config_and_keeps_the_rest() {
    let w = Wharf::new();
    let base = image_with_extra_fields(&w, "base");
    let mut args = vec!["mutate", "base:1", "-t", "edited:1"];
    args.extend_from_slice(EDITS);
    let id = ok_at_epoch(&w, &args);

    let doc = inspect(&w, "edited:1");
    assert_eq!(id.trim(), doc["Id"]);
    assert_eq!(strings_of(&doc["RootFS"]["Layers"]), base.diff_ids());
    let config = config_of(&w, &doc);
    assert_eq!(
        config["config"],
        json!({
            "Entrypoint": ["/bin/app", "--serve"],
            "Cmd": null,
            "Env": ["PATH=/usr/bin:/bin", "MODE=edited", "EXTRA=a=b"],
            "Labels": {"keep": "me", "org.example.version": "2"},
            "WorkingDir": "/srv",
            "User": "1000:1000",
            "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
            "StopSignal": "SIGQUIT",
            "Healthcheck": {"Test": ["CMD", "true"]},
        })
    );
    // Fields wharf has no type for, and the ones it does not edit, are copied.
    assert_eq!(config["moby.buildkit.buildinfo.v1"], "e30=");
    assert_eq!(config["author"], "someone");
    assert_eq!(config["created"], EPOCH_TIME);
    let history = config["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["empty_layer"], true);
    assert_eq!(
        history[1]["created_by"],
        r#"wharf mutate --entrypoint ["/bin/app","--serve"] --env MODE=edited --env EXTRA=a=b --label org.example.version=2 --workdir /srv --user 1000:1000 --expose 8080/tcp --expose 53/udp"#
    );
    // The manifest keeps its annotations and the very same layer blobs.
    let manifest = manifest_of(&w, &doc);
    assert_eq!(manifest["annotations"]["org.example.note"], "kept");
    assert_eq!(
        manifest["layers"][0]["digest"],
        base.layers[0].digest().to_string()
    );

    // The base is untouched; the same edits at the same epoch give the same image.
    assert_eq!(inspect(&w, "base:1")["Id"], base.id());
    let mut again = vec!["mutate", "base:1", "-t", "edited:2"];
    again.extend_from_slice(EDITS);
    assert_eq!(ok_at_epoch(&w, &again), id);
    assert!(w.ok(&["fsck"]).contains("clean"));
}

#[test]
fn skopeo_and_umoci_read_a_mutated_image() {
    if !have_tool("skopeo") || !have_tool("umoci") {
        return;
    }
    let w = Wharf::new();
    image_with_extra_fields(&w, "base");
    let mut args = vec!["mutate", "base:1", "--cmd", "echo hello", "-t", "edited:1"];
    args.extend_from_slice(EDITS);
    ok_at_epoch(&w, &args);
    let root = w.root();
    let doc: Value = serde_json::from_str(&peer(
        "skopeo",
        &[
            "--insecure-policy",
            "inspect",
            "--config",
            &format!("oci:{}:docker.io/library/edited:1", s(&root)),
        ],
    ))
    .unwrap();
    assert_eq!(doc["config"]["WorkingDir"], "/srv");
    assert_eq!(doc["config"]["Labels"]["org.example.version"], "2");

    let bundle = w.path("bundle");
    peer(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:docker.io/library/edited:1", s(&root)),
            s(&bundle),
        ],
    );
    let spec: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        spec["process"]["args"],
        json!(["/bin/app", "--serve", "/bin/sh", "-c", "echo hello"])
    );
    assert_eq!(spec["process"]["cwd"], "/srv");
    let env = strings_of(&spec["process"]["env"]);
    assert!(env.contains(&"MODE=edited".to_string()), "{env:?}");
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/etc/os-release")).unwrap(),
        "ID=test\n"
    );
}

#[test]
fn bad_edits_are_refused_and_nothing_is_stored() {
    let w = Wharf::new();
    image_with_extra_fields(&w, "base");
    let before = w.state();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "env without =",
            vec!["mutate", "base:1", "--env", "JUSTKEY", "-t", "x:1"],
        ),
        (
            "label without key",
            vec!["mutate", "base:1", "--label", "=v", "-t", "x:1"],
        ),
        (
            "bad port",
            vec!["mutate", "base:1", "--expose", "99999", "-t", "x:1"],
        ),
        (
            "bad json",
            vec!["mutate", "base:1", "--cmd", "[\"unclosed\"", "-t", "x:1"],
        ),
        (
            "relative workdir",
            vec!["mutate", "base:1", "--workdir", "srv", "-t", "x:1"],
        ),
        ("nothing to change", vec!["mutate", "base:1", "-t", "x:1"]),
        (
            "unknown image",
            vec!["mutate", "nosuch:1", "--user", "1", "-t", "x:1"],
        ),
    ];
    let mut report = String::new();
    for (name, args) in &cases {
        let out = w.run(args);
        assert_ne!(out.code, 0, "{name}: {}", out.stdout);
        report += &format!("--- {name}\n{}", out.stderr);
        assert_eq!(w.state(), before, "{name}");
        assert!(w.staging_debris().is_empty(), "{name}");
    }
    w.settings().bind(|| insta::assert_snapshot!(report));
}

fn strings_of(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}
