//! `copy --referrers`: after an image has gone from one registry to another, the
//! manifests that refer to it (signatures, SBOMs, attestations: manifests whose `subject`
//! is the image or one of its children) follow, and so do their own referrers. Each is
//! sent like an image — blobs first, then its manifests — by digest, so its bytes and
//! digest stay; a destination without the referrers API gets the fallback tag the
//! client keeps ([`wharf_client::Client::put_manifest`]).

use std::collections::BTreeSet;

use wharf_client::Client;
use wharf_spec::{Descriptor, Reference};

use crate::engine::registry::{graph_under, RegistrySource};
use crate::error::Result;
use crate::push::{self, Graph, KnownBlobs, SendOptions};

/// Copies every referrer of every manifest in `graph` (transitively) from `from` to
/// `to`; returns them in the order they were copied.
pub async fn copy_referrers(
    client: &Client,
    from: &Reference,
    to: &Reference,
    graph: &Graph,
    known: &KnownBlobs,
    options: &SendOptions,
) -> Result<Vec<Descriptor>> {
    let mut subjects: Vec<_> = graph
        .manifests
        .iter()
        .map(|(d, _)| d.digest.clone())
        .collect();
    let mut seen: BTreeSet<_> = subjects.iter().cloned().collect();
    let mut copied = Vec::new();
    let source = RegistrySource {
        client: client.clone(),
        repository: from.clone(),
    };
    while let Some(subject) = subjects.pop() {
        for referrer in client.referrers(from, &subject).await? {
            if !seen.insert(referrer.digest.clone()) {
                continue;
            }
            let graph = graph_under(client, from, referrer.clone(), None).await?;
            let destination = to.with_digest(referrer.digest.clone());
            push::send::send(
                client,
                &destination,
                &graph,
                &source,
                known,
                options,
                &|_| {},
            )
            .await?;
            for (child, _) in &graph.manifests {
                if seen.insert(child.digest.clone()) || child.digest == referrer.digest {
                    subjects.push(child.digest.clone());
                }
            }
            copied.push(referrer);
        }
    }
    Ok(copied)
}
