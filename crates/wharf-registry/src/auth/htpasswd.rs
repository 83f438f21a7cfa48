//! An htpasswd file of bcrypt entries (`htpasswd -B`), checked with a small cache: bcrypt
//! costs tens of milliseconds by design, and Basic-auth clients send the password with
//! every request. An unknown user costs a bcrypt run too, against a dummy hash of the
//! file's usual cost, so the time an answer takes does not tell which users exist.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use wharf_spec::Digest;

use super::AuthSetupError;

/// How long a checked password is trusted without running bcrypt again.
const CACHE_FOR: Duration = Duration::from_secs(300);

pub struct Htpasswd {
    hashes: HashMap<String, String>,
    /// user → (sha256 of a password that bcrypt accepted, when).
    verified: Mutex<HashMap<String, (Digest, Instant)>>,
    /// What an unknown user's password is checked against (made on first use).
    dummy: Arc<OnceLock<String>>,
    /// The bcrypt cost most entries use: the dummy hash's.
    usual_cost: u32,
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
        let usual_cost = usual_cost(hashes.values());
        Ok(Htpasswd {
            hashes,
            verified: Mutex::new(HashMap::new()),
            dummy: Arc::new(OnceLock::new()),
            usual_cost,
        })
    }

    /// A short fingerprint of `user`'s password hash (None for an unknown user): a login
    /// remembers it, and ends when it changes.
    pub fn fingerprint(&self, user: &str) -> Option<String> {
        let hash = self.hashes.get(user)?;
        let digest = Digest::sha256_of(hash.as_bytes()).to_string();
        Some(digest[digest.len() - 16..].to_string())
    }

    /// Whether `password` is `user`'s. Runs bcrypt on the blocking pool unless the same
    /// password was accepted recently.
    pub async fn verify(&self, user: &str, password: &str) -> bool {
        let Some(hash) = self.hashes.get(user).cloned() else {
            // As long as a wrong password takes, so unknown names cannot be told apart.
            let dummy = self.dummy.clone();
            let cost = self.usual_cost;
            let password = password.to_string();
            let _ = tokio::task::spawn_blocking(move || {
                let hash = dummy.get_or_init(|| {
                    bcrypt::hash("not any user's password", cost).unwrap_or_default()
                });
                bcrypt::verify(password, hash)
            })
            .await;
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
        let ok = match tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash)).await {
            Ok(checked) => checked.unwrap_or(false),
            // Fails closed: a check that did not finish refuses, and is a bug worth a line.
            Err(e) => {
                tracing::error!(error = %e, "the password check task failed");
                false
            }
        };
        if ok {
            let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            verified.insert(user.to_string(), (fingerprint, Instant::now()));
        }
        ok
    }
}

/// The cost (`$2y$NN$`) most of `hashes` use, the higher on a tie; bcrypt's default for
/// a file without entries.
fn usual_cost<'a>(hashes: impl Iterator<Item = &'a String>) -> u32 {
    let mut counts: HashMap<u32, usize> = HashMap::new();
    for hash in hashes {
        if let Some(cost) = hash.get(4..6).and_then(|c| c.parse().ok()) {
            *counts.entry(cost).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|&(cost, n)| (n, cost))
        .map_or(bcrypt::DEFAULT_COST, |(cost, _)| cost)
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
    fn the_dummy_hash_has_the_cost_most_entries_use() {
        let at = |cost: u32| bcrypt::hash("x", cost).unwrap();
        let file = Htpasswd::parse(&format!("a:{}\nb:{}\nc:{}\n", at(4), at(5), at(5))).unwrap();
        assert_eq!(file.usual_cost, 5);
        assert_eq!(
            Htpasswd::parse("").unwrap().usual_cost,
            bcrypt::DEFAULT_COST
        );
    }

    #[test]
    fn other_hashes_are_refused_with_their_line() {
        let err = Htpasswd::parse("a:$2y$05$x\nbob:{SHA}abc\n").err().unwrap();
        assert!(err.contains("line 2") && err.contains("`bob`"), "{err}");
        assert!(Htpasswd::parse("nocolon\n").is_err());
    }
}
