//! `wharf images`: Docker's table, its flags, filters and order.

use serde_json::Value;

use wharf_testkit::cli::*;
use wharf_testkit::fixtures::*;

struct Store {
    w: Wharf,
    old: Image,
    mid: Image,
    new: Image,
    dangling: Image,
}

/// Four images created a year apart: `new`, `mid` (three names), `old`, and a dangling one.
fn store() -> Store {
    let w = Wharf::new();
    let base = base_layer();
    let at = |cmd: &str, created: &str| {
        image_at(
            "amd64",
            cmd,
            created,
            vec![base.clone(), layer(&[("app/run", cmd.as_bytes())])],
        )
    };
    let old = at("old", "2019-01-02T03:04:05Z");
    let mid = at("mid", "2020-01-02T03:04:05Z");
    let new = at("new", "2021-01-02T03:04:05Z");
    let dangling = at("dangling", "2018-01-02T03:04:05Z");
    let archive = docker_archive(&[
        (&mid, &["mid:2", "mid:1", "example.com/team/mid:1"]),
        (&old, &["old:1"]),
        (&dangling, &[]),
        (&new, &["new"]),
    ]);
    w.ok(&["load", "-i", s(&w.write("all.tar", &archive))]);
    Store {
        w,
        old,
        mid,
        new,
        dangling,
    }
}

fn short(img: &Image) -> String {
    img.id()[7..19].to_string()
}

#[test]
fn table_lists_newest_first_with_dangling_rows() {
    let st = store();
    let out = st.w.ok(&["images"]);
    st.w.settings().bind(|| insta::assert_snapshot!(out));
    let ids: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(2).unwrap())
        .collect();
    let (new, mid, old, dangling) = (
        short(&st.new),
        short(&st.mid),
        short(&st.old),
        short(&st.dangling),
    );
    assert_eq!(ids, vec![&new, &mid, &mid, &mid, &old, &dangling]);
    let last: Vec<&str> = out.lines().last().unwrap().split_whitespace().collect();
    assert_eq!(&last[..2], &["<none>", "<none>"]);
}

#[test]
fn digests_column() {
    let st = store();
    let out = st.w.ok(&["images", "--digests"]);
    st.w.settings().bind(|| insta::assert_snapshot!(out));
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap()
        .split("   ")
        .map(str::trim)
        .collect();
    assert!(header.contains(&"DIGEST"), "{header:?}");
    // A docker-archive carries no manifest: the digest is the one wharf wrote for it.
    let row = out.lines().find(|l| l.starts_with("old ")).unwrap();
    let digest = row.split_whitespace().nth(2).unwrap();
    let doc: Value = serde_json::from_str(&st.w.ok(&["inspect", "old:1"])).unwrap();
    assert_eq!(doc[0]["Descriptor"]["digest"], digest);
}

#[test]
fn quiet_and_no_trunc() {
    let st = store();
    let quiet = st.w.ok(&["images", "-q"]);
    let want: Vec<String> = [&st.new, &st.mid, &st.mid, &st.mid, &st.old, &st.dangling]
        .iter()
        .map(|i| short(i))
        .collect();
    assert_eq!(quiet.lines().collect::<Vec<_>>(), want);
    let full = st.w.ok(&["images", "-q", "--no-trunc"]);
    assert_eq!(full.lines().next().unwrap(), st.new.id());
    let table = st.w.ok(&["images", "--no-trunc", "old"]);
    assert!(table.contains(&st.old.id()), "{table}");
}

#[test]
fn json_lines() {
    let st = store();
    let out = st.w.ok(&["images", "--format", "json"]);
    let rows: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0]["Repository"], "new");
    assert_eq!(rows[0]["Tag"], "latest");
    assert_eq!(rows[0]["ID"], short(&st.new));
    assert_eq!(rows[0]["CreatedAt"], "2021-01-02T03:04:05Z");
    assert_eq!(rows[5]["Repository"], "<none>");
    assert_eq!(rows[5]["Tag"], "<none>");
    st.w.settings().bind(|| {
        insta::assert_snapshot!(rows
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n"))
    });
}

#[test]
fn filter_by_repository_and_tag() {
    let st = store();
    let repo = st.w.ok(&["images", "mid"]);
    let names: Vec<(&str, &str)> = repo
        .lines()
        .skip(1)
        .map(|l| {
            let mut cols = l.split_whitespace();
            (cols.next().unwrap(), cols.next().unwrap())
        })
        .collect();
    assert_eq!(names, vec![("mid", "1"), ("mid", "2")]);
    let tag = st.w.ok(&["images", "mid:2"]);
    assert_eq!(tag.lines().count(), 2, "{tag}");
    assert!(tag.lines().nth(1).unwrap().starts_with("mid "), "{tag}");
    let qualified = st.w.ok(&["images", "-q", "example.com/team/mid"]);
    assert_eq!(qualified, format!("{}\n", short(&st.mid)));
    // A name that matches nothing prints only the header, successfully.
    assert_eq!(st.w.ok(&["images", "nothing"]).lines().count(), 1);
    assert_eq!(st.w.ok(&["images", "-q", "mid:3"]), "");
}

#[test]
fn empty_store_prints_the_header() {
    let w = Wharf::new();
    assert_eq!(
        w.ok(&["images"]),
        "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"
    );
}
