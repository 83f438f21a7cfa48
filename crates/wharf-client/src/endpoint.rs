//! Where requests for a registry go: the host behind a reference's domain (`docker.io` →
//! `registry-1.docker.io`), the mirrors tried before it, and which of them may be spoken to
//! over plain HTTP (loopback like Docker, or what the config lists as insecure).

use std::net::IpAddr;

use crate::error::{ClientError, Result};

/// The domain references use for Docker Hub, and the host that serves its API.
pub const DOCKER_HUB_DOMAIN: &str = "docker.io";
pub const DOCKER_HUB_HOST: &str = "registry-1.docker.io";
/// The key Docker files Docker Hub's credentials under.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// The host that serves the registry API for a reference's domain.
pub fn registry_host(domain: &str) -> &str {
    match domain {
        DOCKER_HUB_DOMAIN | "index.docker.io" => DOCKER_HUB_HOST,
        other => other,
    }
}

/// One place that can answer for a registry: the registry itself or one of its mirrors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// The domain of the references served (`docker.io`), for messages.
    pub registry: String,
    /// `host[:port]` contacted.
    pub host: String,
    /// A scheme the configuration fixed (a mirror written as a URL); else it is decided by
    /// [`Endpoint::allow_http`].
    pub scheme: Option<&'static str>,
    /// A path before `/v2/` (mirrors behind a prefix); empty or starting with `/`.
    pub prefix: String,
    /// Plain HTTP is allowed (and certificates are not checked) — HTTPS is still tried first.
    pub allow_http: bool,
    /// Whether this is a mirror (a failure falls back to the next endpoint).
    pub mirror: bool,
}

impl Endpoint {
    pub fn origin(domain: &str, insecure: &[String]) -> Endpoint {
        let host = registry_host(domain).to_string();
        Endpoint {
            registry: domain.to_string(),
            allow_http: allows_plain_http(&host, insecure) || allows_plain_http(domain, insecure),
            host,
            scheme: None,
            prefix: String::new(),
            mirror: false,
        }
    }

    /// A mirror given as `host[:port]` or `scheme://host[:port][/prefix]`.
    pub fn mirror(domain: &str, spec: &str, insecure: &[String]) -> Result<Endpoint> {
        let bad =
            |reason: &str| ClientError::Setup(format!("mirror `{spec}` of `{domain}`: {reason}"));
        let (scheme, rest) = match spec.split_once("://") {
            Some(("https", rest)) => (Some("https"), rest),
            Some(("http", rest)) => (Some("http"), rest),
            Some((other, _)) => return Err(bad(&format!("unsupported scheme `{other}`"))),
            None => (None, spec),
        };
        let (host, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let prefix = prefix.strip_suffix("/v2").unwrap_or(prefix);
        if host.is_empty() || host.contains('@') || host.contains(char::is_whitespace) {
            return Err(bad(
                "expected `host[:port]` or `https://host[:port][/path]`",
            ));
        }
        Ok(Endpoint {
            registry: domain.to_string(),
            host: host.to_string(),
            scheme,
            prefix: prefix.to_string(),
            allow_http: allows_plain_http(host, insecure),
            mirror: true,
        })
    }

    /// The key credentials are looked up by: the reference's domain for the registry itself,
    /// the mirror's host for a mirror.
    pub fn credential_key(&self) -> &str {
        if self.mirror {
            &self.host
        } else {
            &self.registry
        }
    }

    /// Names the endpoint in messages: the registry, plus the mirror when it is one.
    pub fn display(&self) -> String {
        if self.mirror {
            format!("{} (mirror of {})", self.host, self.registry)
        } else {
            self.registry.clone()
        }
    }
}

/// Splits `host[:port]` (IPv6 in brackets) into the host part.
pub(crate) fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Docker's rule: loopback registries may use plain HTTP, as may those listed insecure
/// (`host`, `host:port`, or a CIDR range such as `10.0.0.0/8`).
pub(crate) fn allows_plain_http(host: &str, insecure: &[String]) -> bool {
    let bare = host_without_port(host);
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let ip = bare.parse::<IpAddr>().ok();
    if ip.is_some_and(|ip| ip.is_loopback()) {
        return true;
    }
    insecure.iter().any(|entry| {
        let entry = entry.trim();
        let entry = entry
            .strip_prefix("http://")
            .or_else(|| entry.strip_prefix("https://"))
            .unwrap_or(entry)
            .trim_end_matches('/');
        if entry.eq_ignore_ascii_case(host) || entry.eq_ignore_ascii_case(bare) {
            return true;
        }
        match (ip, entry.split_once('/')) {
            (Some(ip), Some((net, bits))) => in_cidr(ip, net, bits),
            _ => false,
        }
    })
}

fn in_cidr(ip: IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_maps_to_its_api_host() {
        assert_eq!(registry_host("docker.io"), "registry-1.docker.io");
        assert_eq!(registry_host("index.docker.io"), "registry-1.docker.io");
        assert_eq!(registry_host("ghcr.io"), "ghcr.io");
        let e = Endpoint::origin("docker.io", &[]);
        assert_eq!(e.host, "registry-1.docker.io");
        assert_eq!(e.credential_key(), "docker.io");
        assert!(!e.allow_http);
    }

    #[test]
    fn plain_http_only_for_loopback_and_listed() {
        let insecure = vec![
            "reg.internal:5000".to_string(),
            "http://other.internal".to_string(),
            "10.1.0.0/16".to_string(),
        ];
        for yes in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.8.9.10",
            "[::1]:5000",
            "reg.internal:5000",
            "other.internal:443",
            "10.1.2.3:5000",
        ] {
            assert!(allows_plain_http(yes, &insecure), "{yes}");
        }
        for no in [
            "docker.io",
            "reg.internal:5001",
            "reg.internal",
            "10.2.0.1",
            "localhost.example.com",
            "[::2]:5000",
            "128.0.0.1",
        ] {
            assert!(!allows_plain_http(no, &insecure), "{no}");
        }
    }

    #[test]
    fn mirrors_parse() {
        let m = Endpoint::mirror("docker.io", "https://mirror.gcr.io", &[]).unwrap();
        assert_eq!(
            (m.host.as_str(), m.scheme, m.prefix.as_str()),
            ("mirror.gcr.io", Some("https"), "")
        );
        assert_eq!(m.credential_key(), "mirror.gcr.io");
        let m = Endpoint::mirror("docker.io", "localhost:5001", &[]).unwrap();
        assert_eq!((m.scheme, m.allow_http), (None, true));
        let m = Endpoint::mirror("quay.io", "http://cache.local/quay/v2/", &[]).unwrap();
        assert_eq!((m.scheme, m.prefix.as_str()), (Some("http"), "/quay"));
        assert!(Endpoint::mirror("x", "ftp://a", &[]).is_err());
        assert!(Endpoint::mirror("x", "https://", &[]).is_err());
    }
}
