use wharf_client::ClientError;

use crate::support::fake::{FakeServer, Reply};
use crate::support::fixtures::{client, push_image, random_image, reference};
use crate::support::registry::Auth;

/// distribution 2.8 ignores `n` on tag lists (3.0 pages), so the real registry shows the
/// list is complete and this paging server shows `Link` headers are followed.
#[tokio::test]
async fn tags_follow_link_pagination() {
    const TAGS: [&str; 5] = ["a", "b", "c", "d", "e"];
    let server = FakeServer::start("127.0.0.1", |req| {
        if !req.path().ends_with("/tags/list") {
            return Reply::new(200);
        }
        let n: usize = req
            .query("n")
            .first()
            .and_then(|n| n.parse().ok())
            .unwrap_or(100);
        let after = req.query("last").first().cloned().unwrap_or_default();
        let rest: Vec<&str> = TAGS
            .iter()
            .copied()
            .filter(|t| *t > after.as_str())
            .collect();
        let page = &rest[..n.min(rest.len())];
        let mut reply = Reply::new(200)
            .header("Content-Type", "application/json")
            .body(serde_json::json!({"name": "paged", "tags": page}).to_string());
        if page.len() < rest.len() {
            reply = reply.header(
                "Link",
                format!(
                    r#"</v2/paged/tags/list?last={}&n={n}>; rel="next""#,
                    page.last().unwrap()
                ),
            );
        }
        reply
    })
    .await;
    let repo = reference(&server.host(), "paged");
    assert_eq!(client().tags_paged(&repo, Some(2)).await.unwrap(), TAGS);
    let pages: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.path().ends_with("/tags/list"))
        .map(|r| r.target.clone())
        .collect();
    assert_eq!(
        pages,
        [
            "/v2/paged/tags/list?n=2",
            "/v2/paged/tags/list?last=b&n=2",
            "/v2/paged/tags/list?last=d&n=2"
        ]
    );

    // A next page on another host is not followed (credentials stay with the registry).
    let elsewhere = FakeServer::start("127.0.0.1", |req| {
        if !req.path().ends_with("/tags/list") {
            return Reply::new(200);
        }
        Reply::new(200)
            .header(
                "Link",
                r#"<http://127.0.0.2:1/v2/x/tags/list?last=a>; rel="next""#,
            )
            .body(r#"{"name":"x","tags":["a"]}"#)
    })
    .await;
    let err = client()
        .tags(&reference(&elsewhere.host(), "x"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("another host"), "{err}");
}

#[tokio::test]
async fn tags_against_distribution() {
    let registry = registry_or_skip!(Auth::None);
    let client = client();
    let img = random_image("linux/amd64", &[10], 4);
    let names = ["1.0", "1.1", "2.0", "latest", "rc"];
    for tag in names {
        push_image(
            &client,
            &reference(&registry.host, &format!("paged:{tag}")),
            &img,
        )
        .await;
    }
    let repo = reference(&registry.host, "paged");
    let mut paged = client.tags_paged(&repo, Some(2)).await.unwrap();
    paged.sort();
    assert_eq!(paged, names);
    let mut all = client.tags(&repo).await.unwrap();
    all.sort();
    assert_eq!(all, names);
}

#[tokio::test]
async fn tags_of_an_unknown_repository_name_it() {
    let registry = registry_or_skip!(Auth::None);
    let err = client()
        .tags(&reference(&registry.host, "nobody/here"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::RepositoryUnknown { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("nobody/here") && text.contains(&registry.host),
        "{text}"
    );
}

/// `/v2/_catalog` lists every repository, following `Link` pages; a registry that does not
/// list its repositories gets an error that says so.
#[tokio::test]
async fn the_catalog_lists_repositories_across_pages() {
    let registry = registry_or_skip!(Auth::None);
    let c = client();
    for name in ["ns/a", "ns/b", "other"] {
        let img = random_image("linux/amd64", &[32], name.len() as u64);
        push_image(&c, &reference(&registry.host, &format!("{name}:1")), &img).await;
    }
    assert_eq!(
        c.catalog(&registry.host).await.unwrap(),
        ["ns/a", "ns/b", "other"]
    );

    let server = FakeServer::start("127.0.0.1", |req| {
        if req.path() != "/v2/_catalog" {
            return Reply::new(200);
        }
        let (page, next) = match req.query("last").first().map(String::as_str) {
            None => (vec!["x/1", "x/2"], Some("/v2/_catalog?last=x/2&n=2")),
            Some(_) => (vec!["y"], None),
        };
        let mut reply = Reply::new(200)
            .header("Content-Type", "application/json")
            .body(serde_json::json!({ "repositories": page }).to_string());
        if let Some(next) = next {
            reply = reply.header("Link", format!(r#"<{next}>; rel="next""#));
        }
        reply
    })
    .await;
    assert_eq!(
        client().catalog(&server.host()).await.unwrap(),
        ["x/1", "x/2", "y"]
    );

    let refusing =
        FakeServer::start("127.0.0.1", |req| {
            if req.path() == "/v2/_catalog" {
                return Reply::new(404)
                .header("Content-Type", "application/json")
                .body(r#"{"errors":[{"code":"UNSUPPORTED","message":"the catalog is disabled"}]}"#);
            }
            Reply::new(200)
        })
        .await;
    let err = client().catalog(&refusing.host()).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("the catalog is disabled") && text.contains("does not list its repositories"),
        "{text}"
    );
}

/// A manifest is deleted by digest; its tag goes with it, and a name without a tag or
/// digest is refused before any request.
#[tokio::test]
async fn a_manifest_deleted_by_digest_is_gone_with_its_tag() {
    let registry = registry_or_skip!(Auth::None);
    let c = client();
    let img = random_image("linux/amd64", &[32], 3);
    let tagged = reference(&registry.host, "del/app:1");
    let pushed = push_image(&c, &tagged, &img).await;
    let bare =
        wharf_spec::Reference::parse_normalized(&format!("{}/del/app", registry.host)).unwrap();
    let err = c.delete_manifest(&bare).await.unwrap_err();
    assert!(err.to_string().contains("names no tag or digest"), "{err}");
    // Deleting a tag alone is distribution-spec 1.1; distribution 2.8 refuses it (400), and
    // then the tag is still there.
    match c.delete_manifest(&tagged).await {
        Ok(()) => {
            assert!(c.resolve(&tagged).await.is_err(), "the tag is gone");
            push_image(&c, &tagged, &img).await;
        }
        Err(ClientError::Registry {
            status: 400 | 405, ..
        }) => {
            assert!(
                c.resolve(&tagged).await.is_ok(),
                "a refused delete keeps the tag"
            );
        }
        Err(other) => panic!("{other:?}"),
    }
    c.delete_manifest(&tagged.with_digest(pushed.digest.clone()))
        .await
        .unwrap();
    assert!(c.resolve(&tagged).await.is_err(), "the tag is gone");
    let again = c
        .delete_manifest(&tagged.with_digest(pushed.digest))
        .await
        .unwrap_err();
    assert!(
        matches!(again, ClientError::ManifestUnknown { .. }),
        "{again:?}"
    );
}
