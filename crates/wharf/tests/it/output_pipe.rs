//! A closed output pipe (`wharf system df | head -1`) ends the command quietly: no panic,
//! no error message, exit 0 (the reader had what it wanted, as with ripgrep).

use std::process::Stdio;

use wharf_testkit::cli::*;
use wharf_testkit::fixtures::*;

/// Runs `wharf ARGS` with stdout a pipe whose read end is closed before the command
/// starts, so its first write fails with `EPIPE` whatever the timing.
fn run_into_closed_pipe(w: &Wharf, args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = w
        .command()
        .arg("--root")
        .arg(w.root())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_pipe_is_a_quiet_exit() {
    let w = Wharf::new();
    let img = image("sh", vec![base_layer()]);
    let archive = w.write("a.tar", &docker_archive(&[(&img, &["app:1"])]));
    w.ok(&["load", "-i", s(&archive)]);
    let commands: &[&[&str]] = &[
        &["system", "df"],
        &["system", "df", "--format", "json"],
        &["completion", "bash"],
        &["images"],
        &["images", "-q"],
        &["image", "inspect", "app:1"],
        &["history", "app:1"],
        &["reference", "busybox"],
        &["save", "app:1"],
        &["fsck"],
        &["--help"],
        &["image", "ls", "--help"],
    ];
    for args in commands {
        let (code, stderr) = run_into_closed_pipe(&w, args);
        assert_eq!(
            (code, stderr.as_str()),
            (Some(0), ""),
            "wharf {args:?} into a closed pipe"
        );
    }
}
