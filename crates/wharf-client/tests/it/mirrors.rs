use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use wharf_client::{Client, ClientEvent, EventHandler};

use crate::support::fixtures::{client, config, push_image, random_image, reference};
use crate::support::registry::Auth;

fn mirrored_client(origin: &str, mirrors: Vec<String>) -> (Client, Arc<Mutex<Vec<ClientEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let mut config = config();
    config.mirrors = BTreeMap::from([(origin.to_string(), mirrors)]);
    config.events = Some(EventHandler::new(move |e| {
        sink.lock().unwrap().push(e.clone())
    }));
    (Client::new(config).unwrap(), events)
}

#[tokio::test]
async fn mirrors_are_tried_first_and_fall_back_to_the_origin() {
    let origin = registry_or_skip!(Auth::None);
    let mirror = registry_or_skip!(Auth::None);
    let seeding = client();
    let on_origin = random_image("linux/amd64", &[1000], 40);
    let on_mirror = random_image("linux/amd64", &[1000], 41);
    push_image(&seeding, &reference(&origin.host, "lib/app:v1"), &on_origin).await;
    push_image(&seeding, &reference(&origin.host, "lib/app:v2"), &on_origin).await;
    // The mirror's copy of `v1` differs, so we can tell who answered.
    push_image(&seeding, &reference(&mirror.host, "lib/app:v1"), &on_mirror).await;

    let dead = crate::support::DEAD_HOST.to_string();
    let (client, events) = mirrored_client(
        &origin.host,
        vec![dead.clone(), format!("http://{}", mirror.host)],
    );
    let v1 = reference(&origin.host, "lib/app:v1");
    let resolved = client.resolve(&v1).await.unwrap();
    assert_eq!(resolved.descriptor.digest, *on_mirror.manifest.digest());
    assert_eq!(resolved.reference, v1, "the reference stays the origin's");
    // Blobs come from the mirror too.
    let mut stream = client
        .fetch_blob_verified(&v1, &on_mirror.config_descriptor())
        .await
        .unwrap();
    while let Some(chunk) = stream.next().await {
        chunk.unwrap();
    }

    // `v2` is only on the origin: both mirrors fail, the origin answers.
    let resolved = client
        .resolve(&reference(&origin.host, "lib/app:v2"))
        .await
        .unwrap();
    assert_eq!(resolved.descriptor.digest, *on_origin.manifest.digest());
    let failed: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            ClientEvent::MirrorFailed { mirror, .. } => Some(mirror.clone()),
            _ => None,
        })
        .collect();
    assert!(
        failed.contains(&dead) && failed.contains(&mirror.host),
        "{failed:?}"
    );

    // Not found anywhere: the origin's error is the one reported.
    let err = client
        .resolve(&reference(&origin.host, "lib/app:v3"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("{}/lib/app:v3", origin.host)),
        "{err}"
    );
}
