//! The shared harness lives in `wharf-testkit`; these names keep the tests' paths short.

pub use wharf_testkit::fixtures;
pub use wharf_testkit::{fake, registry, token, DEAD_HOST};
