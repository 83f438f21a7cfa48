//! `wharf history`: build steps newest first, each with its layer's uncompressed size.

use wharf_testkit::cli::*;
use wharf_testkit::fixtures::*;

const LONG_CMD: &str = "serve --port 8080 --workers 16 --log-level debug";

fn store() -> (Wharf, Image) {
    let w = Wharf::new();
    let app = image_on(&base_layer(), LONG_CMD);
    let dir = w.path("layout");
    write_image_layout(&dir, &app, "app:1");
    w.ok(&["load", "-i", s(&dir)]);
    (w, app)
}

fn columns(line: &str) -> Vec<&str> {
    line.split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

#[test]
fn table() {
    let (w, app) = store();
    let out = w.ok(&["history", "app:1"]);
    w.settings().bind(|| insta::assert_snapshot!(out));
    let rows: Vec<Vec<&str>> = out.lines().skip(1).map(columns).collect();
    assert_eq!(rows.len(), 3, "{out}");
    // Newest first: the CMD step (no layer), then the two layers.
    assert_eq!(rows[0][0], &app.id()[7..19]);
    assert_eq!(rows[1][0], "<missing>");
    assert_eq!(rows[2][0], "<missing>");
    assert!(rows[0][2].starts_with("/bin/sh -c #(nop)  CMD"), "{out}");
    assert!(rows[0][2].ends_with('…'), "{out}");
    assert_eq!(rows[0][2].chars().count(), 45, "{out}");
    assert_eq!(rows[0][3], "0B");
    // Uncompressed tar sizes, as Docker reports them.
    assert_eq!(app.layers[1].tar.len(), 2048);
    assert_eq!(rows[1][3], "2.05kB");
    assert_eq!(app.layers[0].tar.len(), 3072);
    assert_eq!(rows[2][3], "3.07kB");
    assert_eq!(w.ok(&["image", "history", "app:1"]), out);
}

#[test]
fn no_trunc_and_quiet() {
    let (w, app) = store();
    let out = w.ok(&["history", "--no-trunc", "app:1"]);
    let first = out.lines().nth(1).unwrap();
    assert!(first.starts_with(&format!("{}   ", app.id())), "{out}");
    assert!(
        first.contains(&format!("/bin/sh -c #(nop)  CMD [\"{LONG_CMD}\"]")),
        "{out}"
    );
    assert_eq!(
        w.ok(&["history", "-q", "app:1"]),
        format!("{}\n<missing>\n<missing>\n", &app.id()[7..19])
    );
    assert_eq!(
        w.ok(&["history", "-q", "--no-trunc", &app.id()]),
        format!("{}\n<missing>\n<missing>\n", app.id())
    );
}

#[test]
fn unknown_image() {
    let (w, _) = store();
    let err = w.fails(&["history", "nosuch"]);
    assert!(err.contains("No such image: `nosuch`"), "{err}");
}
