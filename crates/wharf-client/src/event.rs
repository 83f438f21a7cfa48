//! What the client reports while it works, for a caller to render: it never prints.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use wharf_spec::Digest;

#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// A request failed transiently and is tried again after `delay`.
    Retrying {
        registry: String,
        what: String,
        attempt: u32,
        delay: Duration,
        reason: String,
    },
    /// A blob download broke off and continues from `offset` with a `Range` request.
    Resuming {
        registry: String,
        digest: Digest,
        offset: u64,
        reason: String,
    },
    /// A blob upload broke off and continues from `offset` (the registry's count; 0 when it
    /// had to start a new session).
    UploadResuming {
        registry: String,
        digest: Digest,
        offset: u64,
        reason: String,
    },
    /// A mirror failed; the next mirror or the registry itself is tried.
    MirrorFailed {
        registry: String,
        mirror: String,
        reason: String,
    },
}

/// Receives [`ClientEvent`]s; called on the task that hit the event, so it must be quick.
#[derive(Clone)]
pub struct EventHandler(Arc<dyn Fn(&ClientEvent) + Send + Sync>);

impl EventHandler {
    pub fn new(f: impl Fn(&ClientEvent) + Send + Sync + 'static) -> Self {
        EventHandler(Arc::new(f))
    }

    pub(crate) fn emit(&self, event: &ClientEvent) {
        (self.0)(event)
    }
}

impl fmt::Debug for EventHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventHandler")
    }
}
