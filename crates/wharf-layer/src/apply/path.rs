//! Entry names → normalized paths relative to the root.
//!
//! Names are cleaned lexically, as Docker does: a leading `/` and `.` components are
//! dropped, `..` pops a component. A `..` that would climb above the root is an error,
//! never clamped, so a hostile name is reported rather than silently redirected.

/// A cleaned path inside the root: components joined by `/`, no leading `/`, no `.` or
/// `..`; empty for the root itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(Vec<u8>);

impl RelPath {
    /// Cleans `name`; `None` when it climbs above the root or holds a NUL byte.
    pub fn clean(name: &[u8]) -> Option<RelPath> {
        if name.contains(&0) {
            return None;
        }
        let mut parts: Vec<&[u8]> = Vec::new();
        for part in name.split(|&b| b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    parts.pop()?;
                }
                other => parts.push(other),
            }
        }
        Some(RelPath(parts.join(&b'/')))
    }

    pub fn root() -> RelPath {
        RelPath(Vec::new())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// `(parent, last component)`; the root has no parent.
    pub fn split(&self) -> Option<(RelPath, &[u8])> {
        if self.is_root() {
            return None;
        }
        Some(match self.0.iter().rposition(|&b| b == b'/') {
            Some(i) => (RelPath(self.0[..i].to_vec()), &self.0[i + 1..]),
            None => (RelPath::root(), &self.0[..]),
        })
    }

    pub fn join(&self, name: &[u8]) -> RelPath {
        if self.is_root() {
            return RelPath(name.to_vec());
        }
        let mut out = self.0.clone();
        out.push(b'/');
        out.extend_from_slice(name);
        RelPath(out)
    }

    /// Whether `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &RelPath) -> bool {
        other.is_root()
            || self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.get(other.0.len()) == Some(&b'/'))
    }

    /// The path for `openat`-style calls: `.` for the root.
    pub fn for_syscall(&self) -> &[u8] {
        if self.is_root() {
            b"."
        } else {
            &self.0
        }
    }
}

impl std::fmt::Display for RelPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", String::from_utf8_lossy(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(s: &str) -> Option<String> {
        RelPath::clean(s.as_bytes()).map(|p| p.to_string())
    }

    #[test]
    fn names_are_cleaned_like_docker_and_escapes_refused() {
        assert_eq!(clean("./usr/bin/"), Some("usr/bin".into()));
        assert_eq!(clean("/etc//passwd"), Some("etc/passwd".into()));
        assert_eq!(clean("a/../b"), Some("b".into()));
        assert_eq!(clean("./"), Some("".into()));
        assert_eq!(clean("../etc/passwd"), None);
        assert_eq!(clean("a/../../x"), None);
        assert_eq!(clean("/../x"), None);
    }

    #[test]
    fn split_join_and_prefixes() {
        let p = RelPath::clean(b"a/b/c").unwrap();
        let (parent, name) = p.split().unwrap();
        assert_eq!((parent.to_string(), name), ("a/b".to_string(), &b"c"[..]));
        assert_eq!(parent.join(b"c"), p);
        assert!(p.starts_with(&parent));
        assert!(!RelPath::clean(b"a/bc")
            .unwrap()
            .starts_with(&RelPath::clean(b"a/b").unwrap()));
        assert!(RelPath::root().split().is_none());
    }
}
