//! Running the real `wharf` binary against a throwaway store, isolated from the machine it
//! runs on (used by the `wharf` crate's integration tests; the binary is found beside the
//! test executable, in the same target directory).

use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub struct Wharf {
    pub dir: tempfile::TempDir,
}

impl Default for Wharf {
    fn default() -> Self {
        Wharf::new()
    }
}

impl Wharf {
    pub fn new() -> Self {
        Wharf {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// A scratch path beside the store for archives and layouts.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `wharf --root <store> ARGS...`, isolated (see [`Wharf::command`]).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::from_std(self.command());
        cmd.arg("--root").arg(self.root()).args(args);
        cmd
    }

    /// `wharf` with no arguments yet, isolated in this test's directory ([`isolated`]).
    pub fn command(&self) -> std::process::Command {
        isolated(self.dir.path())
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(
            out.status.success(),
            "wharf {args:?} failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and asserts failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(
            !out.status.success(),
            "wharf {args:?} should have failed:\nstdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

/// `wharf` with no arguments yet, isolated from the machine it runs on: its home, Docker
/// config and XDG directories are inside `dir` (`home`, `docker`, `config`, `xdg`), and no
/// `WHARF_*` variable or credential file of the caller's reaches it — so no test reads the
/// developer's `~/.docker/config.json`, store or registry settings. A test that wants one
/// of them sets it afterwards. Every test runs the binary through here.
pub fn isolated(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("wharf"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("WHARF_") {
            cmd.env_remove(&name);
        }
    }
    cmd.env("HOME", dir.join("home"))
        .env("DOCKER_CONFIG", dir.join("docker"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("xdg"))
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("SOURCE_DATE_EPOCH");
    cmd
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Whether a peer tool is installed; under `WHARF_REQUIRE_INTEROP=1` a missing one fails
/// the test instead of skipping it.
pub fn have_tool(tool: &str) -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        crate::missing(&format!("`{tool}`"), &format!("apt-get install {tool}"));
    }
    found
}

/// Whether a Docker Engine answers `docker info`.
pub fn have_docker() -> bool {
    let ok = std::process::Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipping: no Docker Engine answers `docker info`");
    }
    ok
}

/// What one run printed and how it exited.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// What a failed command must leave as it was: `index.json` and the blob files.
#[derive(Debug, PartialEq, Eq)]
pub struct StoreState {
    pub index: Vec<u8>,
    pub blobs: Vec<String>,
}

impl Wharf {
    /// Runs without asserting anything about the outcome.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().unwrap();
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    /// File names under `ROOT/blobs/sha256`, sorted.
    pub fn blob_files(&self) -> Vec<String> {
        files_in(&self.root().join("blobs/sha256"))
    }

    pub fn state(&self) -> StoreState {
        StoreState {
            index: std::fs::read(self.root().join("index.json")).unwrap_or_default(),
            blobs: self.blob_files(),
        }
    }

    /// Files in the store's staging areas (`.wharf/tmp`, `.wharf/ingest`) other than locks.
    pub fn staging_debris(&self) -> Vec<String> {
        ["tmp", "ingest"]
            .iter()
            .flat_map(|d| files_in(&self.root().join(".wharf").join(d)))
            .filter(|n| !n.ends_with(".lock"))
            .collect()
    }

    /// insta settings that redact what varies between runs: relative times, tag times and
    /// this test's temp directory.
    pub fn settings(&self) -> insta::Settings {
        let mut settings = insta::Settings::clone_current();
        let since = r"(?:Less than a second|About an? \w+|\d+ \w+) ago";
        // In tables the column keeps a fixed width, so rows stay aligned as times pass.
        settings.add_filter(&format!("{since} {{2,}}"), "[SINCE]   ");
        settings.add_filter(r"CREATED {2,}", "CREATED   ");
        settings.add_filter(since, "[SINCE]");
        settings.add_filter(
            r#""LastTagTime": "[1-9]\d{3}-[^"]+""#,
            r#""LastTagTime": "[TIME]""#,
        );
        settings.add_filter(
            &regex_escape(&self.dir.path().display().to_string()),
            "[TMP]",
        );
        settings
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

pub fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}
