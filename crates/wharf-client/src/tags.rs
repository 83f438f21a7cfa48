//! Listing a repository's tags, following `Link: <…>; rel="next"` pagination (shared
//! with the referrers API).

use reqwest::header::{HeaderValue, LINK};
use reqwest::Method;
use serde::Deserialize;
use wharf_spec::Reference;

use crate::auth::Scope;
use crate::client::Client;
use crate::endpoint::Endpoint;
use crate::error::{ClientError, Result};
use crate::response::{error_from, read_capped, Subject};
use crate::transport::Call;

/// A bound on pages, so a registry whose links go round in circles cannot keep us forever.
const MAX_PAGES: usize = 10_000;

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// Takes one page's body, with the registry and the request as errors name them.
pub(crate) type PageHandler<'a> = dyn FnMut(&[u8], &str, &str) -> Result<()> + Send + 'a;

/// One page's body as the JSON document `T`; `kind` names what it should have been.
pub(crate) fn json_page<T: serde::de::DeserializeOwned>(
    body: &[u8],
    registry: &str,
    what: &str,
    kind: &str,
) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| ClientError::InvalidResponse {
        registry: registry.to_string(),
        what: what.to_string(),
        reason: format!("not {kind}: {e}"),
    })
}

/// The `rel="next"` target of a `Link` header value, if it has one.
pub(crate) fn next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            p.strip_prefix("rel=")
                .map(|v| v.trim_matches('"').split_whitespace().any(|r| r == "next"))
                .unwrap_or(false)
        });
        is_next.then_some(target)
    })
}

impl Client {
    /// Every tag of `repository` (its domain and path count), in the registry's order.
    pub async fn tags(&self, repository: &Reference) -> Result<Vec<String>> {
        self.tags_paged(repository, None).await
    }

    /// Like [`Client::tags`], asking for `page_size` tags per request (`?n=`).
    pub async fn tags_paged(
        &self,
        repository: &Reference,
        page_size: Option<u32>,
    ) -> Result<Vec<String>> {
        let mut path = format!("{}/tags/list", repository.path());
        if let Some(n) = page_size {
            path.push_str(&format!("?n={n}"));
        }
        let mut tags = Vec::new();
        self.get_pages(repository, &path, None, &mut |body, registry, what| {
            let page: TagList = json_page(body, registry, what, "a tag list")?;
            tags.extend(page.tags.unwrap_or_default());
            Ok(())
        })
        .await?;
        Ok(tags)
    }

    /// Every repository `registry` (a domain, `host:port`) lists in `/v2/_catalog`, in its
    /// order, following its pages. Registries may refuse (Docker Hub does) or list only
    /// what the credentials may read.
    pub async fn catalog(&self, registry: &str) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Catalog {
            #[serde(default)]
            repositories: Option<Vec<String>>,
        }
        let mut names = Vec::new();
        let endpoint = Endpoint::origin(registry, &self.inner.config.insecure);
        let mut page = |body: &[u8], registry: &str, what: &str| {
            let page: Catalog = json_page(body, registry, what, "a repository list")?;
            names.extend(page.repositories.unwrap_or_default());
            Ok(())
        };
        self.get_pages_at(
            endpoint,
            &Scope::catalog(),
            Subject::Catalog,
            "_catalog",
            None,
            &mut page,
        )
        .await?;
        Ok(names)
    }

    /// GETs `path` of `repository`'s registry and every page its `Link: rel="next"`
    /// headers lead to (on the same host only: credentials go nowhere else), handing
    /// each body to `page` with the registry and request as errors name them.
    pub(crate) async fn get_pages(
        &self,
        repository: &Reference,
        path: &str,
        accept: Option<&'static str>,
        page: &mut PageHandler<'_>,
    ) -> Result<()> {
        let endpoint = Endpoint::origin(repository.domain(), &self.inner.config.insecure);
        let scope = Scope::pull(repository.path());
        let subject = Subject::Repository {
            repository: repository.path(),
        };
        self.get_pages_at(endpoint, &scope, subject, path, accept, page)
            .await
    }

    async fn get_pages_at(
        &self,
        endpoint: Endpoint,
        scope: &Scope,
        subject: Subject<'_>,
        path: &str,
        accept: Option<&'static str>,
        page: &mut PageHandler<'_>,
    ) -> Result<()> {
        let first = self.url(&endpoint, path).await?;
        let mut url = first.clone();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            let mut call = Call::new(Method::GET, url.clone(), scope);
            if let Some(accept) = accept {
                call.headers
                    .insert(reqwest::header::ACCEPT, HeaderValue::from_static(accept));
            }
            let what = call.what();
            let response = self.send(&endpoint, call).await?;
            let registry = endpoint.display();
            if !response.status().is_success() {
                return Err(error_from(response, &registry, &what, subject).await);
            }
            let next = response
                .headers()
                .get(LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link)
                .map(|l| url.join(l))
                .transpose()
                .map_err(|_| ClientError::InvalidResponse {
                    registry: registry.clone(),
                    what: what.clone(),
                    reason: "invalid `Link` header".into(),
                })?;
            let body = read_capped(response, 16 << 20, &registry, &what).await?;
            page(&body, &registry, &what)?;
            let Some(next) = next else {
                return Ok(());
            };
            if next.origin() != first.origin() {
                return Err(ClientError::InvalidResponse {
                    registry,
                    what,
                    reason: "the next page is on another host".into(),
                });
            }
            if !seen.insert(next.to_string()) {
                return Ok(());
            }
            url = next;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::Url;

    #[test]
    fn finds_the_next_link() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?last=b&n=2>; rel="next""#),
            Some("/v2/a/tags/list?last=b&n=2")
        );
        assert_eq!(
            next_link(r#"<https://r.io/x?p=1>; rel="prev", <https://r.io/x?p=3>; rel=next"#),
            Some("https://r.io/x?p=3")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
        let base = Url::parse("http://127.0.0.1:5000/v2/a/tags/list?n=2").unwrap();
        assert_eq!(
            base.join("/v2/a/tags/list?last=b&n=2").unwrap().as_str(),
            "http://127.0.0.1:5000/v2/a/tags/list?last=b&n=2"
        );
    }
}
