//! Several processes on one store. The second process is this test binary re-run with
//! `WHARF_STORE_CHILD=<role>`, entering through `child_entry`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use wharf_spec::{Descriptor, Digest};
use wharf_store::{IngestStart, Store};

use crate::{commit_image, data, names, new_store, tag};

const CHILD_ENV: &str = "WHARF_STORE_CHILD";

/// Not a test of its own: the entry point of child processes. Without the env var (a
/// normal test run) it does nothing.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var(CHILD_ENV) else {
        return;
    };
    let var = |k: &str| std::env::var(k).unwrap();
    let say = |line: String| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "CHILD {line}").unwrap();
        out.flush().unwrap();
    };
    let store = Store::open(var("ROOT")).unwrap();
    match role.as_str() {
        "ingest" => {
            let bytes = std::fs::read(var("BLOB")).unwrap();
            let digest = Digest::sha256_of(&bytes);
            say("waiting".into());
            match store.ingest(&digest, Some(bytes.len() as u64)).unwrap() {
                IngestStart::Exists(n) => say(format!("exists {n}")),
                IngestStart::Staged(b) => {
                    say(format!("staged {}", b.size()));
                    store.commit(vec![b], |_| Ok(())).unwrap();
                    say("committed".into());
                }
                IngestStart::Writer(mut w) => {
                    let offset = w.offset();
                    say(format!("offset {offset}"));
                    w.write_all(&bytes[offset as usize..]).unwrap();
                    let staged = w.finish().unwrap();
                    store.commit(vec![staged], |_| Ok(())).unwrap();
                    say("committed".into());
                }
            }
        }
        "hang" => {
            let bytes = std::fs::read(var("BLOB")).unwrap();
            let digest = Digest::sha256_of(&bytes);
            let IngestStart::Writer(mut w) =
                store.ingest(&digest, Some(bytes.len() as u64)).unwrap()
            else {
                panic!("blob unexpectedly exists")
            };
            w.write_all(&bytes[..bytes.len() / 2]).unwrap();
            w.flush().unwrap();
            say("ready".into());
            std::thread::sleep(Duration::from_secs(120));
        }
        "commits" => {
            let desc: Descriptor = serde_json::from_str(&var("DESC")).unwrap();
            let prefix = var("PREFIX");
            for n in 0..var("N").parse::<u32>().unwrap() {
                let _guard = store.lock_shared().unwrap();
                store
                    .update_index(|i| {
                        tag(i, &format!("{prefix}:{n}"), &desc);
                        Ok(())
                    })
                    .unwrap();
            }
            say("done".into());
        }
        "churn" => {
            // Pulls and untags forever, until killed.
            let seed: u64 = var("SEED").parse().unwrap();
            for n in 0u64.. {
                let _guard = store.lock_shared().unwrap();
                let name = format!("churn{seed}:{n}");
                commit_image(
                    &store,
                    &name,
                    &[(seed * 1000 + n, 300_000), (n % 3, 50_000)],
                );
                if n % 2 == 0 {
                    store
                        .update_index(|i| {
                            i.manifests.retain(|d| {
                                d.annotation(wharf_spec::descriptor::ANNOTATION_REF_NAME)
                                    != Some(&name)
                            });
                            Ok(())
                        })
                        .unwrap();
                }
                if n == 2 {
                    say("running".into());
                }
            }
        }
        other => panic!("unknown child role {other}"),
    }
}

struct ChildProc {
    child: Child,
    lines: Receiver<String>,
}

impl ChildProc {
    fn spawn(root: &Path, role: &str, env: &[(&str, String)]) -> ChildProc {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "process::child_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, role)
        .env("ROOT", root)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // libtest prints `test name ... ` without a newline before our first line.
                if let Some(pos) = line.find("CHILD ") {
                    if tx.send(line[pos + "CHILD ".len()..].to_string()).is_err() {
                        break;
                    }
                }
            }
        });
        ChildProc { child, lines }
    }

    fn expect(&self, want: &str) -> String {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("child said nothing while we waited for {want:?}: {e}"));
        assert!(
            line.starts_with(want),
            "child said {line:?}, expected {want:?}"
        );
        line
    }

    fn still_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn succeed(mut self) {
        let status = self.child.wait().unwrap();
        assert!(status.success(), "child failed: {status}");
    }

    fn kill9(mut self) {
        self.child.kill().unwrap(); // SIGKILL on Unix
        self.child.wait().unwrap();
    }
}

fn blob_file(dir: &Path, bytes: &[u8]) -> String {
    let path = dir.join("blob.bin");
    std::fs::write(&path, bytes).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn a_second_process_waits_for_the_writer_then_shares_its_verified_blob() {
    let (t, store) = new_store();
    let bytes = data(2 << 20, 1);
    let digest = Digest::sha256_of(&bytes);
    let IngestStart::Writer(mut w) = store.ingest(&digest, Some(bytes.len() as u64)).unwrap()
    else {
        panic!()
    };
    w.write_all(&bytes[..1 << 20]).unwrap();

    let mut child = ChildProc::spawn(
        store.root(),
        "ingest",
        &[("BLOB", blob_file(t.path(), &bytes))],
    );
    child.expect("waiting");
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        child.still_running(),
        "the child must block on the digest lock"
    );

    w.write_all(&bytes[1 << 20..]).unwrap();
    let mine = w.finish().unwrap();
    // Finished but not committed here: the child shares the verified file and commits it.
    assert_eq!(child.expect("staged"), format!("staged {}", bytes.len()));
    child.expect("committed");
    child.succeed();
    assert_eq!(store.read_blob(&digest, u64::MAX).unwrap(), bytes);
    store.commit(vec![mine], |_| Ok(())).unwrap();
    assert!(crate::files_under(&store.root().join(".wharf/ingest")).is_empty());

    // Once committed, a newcomer just sees it.
    let child = ChildProc::spawn(
        store.root(),
        "ingest",
        &[("BLOB", blob_file(t.path(), &bytes))],
    );
    child.expect("waiting");
    assert_eq!(child.expect("exists"), format!("exists {}", bytes.len()));
    child.succeed();
}

