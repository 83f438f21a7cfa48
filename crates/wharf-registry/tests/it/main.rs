//! In-process tests of the registry's HTTP API: every request goes through the real router
//! (`tower::ServiceExt::oneshot`), storage is real (files in a temp dir; metadata in SQLite,
//! and again in a private PostgreSQL server when one is installed).

/// Runs each named `async fn NAME(h: Harness)` once per metadata backend, as the tests
/// `sqlite::NAME` and `postgres::NAME` (skipped, with the reason printed, when PostgreSQL is
/// not installed and `WHARF_REQUIRE_INTEROP` is not 1). The bodies are the same code.
macro_rules! backends {
    ($($name:ident),* $(,)? $(; multi_thread: $($mt:ident),* $(,)?)?) => {
        mod sqlite {
            use crate::harness::{Db, Harness};
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(Harness::on(Db::Sqlite).await.unwrap()).await
                }
            )*
            $($(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $mt() {
                    super::$mt(Harness::on(Db::Sqlite).await.unwrap()).await
                }
            )*)?
        }
        mod postgres {
            use crate::harness::{Db, Harness};
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(h) = Harness::on(Db::Postgres).await {
                        super::$name(h).await
                    }
                }
            )*
            $($(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $mt() {
                    if let Some(h) = Harness::on(Db::Postgres).await {
                        super::$mt(h).await
                    }
                }
            )*)?
        }
    };
}

mod api;
mod auth;
mod big_manifests;
mod connections;
mod gc;
mod harness;
mod replicas;
mod spec;
