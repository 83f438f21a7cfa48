//! Caps on open connections, per client address and in total, so that a few hundred slow
//! or idle connections cannot take every file descriptor and lock everyone out. A
//! connection over a cap is closed at once; those already open are not touched.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Default cap on connections from one client address.
pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: usize = 256;
/// Default cap on open connections in total (lowered to fit the file descriptor limit).
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Descriptors kept for everything but connections: the database, the listener, logs.
const RESERVED_FDS: u64 = 64;
/// A refusal is logged at most this often (with the count since), so a flood of
/// connections does not become a flood of log lines.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The total cap that fits `nofile` descriptors: a connection may hold two (its socket
/// and a blob or upload file it streams), after a reserve for the rest of the process.
pub fn fitting(max_connections: usize, nofile: Option<u64>) -> usize {
    match nofile {
        Some(n) => {
            let fits = (n.saturating_sub(RESERVED_FDS) / 2).max(1);
            max_connections.min(usize::try_from(fits).unwrap_or(usize::MAX))
        }
        None => max_connections,
    }
}

/// The process's soft limit on open files (`ulimit -n`); None when unlimited or unknown.
pub fn open_files_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

#[derive(Clone)]
pub(crate) struct Slots {
    state: Arc<Mutex<State>>,
    max_total: usize,
    max_per_client: usize,
}

struct State {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
    refused_since_log: u64,
    last_log: Option<Instant>,
}

/// One open connection's place; freed on drop.
pub(crate) struct Slot {
    slots: Slots,
    client: IpAddr,
}

impl Slots {
    pub(crate) fn new(max_total: usize, max_per_client: usize) -> Slots {
        Slots {
            state: Arc::new(Mutex::new(State {
                total: 0,
                per_client: HashMap::new(),
                refused_since_log: 0,
                last_log: None,
            })),
            max_total: max_total.max(1),
            max_per_client: max_per_client.max(1),
        }
    }

    /// A place for a connection from `client`, or None (logged) when a cap is reached.
    pub(crate) fn take(&self, client: IpAddr) -> Option<Slot> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let from_client = state.per_client.get(&client).copied().unwrap_or(0);
        let refused = if state.total >= self.max_total {
            Some(format!(
                "{} connections are open (`max-connections`)",
                state.total
            ))
        } else if from_client >= self.max_per_client {
            Some(format!(
                "{from_client} connections from {client} are open (`max-connections-per-client`)"
            ))
        } else {
            None
        };
        if let Some(why) = refused {
            state.refused_since_log += 1;
            if state.last_log.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
                tracing::warn!(
                    refused = state.refused_since_log,
                    "refusing new connections: {why}"
                );
                state.refused_since_log = 0;
                state.last_log = Some(Instant::now());
            }
            return None;
        }
        state.total += 1;
        *state.per_client.entry(client).or_default() += 1;
        Some(Slot {
            slots: self.clone(),
            client,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.slots.state.lock().unwrap_or_else(|e| e.into_inner());
        state.total -= 1;
        if let Some(n) = state.per_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                state.per_client.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_client_and_in_total_and_places_come_back() {
        let slots = Slots::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = slots.take(a).unwrap();
        let _a2 = slots.take(a).unwrap();
        assert!(slots.take(a).is_none(), "a third from one address");
        let _b1 = slots.take(b).unwrap();
        assert!(slots.take(b).is_none(), "a fourth in total");
        drop(a1);
        assert!(slots.take(a).is_some());
    }

    #[test]
    fn the_total_fits_the_descriptor_limit() {
        assert_eq!(fitting(4096, Some(256)), 96);
        assert_eq!(fitting(50, Some(256)), 50);
        assert_eq!(fitting(4096, Some(1 << 20)), 4096);
        assert_eq!(fitting(4096, None), 4096);
        assert_eq!(fitting(4096, Some(10)), 1);
    }
}
