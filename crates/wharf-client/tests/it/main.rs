//! wharf-client against real registries (CNCF distribution started per test on 127.0.0.1)
//! and, for failures a real registry will not produce on request, a tiny fake server.

mod support;

/// A running registry, or return from the test (skipped) when `docker-registry` is missing.
macro_rules! registry_or_skip {
    ($auth:expr) => {
        match crate::support::registry::Registry::start($auth) {
            Some(r) => r,
            None => return,
        }
    };
}

mod auth;
mod blobs;
mod faults;
mod login;
mod mirrors;
mod resolve;
mod tags;
mod tls;
