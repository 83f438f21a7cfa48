//! Where blobs are on registries, as one run of sends learns it: the blob-info cache's
//! snapshot plus every blob this run has sent, and one send at a time per blob. Sends that
//! run side by side (a sync copies several images at once) therefore never upload the same
//! blob twice: the second waits for the first, then finds the blob in its repository
//! (`HEAD`) or mounts it from the repository the first sent it to; once the blob is there,
//! sends of it into different repositories no longer wait for each other.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use wharf_spec::Digest;
use wharf_store::{BlobLocation, BlobLocations};

#[derive(Default)]
pub struct KnownBlobs {
    locations: Mutex<BlobLocations>,
    /// What this run has put where: certain, unlike the cache (a registry's gc may have
    /// removed what the cache remembers).
    sent: Mutex<BTreeSet<(Digest, BlobLocation)>>,
    /// Per blob (no location), and per blob and repository: whether a send of this run
    /// has put it there already.
    flights: Mutex<BTreeMap<(Digest, Option<BlobLocation>), Flight>>,
}

impl KnownBlobs {
    pub fn new(locations: BlobLocations) -> KnownBlobs {
        KnownBlobs {
            locations: Mutex::new(locations),
            sent: Mutex::default(),
            flights: Mutex::default(),
        }
    }

    /// Where `digest` was seen, most recent first.
    pub fn get(&self, digest: &Digest) -> Vec<BlobLocation> {
        let locations = self.locations.lock().expect("blob locations lock");
        locations.get(digest).into_iter().cloned().collect()
    }

    /// Notes that `digest` is in `location` now: this run sent, mounted or found it there.
    pub fn note(&self, digest: &Digest, location: &BlobLocation) {
        let mut locations = self.locations.lock().expect("blob locations lock");
        locations.note(digest, location);
        let mut sent = self.sent.lock().expect("sent blobs lock");
        sent.insert((digest.clone(), location.clone()));
    }

    /// Whether this run has put `digest` in `location` (so a `HEAD` would only confirm it).
    pub fn sent_to(&self, digest: &Digest, location: &BlobLocation) -> bool {
        let sent = self.sent.lock().expect("sent blobs lock");
        sent.contains(&(digest.clone(), location.clone()))
    }

    /// Whether this run has put `digest` into another repository of `location`'s registry:
    /// a mount from there is certain to find it, so no `HEAD` needs to ask first.
    pub fn sent_beside(&self, digest: &Digest, location: &BlobLocation) -> bool {
        let sent = self.sent.lock().expect("sent blobs lock");
        sent.iter().any(|(d, l)| {
            d == digest && l.registry == location.registry && l.repository != location.repository
        })
    }

    /// Runs `send`, which puts `digest` into `location`, so that one blob is sent once:
    /// while a send of this run puts it anywhere for the first time, other sends of it
    /// wait; after that, sends of it into one repository go one at a time (the first mounts
    /// it, the rest find it there), and into different repositories side by side.
    pub async fn one_at_a_time<T, E, F>(
        &self,
        digest: &Digest,
        location: &BlobLocation,
        send: F,
    ) -> Result<T, E>
    where
        F: std::future::Future<Output = Result<T, E>>,
    {
        let mut anywhere = self.flight(digest, None).lock_owned().await;
        if *anywhere {
            drop(anywhere);
            let mut here = self.flight(digest, Some(location)).lock_owned().await;
            let outcome = send.await;
            *here = outcome.is_ok();
            return outcome;
        }
        let outcome = send.await;
        *anywhere = outcome.is_ok();
        outcome
    }

    fn flight(&self, digest: &Digest, location: Option<&BlobLocation>) -> Flight {
        let mut flights = self.flights.lock().expect("blob flights lock");
        let key = (digest.clone(), location.cloned());
        flights.entry(key).or_default().clone()
    }
}

/// Whether a send has put the blob there; locked while one is trying.
type Flight = Arc<tokio::sync::Mutex<bool>>;
