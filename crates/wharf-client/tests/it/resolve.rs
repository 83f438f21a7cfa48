use wharf_client::ClientError;
use wharf_spec::{media_type, Platform};

use crate::support::fixtures::{client, index, push_image, random_image, reference};
use crate::support::registry::Auth;

#[tokio::test]
async fn resolves_by_tag_and_by_digest_with_exact_bytes() {
    let registry = registry_or_skip!(Auth::None);
    let client = client();
    let img = random_image("linux/amd64", &[1000, 2000], 1);
    let tagged = reference(&registry.host, "team/app:v1");
    let pushed = push_image(&client, &tagged, &img).await;
    assert_eq!(pushed.digest, *img.manifest.digest());

    let by_tag = client.resolve(&tagged).await.unwrap();
    assert_eq!(by_tag.manifest.bytes(), img.manifest.bytes());
    assert_eq!(by_tag.descriptor.digest, *img.manifest.digest());
    assert_eq!(by_tag.descriptor.media_type, media_type::OCI_MANIFEST);
    assert_eq!(by_tag.descriptor.size, img.manifest.bytes().len() as u64);
    assert_eq!(
        by_tag.pinned().to_string(),
        format!("{}/team/app@{}", registry.host, img.manifest.digest())
    );

    let pinned = tagged.with_digest(img.manifest.digest().clone());
    let by_digest = client.resolve(&pinned).await.unwrap();
    assert_eq!(by_digest.manifest, by_tag.manifest);

    // `name:tag@digest`: the digest wins, whatever the tag says.
    let both = reference(
        &registry.host,
        &format!("team/app:no-such-tag@{}", img.manifest.digest()),
    );
    assert_eq!(
        client.resolve(&both).await.unwrap().manifest,
        by_tag.manifest
    );

    // One cheap HEAD tells whether a cached copy is current.
    let head = client.head_manifest(&tagged).await.unwrap();
    assert_eq!(head.digest, *img.manifest.digest());
    assert_eq!(head.media_type, media_type::OCI_MANIFEST);
    assert_eq!(head.size, img.manifest.bytes().len() as u64);

    // The default tag is `latest`.
    let latest = reference(&registry.host, "team/app:latest");
    push_image(&client, &latest, &img).await;
    let untagged = reference(&registry.host, "team/app");
    assert_eq!(
        client.resolve(&untagged).await.unwrap().descriptor.digest,
        *img.manifest.digest()
    );
}

#[tokio::test]
async fn an_index_resolves_to_the_requested_platform() {
    let registry = registry_or_skip!(Auth::None);
    let client = client();
    let amd64 = random_image("linux/amd64", &[3000], 10);
    let arm64 = random_image("linux/arm64/v8", &[4000], 11);
    let repo = reference(&registry.host, "multi");
    for img in [&amd64, &arm64] {
        push_image(
            &client,
            &repo.with_digest(img.manifest.digest().clone()),
            img,
        )
        .await;
    }
    let idx = index(&[("linux/amd64", &amd64), ("linux/arm64/v8", &arm64)]).manifest;
    let tagged = reference(&registry.host, "multi:1.0");
    client.put_manifest(&tagged, &idx).await.unwrap();

    let top = client.resolve(&tagged).await.unwrap();
    assert_eq!(top.descriptor.media_type, media_type::OCI_INDEX);
    assert_eq!(top.manifest.bytes(), idx.bytes());

    let (index_seen, image) = client
        .resolve_platform(&tagged, &Platform::parse("linux/arm64").unwrap())
        .await
        .unwrap();
    assert_eq!(index_seen.unwrap().descriptor.digest, *idx.digest());
    assert_eq!(image.descriptor.digest, *arm64.manifest.digest());
    assert_eq!(image.manifest.bytes(), arm64.manifest.bytes());
    assert_eq!(
        image.descriptor.platform,
        Some(Platform::parse("linux/arm64/v8").unwrap())
    );

    let (_, image) = client
        .resolve_platform(&tagged, &Platform::parse("linux/amd64").unwrap())
        .await
        .unwrap();
    assert_eq!(image.descriptor.digest, *amd64.manifest.digest());

    let err = client
        .resolve_platform(&tagged, &Platform::parse("linux/s390x").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::PlatformNotFound { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("linux/s390x")
            && text.contains("`linux/amd64`")
            && text.contains("`linux/arm64/v8`")
            && text.contains("multi:1.0"),
        "{text}"
    );

    // A single-platform manifest is taken as it is.
    let (none, image) = client
        .resolve_platform(
            &repo.with_digest(amd64.manifest.digest().clone()),
            &Platform::parse("linux/arm64").unwrap(),
        )
        .await
        .unwrap();
    assert!(none.is_none());
    assert_eq!(image.descriptor.digest, *amd64.manifest.digest());
}

#[tokio::test]
async fn a_missing_manifest_is_a_clear_not_found() {
    let registry = registry_or_skip!(Auth::None);
    let client = client();
    let img = random_image("linux/amd64", &[10], 2);
    push_image(&client, &reference(&registry.host, "app:v1"), &img).await;

    let missing = reference(&registry.host, "app:nope");
    let err = client.resolve(&missing).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("`{}/app:nope`", registry.host))
            && text.contains("not found")
            && text.contains("MANIFEST_UNKNOWN"),
        "{text}"
    );
    let err = client.head_manifest(&missing).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");

    // A repository that does not exist at all.
    let err = client
        .resolve(&reference(&registry.host, "ghost:latest"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(err.to_string().contains("ghost:latest"), "{err}");
}

#[tokio::test]
async fn a_plain_http_loopback_registry_costs_no_extra_ping() {
    let registry = registry_or_skip!(Auth::None);
    let img = random_image("linux/amd64", &[500], 3);
    let tagged = reference(&registry.host, "team/ping:v1");
    push_image(&client(), &tagged, &img).await;

    // A new client knows nothing of the registry: HTTPS is tried first (as Docker does) and
    // refused by this plain-HTTP one; the manifest request itself then goes over HTTP,
    // with no `GET /v2/` ping to confirm that HTTP works.
    let before = registry.log().len();
    let resolved = client().resolve(&tagged).await.unwrap();
    assert_eq!(resolved.descriptor.digest, *img.manifest.digest());
    // The access log is written after the response: wait for the manifest's line.
    let mut log = String::new();
    for _ in 0..100 {
        log = registry.log()[before..].to_string();
        if log.contains("/manifests/v1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // GETs only: a late line of the push above can only be a HEAD, POST, PATCH or PUT.
    let requests: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split('"').nth(1))
        .filter(|r| r.starts_with("GET "))
        .collect();
    assert_eq!(
        requests,
        ["GET /v2/team/ping/manifests/v1 HTTP/1.1"],
        "{log}"
    );
}
