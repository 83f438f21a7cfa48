//! Image references (`[registry/][org/]repo[:tag][@digest]`), parsed and normalized exactly
//! as Docker does it (`github.com/distribution/reference`: `ParseNormalizedNamed`,
//! `FamiliarString`, `ParseDockerRef`, `TagNameOnly`), so that a name typed for `docker pull`
//! means the same image to wharf.
//!
//! Grammar (from distribution/reference `regexp.go`; written out by hand, no regex crate):
//!
//! ```text
//! reference      := name [ ":" tag ] [ "@" digest ]
//! name           := [ domain "/" ] path
//! domain         := host [ ":" port ]
//! host           := domain-name | "[" ipv6 "]"
//! domain-name    := component ( "." component )*     component := [a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?
//! ipv6           := [a-fA-F0-9:]+                      (no zone identifiers, no embedded IPv4)
//! port           := [0-9]+
//! path           := path-component ( "/" path-component )*
//! path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag            := [\w][\w.-]{0,127}
//! digest         := algorithm ":" hex                 (wharf verifies sha256 and sha512 only)
//! ```
//!
//! Normalization (`splitDockerDomain`): the part before the first `/` is a registry host when
//! it is `localhost`, contains `.` or `:`, or contains an upper-case letter; otherwise the
//! whole name is a Docker Hub path. `index.docker.io` becomes `docker.io`, and a one-component
//! Docker Hub path gets the `library/` prefix. The repository path may be at most 255
//! characters (distribution/reference#9 excludes the domain from that limit).
//!
//! Where wharf deliberately differs from Docker:
//! - A first component that contains `.` (so it is taken as a host) but is not a valid host,
//!   such as `foo_bar.com/x`, is rejected. Docker's regex falls back to reading it as a
//!   domain-less path and returns a reference whose domain is empty, which no registry serves.
//! - The lowercase rule is checked on the repository path itself; Docker checks the text up
//!   to the first `:`, which for `redis@SHA256:…` wrongly blames the repository name.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::{Algorithm, Digest, DigestError};

/// The registry Docker Hub images live on, as Docker spells it in normalized names.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The legacy Docker Hub host; normalized to [`DEFAULT_DOMAIN`].
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// The Docker Hub namespace of official images (`redis` is `library/redis`).
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag Docker pulls when a reference names neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";
/// distribution/reference `RepositoryNameTotalLengthMax`, applied to the path.
pub const MAX_PATH_LEN: usize = 255;
/// Longest tag the grammar allows (`[\w][\w.-]{0,127}`).
pub const MAX_TAG_LEN: usize = 128;

