//! A private PostgreSQL server on 127.0.0.1: `initdb` into a temp dir, `postgres` on a free
//! port with its socket in that dir and `fsync=off`, stopped on drop. Clients log in with a
//! password (scram-sha-256), so tests can check that it never shows.
//!
//! The server runs under a small `sh` that holds a pipe from this process: when the process
//! ends in any way (a panic that skips drops, a kill), the pipe closes and the shell stops
//! the server and removes its directory, so no server outlives the tests.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::registry::free_port;

pub const USER: &str = "wharf";

pub struct Postgres {
    child: Child,
    stdin: Option<ChildStdin>,
    dir: Option<TempDir>,
    bin: PathBuf,
    pub port: u16,
    pub password: String,
}

/// The directory of PostgreSQL's server binaries (Debian: `/usr/lib/postgresql/<v>/bin`,
/// newest version first; else `initdb` on PATH), or `None` (with the skip printed) when
/// they are missing and interop is not required.
pub fn binaries() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    let found = versions.pop().map(|(_, bin)| bin).or_else(|| {
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).find(|p| p.join("initdb").is_file()))
    });
    if found.is_none() {
        crate::missing(
            "PostgreSQL (`initdb`, `postgres` under /usr/lib/postgresql/*/bin)",
            "apt-get install postgresql",
        );
    }
    found
}

/// PostgreSQL refuses to run as root: then its files belong to `postgres` and the server
/// binaries run through `runuser`.
fn as_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn server_command(bin: &Path, program: &str) -> Command {
    if as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    }
}

/// Runs the server (its log in `$WHARF_PG_DIR/log`) and exits when it does; a background
/// reader stops it when the pipe on stdin closes, then removes its directory. (fd 3: a
/// background job's stdin is /dev/null unless redirected.)
const WATCHDOG: &str = r#"
exec 3<&0
"$@" 2>>"$WHARF_PG_DIR/log" &
server=$!
(
  read -r _ignored <&3
  pid=$(head -n 1 "$WHARF_PG_DIR/data/postmaster.pid" 2>/dev/null)
  if [ -n "$pid" ]; then
    kill -INT "$pid" 2>/dev/null
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -rf "$WHARF_PG_DIR"
) &
wait "$server"
"#;

static DATABASES: AtomicU32 = AtomicU32::new(0);

impl Postgres {
    /// Starts a server; `None` when PostgreSQL is missing (test skipped).
    pub fn start() -> Option<Postgres> {
        let bin = binaries()?;
        let dir = tempfile::tempdir().unwrap();
        let password = format!("pw-{}", uuid_like());
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, &password).unwrap();
        if as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .status()
                .expect("run chown");
            assert!(status.success(), "chown of the PostgreSQL dir failed");
        }
        let data = dir.path().join("data");
        let initdb = |icu: bool| {
            let mut c = server_command(&bin, "initdb");
            c.arg("-D")
                .arg(&data)
                .args(["-U", USER])
                .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
                .arg(format!("--pwfile={}", pwfile.display()))
                .args(["-E", "UTF8", "--locale=C.UTF-8", "-N"]);
            if icu {
                // A linguistic default collation (ICU English, where `a` < `B`), as
                // production databases usually have: wharf's byte-order paging must not
                // depend on it. PostgreSQL < 15 has no ICU default: then C.UTF-8.
                c.args(["--locale-provider=icu", "--icu-locale=en-US"]);
            }
            c.output().expect("run initdb")
        };
        let mut out = initdb(true);
        if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("locale-provider")
        {
            out = initdb(false);
        }
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_file(&pwfile).unwrap();
        let port = free_port();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .args(server_command(&bin, "postgres").get_program_and_args())
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-k")
            .arg(dir.path())
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=300"])
            .env("WHARF_PG_DIR", dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        let stdin = child.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
                drop(stdin);
                if log.contains("already in use") {
                    // The port was taken between picking and binding: start over.
                    return Postgres::start();
                }
                panic!("postgres exited ({status}): {log}");
            }
            // Through our own socket: a server of someone else's on the port is not ours.
            let ready = Command::new(bin.join("pg_isready"))
                .arg("-q")
                .arg("-h")
                .arg(dir.path())
                .args(["-p", &port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Some(Postgres {
                    child,
                    stdin,
                    dir: Some(dir),
                    bin,
                    port,
                    password,
                });
            }
            assert!(Instant::now() < deadline, "postgres did not start in 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One server for the whole test process (each test makes its own database in it).
    /// Never dropped: the watchdog stops it when the process exits.
    pub fn shared() -> Option<&'static Postgres> {
        static SHARED: OnceLock<Option<Postgres>> = OnceLock::new();
        SHARED.get_or_init(Postgres::start).as_ref()
    }

    /// `postgres://wharf:PASSWORD@127.0.0.1:PORT/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{USER}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    /// Creates a fresh, empty database and returns its URL.
    pub fn new_database(&self) -> String {
        let name = format!(
            "wharf_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        let out = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER])
            .arg(&name)
            .env("PGPASSWORD", &self.password)
            .output()
            .expect("run createdb");
        assert!(
            out.status.success(),
            "createdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.url(&name)
    }

    /// Runs one SQL statement with `psql` in `database`; returns its unaligned output.
    pub fn psql(&self, database_url: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .arg(database_url)
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Closing the pipe tells the watchdog to stop the server (a fast shutdown, which
        // disconnects clients) and remove the directory; wait for both.
        drop(self.stdin.take());
        let _ = self.child.wait();
        drop(self.dir.take());
    }
}

/// Some randomness for the password without another dependency.
fn uuid_like() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    format!("{:016x}", h.finish())
}

trait ProgramAndArgs {
    fn get_program_and_args(&self) -> Vec<std::ffi::OsString>;
}

impl ProgramAndArgs for Command {
    fn get_program_and_args(&self) -> Vec<std::ffi::OsString> {
        std::iter::once(self.get_program().to_os_string())
            .chain(self.get_args().map(|a| a.to_os_string()))
            .collect()
    }
}