#[test]
fn a_second_process_takes_over_an_abandoned_partial() {
    let (t, store) = new_store();
    let bytes = data(3 << 20, 2);
    let half = bytes.len() / 2;
    let digest = Digest::sha256_of(&bytes);
    let IngestStart::Writer(mut w) = store.ingest(&digest, Some(bytes.len() as u64)).unwrap()
    else {
        panic!()
    };
    w.write_all(&bytes[..half]).unwrap();

    let mut child = ChildProc::spawn(
        store.root(),
        "ingest",
        &[("BLOB", blob_file(t.path(), &bytes))],
    );
    child.expect("waiting");
    std::thread::sleep(Duration::from_millis(400));
    assert!(child.still_running());
    drop(w);
    assert_eq!(child.expect("offset"), format!("offset {half}"));
    child.expect("committed");
    child.succeed();
    assert_eq!(store.read_blob(&digest, u64::MAX).unwrap(), bytes);
    assert!(store.fsck(false).unwrap().stray.is_empty());
}

#[test]
fn kill_9_mid_ingest_leaves_a_resumable_partial_that_gc_can_also_remove() {
    let (t, store) = new_store();
    let bytes = data(4 << 20, 3);
    let half = bytes.len() / 2;
    let digest = Digest::sha256_of(&bytes);
    let blob = blob_file(t.path(), &bytes);

    let child = ChildProc::spawn(store.root(), "hang", &[("BLOB", blob.clone())]);
    child.expect("ready");
    child.kill9();
    // The kernel released the dead writer's lock: the partial is stale, and resumable.
    let report = store.fsck(false).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.resumable.len(), 1, "{report:?}");
    assert_eq!(report.resumable[0].size, half as u64);
    let IngestStart::Writer(mut w) = store.ingest(&digest, Some(bytes.len() as u64)).unwrap()
    else {
        panic!()
    };
    assert_eq!(w.offset(), half as u64);
    w.write_all(&bytes[half..]).unwrap();
    store.commit(vec![w.finish().unwrap()], |_| Ok(())).unwrap();
    assert_eq!(store.read_blob(&digest, u64::MAX).unwrap(), bytes);

    // Same crash again on another blob; this time gc cleans up.
    let other = data(1 << 20, 4);
    let child = ChildProc::spawn(
        store.root(),
        "hang",
        &[("BLOB", blob_file(t.path(), &other))],
    );
    child.expect("ready");
    child.kill9();
    let report = store.gc().unwrap();
    assert_eq!(report.removed_files.len(), 1, "{report:?}");
    assert!(store.fsck(false).unwrap().stray.is_empty());
}

#[test]
fn processes_committing_concurrently_lose_no_entries() {
    let (_t, store) = new_store();
    let base = commit_image(&store, "base:0", &[(1, 100)]);
    let desc = serde_json::to_string(&base.desc).unwrap();
    let children: Vec<_> = (0..3)
        .map(|p| {
            ChildProc::spawn(
                store.root(),
                "commits",
                &[
                    ("DESC", desc.clone()),
                    ("PREFIX", format!("p{p}")),
                    ("N", "25".into()),
                ],
            )
        })
        .collect();
    for n in 0..25 {
        let _guard = store.lock_shared().unwrap();
        store
            .update_index(|i| {
                tag(i, &format!("parent:{n}"), &base.desc);
                Ok(())
            })
            .unwrap();
    }
    for c in children {
        c.expect("done");
        c.succeed();
    }
    let names = names(&store);
    assert_eq!(names.len(), 1 + 4 * 25, "{names:?}");
}

#[test]
fn kill_9_at_random_moments_never_leaves_the_store_inconsistent() {
    let (_t, store) = new_store();
    commit_image(&store, "keep:1", &[(7, 1000)]);
    for round in 0..6u64 {
        let children: Vec<_> = (0..2)
            .map(|c| {
                ChildProc::spawn(
                    store.root(),
                    "churn",
                    &[("SEED", (round * 2 + c + 1).to_string())],
                )
            })
            .collect();
        for c in &children {
            c.expect("running");
        }
        // Vary the moment of death a little between rounds.
        std::thread::sleep(Duration::from_millis(20 + 37 * round));
        for c in children {
            c.kill9();
        }
        let store = Store::open(store.root()).unwrap();
        let report = store.fsck(false).unwrap();
        assert!(report.corrupt.is_empty(), "round {round}: {report:?}");
        assert!(report.missing.is_empty(), "round {round}: {report:?}");
        assert!(report.unreadable.is_empty(), "round {round}: {report:?}");
        assert!(names(&store).contains(&"keep:1".to_string()));
    }
    store.gc().unwrap();
    let report = store.fsck(false).unwrap();
    assert!(report.is_clean(), "{report:?}");
}
