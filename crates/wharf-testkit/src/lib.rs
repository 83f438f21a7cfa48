//! Test helpers for the workspace's integration tests (a dev-dependency only; never
//! published).
//!
//! - [`cli::Wharf`]: the `wharf` binary run against a throwaway store, isolated from the
//!   machine ([`cli::isolated`]: no test reads the developer's `~/.docker/config.json`,
//!   store or `WHARF_*` settings), with insta settings that redact what varies;
//! - [`registry::Registry`]: a real CNCF distribution registry (`docker-registry`) on
//!   127.0.0.1 with its own storage, killed on drop. When the binary is missing the test
//!   skips (prints why), unless `WHARF_REQUIRE_INTEROP=1`, where it panics;
//! - [`postgres::Postgres`]: a private PostgreSQL server on 127.0.0.1, stopped on drop (or
//!   when the test process exits); skipped like the registry when PostgreSQL is missing;
//! - [`token::TokenIssuer`]: a token server for distribution's `auth: token`;
//! - [`fake::FakeServer`]: a tiny HTTP server for failures a real registry will not produce;
//! - [`proxy::FaultProxy`]: a counting TCP proxy that can cut a connection mid-request;
//! - [`pki`]: a private CA and a server certificate it signed, for verified HTTPS;
//! - [`browser::Browser`]: a headless Chromium driven over WebDriver (`chromedriver`), for
//!   the web UI; skipped like the registry when Chromium or its driver is missing;
//! - [`fixtures`]: the one builder of test images: layers, images and indexes built in code,
//!   written as OCI layouts, OCI and Docker archives, or pushed with wharf-client.
//!
//! Helpers panic on setup failures: they run only inside tests, where a panic is the report.

pub mod browser;
pub mod cli;
pub mod fake;
pub mod fixtures;
pub mod pki;
pub mod postgres;
pub mod proxy;
pub mod registry;
pub mod token;
pub mod tree;

/// A peer tool (or server) a test needs is missing: under `WHARF_REQUIRE_INTEROP=1` (what
/// `.ci/run` sets) that fails the test, naming how to install it; otherwise the test is
/// skipped, and says why.
pub fn missing(what: &str, install: &str) {
    if std::env::var("WHARF_REQUIRE_INTEROP").as_deref() == Ok("1") {
        panic!("{what} is required under WHARF_REQUIRE_INTEROP=1: {install}");
    }
    eprintln!("skipping: {what} is not installed ({install})");
}

/// A loopback address where nothing listens (port 1, tcpmux, on a host no test binds).
pub const DEAD_HOST: &str = "127.0.0.3:1";

/// A running registry, or `return` from the calling test (skipped) when `docker-registry`
/// is missing and interop is not required.
#[macro_export]
macro_rules! registry_or_skip {
    ($auth:expr) => {
        match $crate::registry::Registry::start($auth) {
            Some(r) => r,
            None => return,
        }
    };
}
