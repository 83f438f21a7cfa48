//! Running the real `wharf` binary against a throwaway store.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub struct Wharf {
    pub dir: tempfile::TempDir,
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

    /// `wharf --root <store> ARGS...`
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("wharf").unwrap();
        cmd.arg("--root").arg(self.root()).args(args);
        cmd.env_remove("WHARF_ROOT");
        cmd
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
        if std::env::var("WHARF_REQUIRE_INTEROP").is_ok_and(|v| v == "1") {
            panic!("`{tool}` is required (WHARF_REQUIRE_INTEROP=1) but not installed");
        }
        eprintln!("skipping: `{tool}` is not installed");
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
