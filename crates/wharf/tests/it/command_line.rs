//! The command line itself: what `--help` shows, which `--root` each command reads, and
//! how a command fails when nothing listens at a registry's address.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use wharf_testkit::cli::*;

/// `wharf ARGS --help` at a fixed width, so snapshots do not depend on the terminal.
fn help(args: &[&str]) -> String {
    let w = Wharf::new();
    let out = assert_cmd::Command::from_std(w.command())
        .args(args)
        .arg("--help")
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert!(out.status.success(), "wharf {args:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn commands_without_a_store_do_not_offer_its_root() {
    for args in [&["tags"][..], &["manifest"], &["manifest", "inspect"]] {
        let text = help(args);
        assert!(!text.contains("--root"), "wharf {args:?} --help:\n{text}");
    }
    insta::assert_snapshot!("tags_help", help(&["tags"]));
    insta::assert_snapshot!("manifest_inspect_help", help(&["manifest", "inspect"]));
}

#[test]
fn serve_and_registry_describe_their_own_root() {
    for args in [&["serve"][..], &["registry"], &["registry", "gc"]] {
        let text = help(args);
        assert!(
            text.contains("The registry's data directory") && !text.contains("image store"),
            "wharf {args:?} --help:\n{text}"
        );
    }
    insta::assert_snapshot!("serve_help", help(&["serve"]));
    insta::assert_snapshot!("registry_gc_help", help(&["registry", "gc"]));
}

#[test]
fn image_subcommands_and_positionals_are_described() {
    insta::assert_snapshot!("image_help", help(&["image"]));
    insta::assert_snapshot!("image_tag_help", help(&["image", "tag"]));
    insta::assert_snapshot!("copy_help", help(&["copy"]));
    insta::assert_snapshot!("sync_help", help(&["sync"]));
}

/// Starts `wharf [BEFORE...] serve --addr 127.0.0.1:0 [AFTER...]` with `envs`, returns the
/// data directory its first line names, and stops it.
fn serve_data_dir(w: &Wharf, before: &[&str], after: &[&str], envs: &[(&str, &str)]) -> String {
    let mut command = w.command();
    command
        .args(before)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(after)
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let dir = line
        .split("data in `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no data directory in {line:?}"));
    dir.to_string()
}

#[test]
fn serve_reads_its_own_root_never_the_stores() {
    let w = Wharf::new();
    let (a, b) = (w.path("a"), w.path("b"));
    let default = s(&w.path("xdg/wharf/registry")).to_string();
    assert_eq!(serve_data_dir(&w, &[], &["--root", s(&a)], &[]), s(&a));
    assert_eq!(serve_data_dir(&w, &["--root", s(&a)], &[], &[]), s(&a));
    let store_env = [("WHARF_ROOT", s(&a))];
    assert_eq!(serve_data_dir(&w, &[], &[], &store_env), default);
    let registry_env = [("WHARF_ROOT", s(&a)), ("WHARF_REGISTRY_ROOT", s(&b))];
    assert_eq!(serve_data_dir(&w, &[], &[], &registry_env), s(&b));
    // A flag beats the variable, wherever it is given.
    assert_eq!(
        serve_data_dir(&w, &["--root", s(&a)], &[], &registry_env),
        s(&a)
    );
}

#[test]
fn the_store_is_still_found_through_wharf_root() {
    let w = Wharf::new();
    let out = assert_cmd::Command::from_std(w.command())
        .args(["images", "-q"])
        .env("WHARF_ROOT", w.root())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(w.root().join("index.json").exists());
}

#[test]
fn a_refused_connection_fails_at_once_with_one_line() {
    let w = Wharf::new();
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("127.0.0.1:{port}");
    let image = format!("{host}/x");
    let commands: [&[&str]; 3] = [
        &["pull", &image],
        &["tags", &image],
        &["manifest", "inspect", &image],
    ];
    for args in commands {
        let started = Instant::now();
        let out = w.run(args);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "wharf {args:?} took {took:?}"
        );
        assert_eq!(out.code, 1, "wharf {args:?}");
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "wharf {args:?}:\n{}", out.stderr);
        assert!(
            lines[0].starts_with("error: ") && lines[0].ends_with("connection refused"),
            "{}",
            lines[0]
        );
        assert_eq!(
            lines[1],
            format!("hint: nothing listens at `{host}`: is the registry running, on that port?")
        );
    }
}