/// Why a string is not an image reference. Every message is one line, quotes the input in
/// backticks (control characters escaped, very long inputs shortened) and names the broken
/// rule with Docker's wording where Docker has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference `{}`: invalid reference format: repository name must have at least one component", shown(.input))]
    EmptyName { input: String },
    #[error("invalid reference `{}`: invalid repository name, cannot specify 64-byte hexadecimal strings", shown(.input))]
    HexIdentifier { input: String },
    #[error("invalid reference `{}`: invalid reference format: repository name ({}) must be lowercase", shown(.input), shown(.repository))]
    Uppercase { input: String, repository: String },
    #[error("invalid reference `{}`: invalid reference format: registry host `{}` must be dot-separated alphanumeric labels (inner hyphens allowed) or a bracketed IPv6 address", shown(.input), shown(.host))]
    InvalidHost { input: String, host: String },
    #[error("invalid reference `{}`: invalid reference format: IPv6 registry host `{}` may hold only hex digits and `:` between brackets (no zone, no embedded IPv4)", shown(.input), shown(.host))]
    InvalidIpv6 { input: String, host: String },
    #[error("invalid reference `{}`: invalid reference format: registry port `{}` must be `:` followed by decimal digits", shown(.input), shown(.port))]
    InvalidPort { input: String, port: String },
    #[error("invalid reference `{}`: invalid reference format: repository path `{}` has an empty component (leading, trailing or doubled `/`)", shown(.input), shown(.path))]
    EmptyPathComponent { input: String, path: String },
    #[error("invalid reference `{}`: invalid reference format: path component `{}` must be lowercase alphanumerics joined by `.`, `_`, `__` or dashes", shown(.input), shown(.component))]
    InvalidPathComponent { input: String, component: String },
    #[error("invalid reference `{}`: repository name must not be more than 255 characters (path has {length})", shown(.input))]
    NameTooLong { input: String, length: usize },
    #[error("invalid reference `{}`: invalid reference format: `:` must be followed by a tag", shown(.input))]
    EmptyTag { input: String },
    #[error("invalid reference `{}`: invalid tag format: tag `{}` must start with [A-Za-z0-9_] and continue with [A-Za-z0-9_.-]", shown(.input), shown(.tag))]
    InvalidTag { input: String, tag: String },
    #[error("invalid reference `{}`: invalid tag format: tag must not be more than 128 characters (has {length})", shown(.input))]
    TagTooLong { input: String, length: usize },
    #[error("invalid reference `{}`: invalid reference format: `@` must be followed by a digest", shown(.input))]
    EmptyDigest { input: String },
    #[error("invalid reference `{}`: invalid checksum digest format: `{}` must be `algorithm:hex` with at least 32 hex digits", shown(.input), shown(.digest))]
    DigestFormat { input: String, digest: String },
    #[error("invalid reference `{}`: unsupported digest algorithm `{}` (wharf verifies sha256 and sha512)", shown(.input), shown(.algorithm))]
    UnsupportedDigest { input: String, algorithm: String },
    #[error("invalid reference `{}`: invalid checksum digest length: {algorithm} needs {expected} hex characters, found {found}", shown(.input))]
    DigestLength {
        input: String,
        algorithm: Algorithm,
        expected: usize,
        found: usize,
    },
    #[error("invalid reference `{}`: invalid checksum digest format: the hex of `{}` must be lowercase", shown(.input), shown(.digest))]
    DigestNotLowercase { input: String, digest: String },
    #[error("invalid reference `{}`: repository name must be canonical (write `{}`)", shown(.input), shown(.canonical))]
    NotCanonical { input: String, canonical: String },
}

/// A parsed, normalized image reference: always has a registry domain and a repository
/// path; may carry a tag, a digest, or both (as Docker allows `name:tag@digest`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Docker's `ParseNormalizedNamed`: accepts familiar forms (`redis`, `user/app:1`,
    /// `localhost:5000/x@sha256:…`) and fills in `docker.io` and `library/`.
    pub fn parse_normalized(input: &str) -> Result<Reference, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::EmptyName {
                input: String::new(),
            });
        }
        // An image ID typed where a name belongs must not silently become a repository.
        if is_hex_identifier(input) {
            return Err(ReferenceError::HexIdentifier {
                input: input.to_string(),
            });
        }
        let parts = split_parts(input)?;
        let (domain, path) = split_docker_domain(parts.name);
        if has_upper(&path) {
            return Err(ReferenceError::Uppercase {
                input: input.to_string(),
                repository: path,
            });
        }
        check_domain(input, domain, &path)?;
        check_path(input, &path)?;
        if let Some(tag) = parts.tag {
            check_tag(input, tag)?;
        }
        let digest = parts.digest.map(|d| parse_digest(input, d)).transpose()?;
        Ok(Reference {
            domain: domain.to_string(),
            path,
            tag: parts.tag.map(str::to_string),
            digest,
        })
    }

    /// Docker's `ParseNamed`: the input must already be in normalized form
    /// (`docker.io/library/redis:7`), so stored references are unambiguous; familiar forms
    /// such as `redis` are refused with "repository name must be canonical".
    pub fn parse_qualified(input: &str) -> Result<Reference, ReferenceError> {
        let reference = Reference::parse_normalized(input)?;
        let canonical = reference.normalized();
        if canonical != input {
            return Err(ReferenceError::NotCanonical {
                input: input.to_string(),
                canonical,
            });
        }
        Ok(reference)
    }

    /// The registry: `docker.io`, `localhost:5000`, `[::1]:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path on the registry: `library/redis`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `domain/path`, e.g. `docker.io/library/redis`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// Docker's `FamiliarName`: the name as `docker` prints it (`redis`, `user/app`,
    /// `localhost:5000/x`). Like Docker, `library/` is only dropped when nothing is nested
    /// below it, so `docker.io/library/a/b` stays `library/a/b`.
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => self.path.clone(),
        }
    }

    /// The full normalized string (`String()` of the normalized reference), keeping both
    /// tag and digest when both were given: `docker.io/library/redis:7@sha256:…`.
    pub fn normalized(&self) -> String {
        format!("{}{}", self.name(), self.suffix())
    }

    /// Docker's `FamiliarString`: `redis:7`, `redis@sha256:…`, `redis:7@sha256:…`.
    pub fn familiar(&self) -> String {
        format!("{}{}", self.familiar_name(), self.suffix())
    }

    /// Docker's `ParseDockerRef`: what is actually pulled. A digest wins over a tag (the tag
    /// is dropped); a bare name gets `latest` (`TagNameOnly`); a tag alone is kept.
    pub fn canonical(&self) -> Reference {
        match (&self.tag, &self.digest) {
            (_, Some(_)) => Reference {
                tag: None,
                ..self.clone()
            },
            (None, None) => Reference {
                tag: Some(DEFAULT_TAG.to_string()),
                ..self.clone()
            },
            (Some(_), None) => self.clone(),
        }
    }

    /// The same repository as `name:tag`. Any digest is dropped: the result names whatever
    /// the tag points to, not the pinned content (Docker's `WithTag` would keep it).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        check_tag(&format!("{}:{}", self.name(), tag), tag)?;
        Ok(Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        })
    }

    /// The same repository pinned as `name@digest`; any tag is dropped.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: Some(digest),
        }
    }

    /// The tag, or `latest` when none was given (also for digest-only references, so callers
    /// that pin by digest must look at [`Reference::digest`] first).
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or(DEFAULT_TAG)
    }

    /// Whether the image lives on Docker Hub, which needs its own auth and mirror handling.
    pub fn is_docker_hub(&self) -> bool {
        self.domain == DEFAULT_DOMAIN
    }

    /// `[:tag][@digest]`, shared by the normalized and familiar forms.
    fn suffix(&self) -> String {
        let mut out = String::new();
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(&digest.to_string());
        }
        out
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normalized())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse_normalized(s)
    }
}

impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Reference::parse_normalized(&s).map_err(serde::de::Error::custom)
    }
}

/// The three textual pieces of a reference, not yet validated.
struct Parts<'a> {
    name: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

/// Splits `name[:tag][@digest]`. The digest starts at the first `@` (nothing before it may
/// contain one); the tag is after the last `:` unless a `/` follows it, in which case that
/// `:` belongs to a registry port. All split points are ASCII, so slicing is char-safe.
fn split_parts(input: &str) -> Result<Parts<'_>, ReferenceError> {
    let (rest, digest) = match input.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (input, None),
    };
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    let input = || input.to_string();
    if name.is_empty() {
        return Err(ReferenceError::EmptyName { input: input() });
    }
    if tag == Some("") {
        return Err(ReferenceError::EmptyTag { input: input() });
    }
    if digest == Some("") {
        return Err(ReferenceError::EmptyDigest { input: input() });
    }
    Ok(Parts { name, tag, digest })
}

/// distribution/reference `splitDockerDomain`: decides whether the first component is a
/// registry and applies Docker Hub's defaults. Returns `(domain, path)`.
fn split_docker_domain(name: &str) -> (&str, String) {
    let Some((first, rest)) = name.split_once('/') else {
        return (DEFAULT_DOMAIN, format!("{OFFICIAL_REPO_PREFIX}{name}"));
    };
    let (domain, remote) = if first == LEGACY_DEFAULT_DOMAIN {
        (DEFAULT_DOMAIN, rest)
    } else if first == "localhost" || first.contains(['.', ':']) || has_upper(first) {
        (first, rest)
    } else {
        (DEFAULT_DOMAIN, name)
    };
    if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        return (domain, format!("{OFFICIAL_REPO_PREFIX}{remote}"));
    }
    (domain, remote.to_string())
}

/// Go's `strings.ToLower(s) != s`: any character with a distinct lowercase form.
fn has_upper(s: &str) -> bool {
    s.chars().any(|c| c.to_lowercase().ne(std::iter::once(c)))
}

