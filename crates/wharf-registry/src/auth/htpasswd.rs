//! An htpasswd file of bcrypt entries (`htpasswd -B`), checked with a small cache: bcrypt
//! costs tens of milliseconds by design, and Basic-auth clients send the password with
//! every request.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use wharf_spec::Digest;

use super::AuthSetupError;

/// How long a checked password is trusted without running bcrypt again.
const CACHE_FOR: Duration = Duration::from_secs(300);

pub struct Htpasswd {
    hashes: HashMap<String, String>,
    /// user → (sha256 of a password that bcrypt accepted, when).
    verified: Mutex<HashMap<String, (Digest, Instant)>>,
}

impl Htpasswd {
    pub fn load(path: &Path) -> Result<Htpasswd, AuthSetupError> {
        let text = std::fs::read_to_string(path).map_err(|source| AuthSetupError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Htpasswd::parse(&text).map_err(|message| AuthSetupError::Htpasswd {
            path: path.to_path_buf(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Htpasswd, String> {
        let mut hashes = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let n = i + 1;
            let Some((user, hash)) = line.split_once(':') else {
                return Err(format!("line {n} is not `user:hash`"));
            };
            if user.is_empty() {
                return Err(format!("line {n} has an empty user name"));
            }
            if !["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p)) {
                return Err(format!(
                    "line {n}: the password of `{user}` is not a bcrypt hash (`$2y$...`); create entries with `htpasswd -B`"
                ));
            }
            hashes.insert(user.to_string(), hash.to_string());
        }
        Ok(Htpasswd {
            hashes,
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `password` is `user`'s. Runs bcrypt on the blocking pool unless the same
    /// password was accepted recently.
    pub async fn verify(&self, user: &str, password: &str) -> bool {
        let Some(hash) = self.hashes.get(user).cloned() else {
            return false;
        };
        let fingerprint = Digest::sha256_of(password.as_bytes());
        {
            let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((known, at)) = verified.get(user) {
                if *known == fingerprint && at.elapsed() < CACHE_FOR {
                    return true;
                }
            }
        }
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(false);
        if ok {
            let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            verified.insert(user.to_string(), (fingerprint, Instant::now()));
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bcrypt_entries_verify() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let file = Htpasswd::parse(&format!("# users\nalice:{hash}\n")).unwrap();
        assert!(file.verify("alice", "s3cret").await);
        assert!(file.verify("alice", "s3cret").await, "cached");
        assert!(!file.verify("alice", "wrong").await);
        assert!(!file.verify("bob", "s3cret").await);
    }

    #[test]
    fn other_hashes_are_refused_with_their_line() {
        let err = Htpasswd::parse("a:$2y$05$x\nbob:{SHA}abc\n").err().unwrap();
        assert!(err.contains("line 2") && err.contains("`bob`"), "{err}");
        assert!(Htpasswd::parse("nocolon\n").is_err());
    }
}
