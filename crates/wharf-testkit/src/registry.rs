//! A real CNCF distribution registry (`docker-registry`, 2.8) on 127.0.0.1, started per
//! test with its own storage and killed on drop. Its access log (one line per request, with
//! the status and bytes sent) goes to [`Registry::log`], so tests can count transfers.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How the registry authenticates.
pub enum Auth {
    None,
    /// `auth.htpasswd` with one user.
    Htpasswd {
        user: String,
        password: String,
    },
    /// `auth.token`: tokens from `realm`, signed by the key of `root_cert_pem`.
    Token {
        realm: String,
        service: String,
        issuer: String,
        root_cert_pem: String,
    },
}

/// TLS for the registry's listener.
pub struct Tls {
    pub cert_pem: String,
    pub key_pem: String,
}

pub struct Registry {
    child: Child,
    dir: TempDir,
    /// `127.0.0.1:PORT`: the reference domain.
    pub host: String,
    pub port: u16,
}

/// The `docker-registry` binary, or `None` (with the skip printed) when it is missing and
/// interop is not required.
pub fn binary() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("docker-registry"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        crate::missing(
            "`docker-registry` (CNCF distribution)",
            "apt-get install docker-registry",
        );
    }
    found
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    /// Starts a plain-HTTP registry; `None` when the binary is missing (test skipped).
    pub fn start(auth: Auth) -> Option<Registry> {
        Registry::start_with(auth, None)
    }

    pub fn start_with(auth: Auth, tls: Option<Tls>) -> Option<Registry> {
        let binary = binary()?;
        let dir = tempfile::tempdir().unwrap();
        let auth_yaml = match auth {
            Auth::None => String::new(),
            Auth::Htpasswd { user, password } => {
                let hash = bcrypt::hash(&password, 4).unwrap();
                let path = dir.path().join("htpasswd");
                std::fs::write(&path, format!("{user}:{hash}\n")).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: wharf-test\n    path: {}\n",
                    path.display()
                )
            }
            Auth::Token {
                realm,
                service,
                issuer,
                root_cert_pem,
            } => {
                let path = dir.path().join("token-root.pem");
                std::fs::write(&path, root_cert_pem).unwrap();
                format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                    path.display()
                )
            }
        };
        let tls_yaml = match tls {
            None => String::new(),
            Some(tls) => {
                let cert = dir.path().join("tls.crt");
                let key = dir.path().join("tls.key");
                std::fs::write(&cert, tls.cert_pem).unwrap();
                std::fs::write(&key, tls.key_pem).unwrap();
                format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    cert.display(),
                    key.display()
                )
            }
        };
        // A port can be taken between picking and binding; try a few.
        for _ in 0..5 {
            let port = free_port();
            let config = format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: wharf-test-secret\n{tls_yaml}{auth_yaml}",
                dir.path().join("data").display()
            );
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).unwrap();
            let log_path = dir.path().join("registry.log");
            let log = std::fs::File::create(&log_path).unwrap();
            let mut child = Command::new(&binary)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start docker-registry");
            if wait_until_listening(&mut child, port) {
                return Some(Registry {
                    child,
                    dir,
                    host: format!("127.0.0.1:{port}"),
                    port,
                });
            }
            let _ = child.kill();
            let _ = child.wait();
            let log = read_log(&log_path);
            if !log.contains("address already in use") {
                panic!("docker-registry did not start:\n{log}");
            }
        }
        panic!("docker-registry could not find a free port");
    }

    pub fn log(&self) -> String {
        read_log(&self.dir.path().join("registry.log"))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn wait_until_listening(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn read_log(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
