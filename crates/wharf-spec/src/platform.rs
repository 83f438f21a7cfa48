//! Platforms (`os/arch[/variant]`) and matching them the way Docker normalizes them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A platform as it appears in an image index or an image config.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid platform `{input}`: {reason} (expected `os/arch[/variant]`, e.g. `linux/arm64/v8`)"
)]
pub struct PlatformError {
    input: String,
    reason: &'static str,
}

impl Platform {
    /// Parses `os/arch[/variant]` as given on a command line.
    pub fn parse(input: &str) -> Result<Platform, PlatformError> {
        let err = |reason| PlatformError {
            input: input.to_string(),
            reason,
        };
        let parts: Vec<&str> = input.split('/').collect();
        if parts.len() < 2 || parts.len() > 3 {
            return Err(err("needs two or three `/`-separated parts"));
        }
        if parts.iter().any(|p| p.is_empty()) {
            return Err(err("a part is empty"));
        }
        let valid = |p: &str| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        if !parts.iter().all(|p| valid(p)) {
            return Err(err("parts may hold only letters, digits, `_`, `-` and `.`"));
        }
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: parts[1].to_ascii_lowercase(),
            variant: parts.get(2).map(|v| v.to_ascii_lowercase()),
            ..Platform::default()
        })
    }

    /// The platform this binary runs on, in OCI terms.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        Platform {
            os: std::env::consts::OS.to_string(),
            architecture: architecture.to_string(),
            ..Platform::default()
        }
        .normalized()
    }

    /// Docker's normalization (containerd `platforms.Normalize`): `x86_64` → `amd64`,
    /// `aarch64` → `arm64`, `arm64/v8` → `arm64`, `arm` → `arm/v7`, `amd64/v1` → `amd64`.
    pub fn normalized(&self) -> Platform {
        let os = self.os.to_ascii_lowercase();
        let mut arch = self.architecture.to_ascii_lowercase();
        let mut variant = self.variant.as_ref().map(|v| v.to_ascii_lowercase());
        match arch.as_str() {
            "i386" => {
                arch = "386".into();
                variant = None;
            }
            "x86_64" | "x86-64" | "amd64" => {
                arch = "amd64".into();
                if variant.as_deref() == Some("v1") {
                    variant = None;
                }
            }
            "aarch64" | "arm64" => {
                arch = "arm64".into();
                if matches!(variant.as_deref(), Some("8") | Some("v8")) {
                    variant = None;
                }
            }
            "armhf" => {
                arch = "arm".into();
                variant = Some("v7".into());
            }
            "armel" => {
                arch = "arm".into();
                variant = Some("v6".into());
            }
            "arm" => {
                variant = match variant.as_deref() {
                    None | Some("") | Some("7") => Some("v7".into()),
                    Some("5") | Some("6") | Some("8") => {
                        Some(format!("v{}", variant.as_deref().unwrap_or_default()))
                    }
                    _ => variant,
                };
            }
            _ => {}
        }
        Platform {
            os,
            architecture: arch,
            variant: variant.filter(|v| !v.is_empty()),
            os_version: self.os_version.clone(),
            os_features: self.os_features.clone(),
        }
    }

    /// Whether an image for `candidate` satisfies a request for `self`, after normalization.
    pub fn matches(&self, candidate: &Platform) -> bool {
        let want = self.normalized();
        let have = candidate.normalized();
        want.os == have.os && want.architecture == have.architecture && want.variant == have.variant
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    #[test]
    fn docker_equivalences_match() {
        let same = [
            ("linux/arm64", "linux/arm64/v8"),
            ("linux/aarch64", "linux/arm64"),
            ("linux/x86_64", "linux/amd64"),
            ("linux/arm", "linux/arm/v7"),
            ("linux/armhf", "linux/arm/v7"),
            ("linux/amd64/v1", "linux/amd64"),
            ("LINUX/AMD64", "linux/amd64"),
        ];
        for (a, b) in same {
            assert!(p(a).matches(&p(b)), "{a} should match {b}");
            assert!(p(b).matches(&p(a)), "{b} should match {a}");
        }
        let different = [
            ("linux/arm", "linux/arm/v6"),
            ("linux/amd64", "linux/arm64"),
            ("linux/amd64", "windows/amd64"),
            ("linux/arm64", "linux/arm64/v9"),
        ];
        for (a, b) in different {
            assert!(!p(a).matches(&p(b)), "{a} must not match {b}");
        }
    }

    #[test]
    fn parse_errors_name_the_problem() {
        assert!(Platform::parse("linux")
            .unwrap_err()
            .to_string()
            .contains("two or three"));
        assert!(Platform::parse("linux//v7")
            .unwrap_err()
            .to_string()
            .contains("empty"));
        assert!(Platform::parse("linux/am d64")
            .unwrap_err()
            .to_string()
            .contains("only letters"));
        assert_eq!(p("linux/arm/v7").to_string(), "linux/arm/v7");
    }

    #[test]
    fn host_is_normalized() {
        let h = Platform::host();
        assert_eq!(h, h.normalized());
    }
}
