//! wharf-client: the OCI Distribution client.
//!
//! - [`Client::resolve`] a reference to its manifest or index (exact bytes, digest checked),
//!   [`Resolved::select_platform`] and [`Client::fetch_manifest`] for one platform's
//!   manifest;
//! - [`Client::fetch_blob`] streams a blob from any offset (HTTP `Range`), resumes by
//!   itself when a connection breaks, and counts against the client's download limit;
//! - [`Client::push_blob`], [`Client::mount_blob`], [`Client::put_manifest`] to push, and
//!   [`Client::upload_blob`] for large blobs: mount first, stream or chunk, resume;
//! - [`Client::tags`] lists tags across pages.
//!
//! Auth (anonymous, Basic, Bearer tokens; credentials from Docker's `config.json`, its
//! credential helpers and podman's `auth.json`), mirrors, retries with backoff, redirects
//! without leaking credentials and the plain-HTTP policy happen underneath.
//!
//! **Architecture Invariant:** no dependency on the store, and no printing: progress is
//! bytes handed to the caller plus [`ClientEvent`]s. No credential or token ever appears in
//! an error, an event or a log line.

pub mod auth;
mod blob;
mod client;
pub mod config;
mod endpoint;
mod error;
mod event;
mod manifest;
mod referrers;
mod response;
mod retry;
mod tags;
mod transport;
mod upload;

pub use auth::credentials::{
    default_auth_files, default_provider, AuthFile, Credential, CredentialChain,
    CredentialProvider, NoCredentials, Secret, StaticCredentials,
};
pub use auth::store::{
    auth_key, docker_config_path, erase_credentials, login_registry, store_credentials,
    CredentialStore, StoredIn,
};
pub use blob::{BlobReader, BlobStream, Mount};
pub use client::Client;
pub use config::ClientConfig;
pub use endpoint::{registry_host, DOCKER_HUB_AUTH_KEY};
pub use error::{ClientError, Result};
pub use event::{ClientEvent, EventHandler};
pub use manifest::{available_platforms, select_platform, Resolved, MAX_INDEX_DEPTH};
pub use referrers::referrers_tag;
pub use retry::RetryPolicy;
pub use upload::{
    ByteStream, OpenFuture, RemoteBlob, UploadOptions, UploadProgress, UploadSource, Uploaded,
};
