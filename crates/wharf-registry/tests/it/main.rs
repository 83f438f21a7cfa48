//! In-process tests of the registry's HTTP API: every request goes through the real router
//! (`tower::ServiceExt::oneshot`), storage is real (SQLite + files in a temp dir).

mod api;
mod auth;
mod gc;
mod harness;
mod spec;
