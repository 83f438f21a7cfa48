pub mod fake;
pub mod fixtures;
pub mod registry;
pub mod token;

/// A loopback address where nothing listens (port 1, tcpmux, on a host no test binds).
pub const DEAD_HOST: &str = "127.0.0.3:1";