/// distribution/reference's anchored identifier: exactly 64 lowercase hex digits.
fn is_hex_identifier(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(is_lower_hex)
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// Validates `host[:port]`. A first component taken as a host only because it has an
/// upper-case letter is reported as Docker does, as an upper-case repository name.
fn check_domain(input: &str, domain: &str, path: &str) -> Result<(), ReferenceError> {
    let result = match domain.strip_prefix('[') {
        Some(bracketed) => check_ipv6_domain(input, domain, bracketed),
        None => check_named_domain(input, domain),
    };
    match result {
        Err(_) if !domain.contains(['.', ':']) && has_upper(domain) => {
            Err(ReferenceError::Uppercase {
                input: input.to_string(),
                repository: format!("{domain}/{path}"),
            })
        }
        other => other,
    }
}

/// `[hex:...]` optionally followed by `:port`; `bracketed` is `domain` without its `[`.
fn check_ipv6_domain(input: &str, domain: &str, bracketed: &str) -> Result<(), ReferenceError> {
    let invalid = || ReferenceError::InvalidIpv6 {
        input: input.to_string(),
        host: domain.to_string(),
    };
    let (address, after) = bracketed.split_once(']').ok_or_else(invalid)?;
    if address.is_empty() || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
        return Err(invalid());
    }
    check_port(input, after)
}

/// A DNS-like name or IPv4 address, optionally followed by `:port`.
fn check_named_domain(input: &str, domain: &str) -> Result<(), ReferenceError> {
    let (host, port) = match domain.find(':') {
        Some(i) => (&domain[..i], &domain[i..]),
        None => (domain, ""),
    };
    if !host.split('.').all(is_domain_component) {
        return Err(ReferenceError::InvalidHost {
            input: input.to_string(),
            host: host.to_string(),
        });
    }
    check_port(input, port)
}

/// `suffix` is what follows the host: empty, or `:` and at least one digit.
fn check_port(input: &str, suffix: &str) -> Result<(), ReferenceError> {
    let valid = match suffix.strip_prefix(':') {
        Some(digits) => !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
        None => suffix.is_empty(),
    };
    if valid {
        Ok(())
    } else {
        Err(ReferenceError::InvalidPort {
            input: input.to_string(),
            port: suffix.to_string(),
        })
    }
}

/// `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?`
fn is_domain_component(label: &str) -> bool {
    let bytes = label.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        }
        _ => false,
    }
}

/// Checks a repository path on its own (no registry host), as a registry receives it in
/// `/v2/<name>/...`: the path-component grammar and the 255-character limit.
pub fn validate_repository_path(path: &str) -> Result<(), ReferenceError> {
    if path.is_empty() {
        return Err(ReferenceError::EmptyName {
            input: path.to_string(),
        });
    }
    check_path(path, path)
}

/// Checks a tag on its own: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), ReferenceError> {
    check_tag(tag, tag)
}

/// Every `/`-separated component must be non-empty and match the path-component grammar;
/// then the whole path must fit Docker's 255-character limit.
fn check_path(input: &str, path: &str) -> Result<(), ReferenceError> {
    for component in path.split('/') {
        if component.is_empty() {
            return Err(ReferenceError::EmptyPathComponent {
                input: input.to_string(),
                path: path.to_string(),
            });
        }
        if !is_path_component(component) {
            return Err(ReferenceError::InvalidPathComponent {
                input: input.to_string(),
                component: component.to_string(),
            });
        }
    }
    if path.len() > MAX_PATH_LEN {
        return Err(ReferenceError::NameTooLong {
            input: input.to_string(),
            length: path.len(),
        });
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`: alternating runs of lowercase alphanumerics and
/// single separators, starting and ending with alphanumerics. Works on bytes, so any
/// non-ASCII byte simply fails to match.
fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let mut i = 0;
    loop {
        let run = i;
        while i < bytes.len() && is_lower_alnum(bytes[i]) {
            i += 1;
        }
        if i == run {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let separator = i;
        while i < bytes.len() && matches!(bytes[i], b'.' | b'_' | b'-') {
            i += 1;
        }
        if !is_separator(&bytes[separator..i]) {
            return false;
        }
    }
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// One `.`, one or two `_`, or any number of `-` (never mixed).
fn is_separator(run: &[u8]) -> bool {
    matches!(run, b"." | b"_" | b"__") || (!run.is_empty() && run.iter().all(|b| *b == b'-'))
}

/// `[\w][\w.-]{0,127}` where `\w` is ASCII `[A-Za-z0-9_]`.
fn check_tag(input: &str, tag: &str) -> Result<(), ReferenceError> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut bytes = tag.bytes();
    let first_ok = bytes.next().is_some_and(word);
    if !first_ok || !bytes.all(|b| word(b) || b == b'.' || b == b'-') {
        return Err(ReferenceError::InvalidTag {
            input: input.to_string(),
            tag: tag.to_string(),
        });
    }
    if tag.len() > MAX_TAG_LEN {
        return Err(ReferenceError::TagTooLong {
            input: input.to_string(),
            length: tag.len(),
        });
    }
    Ok(())
}

/// Checks in go-digest's order (syntax, algorithm, length, lowercase hex) so the error names
/// the same rule Docker names, then lets [`Digest::parse`] build the value.
fn parse_digest(input: &str, text: &str) -> Result<Digest, ReferenceError> {
    let format_error = || ReferenceError::DigestFormat {
        input: input.to_string(),
        digest: text.to_string(),
    };
    let (algorithm, hex) = text.split_once(':').ok_or_else(format_error)?;
    if !is_digest_algorithm(algorithm)
        || hex.len() < 32
        || !hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(format_error());
    }
    let supported =
        Algorithm::from_name(algorithm).ok_or_else(|| ReferenceError::UnsupportedDigest {
            input: input.to_string(),
            algorithm: algorithm.to_string(),
        })?;
    if hex.len() != supported.hex_len() {
        return Err(ReferenceError::DigestLength {
            input: input.to_string(),
            algorithm: supported,
            expected: supported.hex_len(),
            found: hex.len(),
        });
    }
    Digest::parse(text).map_err(|e| digest_error(input, text, e))
}

/// Translates the digest module's errors into the reference vocabulary (reached only if
/// the two validators ever disagree; the checks above normally decide first).
fn digest_error(input: &str, text: &str, error: DigestError) -> ReferenceError {
    let input = input.to_string();
    match error {
        DigestError::MissingSeparator(_) => ReferenceError::DigestFormat {
            input,
            digest: text.to_string(),
        },
        DigestError::UnsupportedAlgorithm { algorithm, .. } => {
            ReferenceError::UnsupportedDigest { input, algorithm }
        }
        DigestError::WrongLength {
            algorithm,
            expected,
            found,
            ..
        } => ReferenceError::DigestLength {
            input,
            algorithm,
            expected,
            found,
        },
        DigestError::NotHex(_) => ReferenceError::DigestNotLowercase {
            input,
            digest: text.to_string(),
        },
    }
}

/// `[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*`
fn is_digest_algorithm(algorithm: &str) -> bool {
    algorithm.split(['-', '_', '+', '.']).all(|part| {
        let mut bytes = part.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
            && bytes.all(|b| b.is_ascii_alphanumeric())
    })
}

/// How user text appears inside an error message: control characters escaped so the
/// message stays on one line, and long inputs cut so a hostile input cannot flood logs.
struct Shown<'a>(&'a str);

fn shown(s: &str) -> Shown<'_> {
    Shown(s)
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX_CHARS: usize = 300;
        for c in self.0.chars().take(MAX_CHARS) {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        let total = self.0.chars().count();
        if total > MAX_CHARS {
            write!(f, "…({} more characters)", total - MAX_CHARS)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_components_follow_the_separator_rules() {
        for ok in ["a", "a.b", "a_b", "a__b", "a-b", "a---b", "a1.b2_c3__d4-e5"] {
            assert!(is_path_component(ok), "{ok}");
        }
        for bad in [
            "", "-a", "a-", ".a", "a.", "_a", "a_", "a___b", "a..b", "a._b", "a_-b", "A", "é",
        ] {
            assert!(!is_path_component(bad), "{bad}");
        }
    }

    #[test]
    fn domain_components_allow_inner_hyphens_and_upper_case() {
        for ok in ["a", "A", "a-b", "a--b", "0101", "xn--n3h"] {
            assert!(is_domain_component(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a_b", "a.b", "é"] {
            assert!(!is_domain_component(bad), "{bad}");
        }
    }

    #[test]
    fn digest_algorithms_follow_the_reference_grammar() {
        for ok in ["sha256", "SHA256", "sha256+b64", "blake3", "a+b.c_d"] {
            assert!(is_digest_algorithm(ok), "{ok}");
        }
        for bad in ["", "256", "sha3-256", "sha-", "-sha", "sha--a", "sh a"] {
            assert!(!is_digest_algorithm(bad), "{bad}");
        }
    }

    #[test]
    fn shown_escapes_newlines_and_shortens_long_text() {
        assert_eq!(shown("a\nb").to_string(), "a\\nb");
        let long = "é".repeat(400);
        let text = shown(&long).to_string();
        assert!(text.ends_with("…(100 more characters)"), "{text}");
    }
}
