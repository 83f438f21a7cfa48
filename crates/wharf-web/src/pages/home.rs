//! `/`: the repositories the viewer may read, searched by name and paged, with how many
//! tags each has and when one was last pushed; and what the registry stores.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::{failed, PAGE};
use crate::paths;
use crate::render::{self, size, time};
use crate::Web;

#[derive(Deserialize)]
pub struct HomeQuery {
    q: Option<String>,
    after: Option<String>,
}

/// `GET /`.
pub async fn page(
    State(web): State<Arc<Web>>,
    Query(query): Query<HomeQuery>,
    headers: HeaderMap,
) -> Response {
    let access = match web.visitor(&headers).await {
        Ok(access) => access,
        Err(response) => return response,
    };
    let search = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let viewer = web.viewer(&access, paths::home(search, query.after.as_deref()));
    // Names are lower case: a search for `Redis` finds `redis`.
    let lowered = search.map(str::to_lowercase);
    let readable = |name: &str| access.lists(name);
    let found = web
        .registry
        .search(lowered.as_deref(), query.after.as_deref(), PAGE, &readable)
        .await;
    let (repositories, more) = match found {
        Ok(found) => found,
        Err(e) => return failed(&viewer, e),
    };
    // Numbers of the whole registry: for those who may see it (an identified user, or
    // anyone on a registry without auth).
    let totals = if viewer.user.is_some() || !viewer.auth {
        web.totals().await
    } else {
        None
    };
    let body = html! {
        h1 { "Repositories" }
        @if let Some(t) = totals {
            div.cards #totals {
                div.card { b { (t.repositories) } "repositories" }
                div.card { b { (size(t.stored_bytes)) } "stored" }
                div.card { b #saved { (size(t.referenced_bytes.saturating_sub(t.stored_bytes))) } "saved by sharing blobs" }
            }
        }
        form.search method="get" action="/" {
            input #search type="search" name="q" value=[search] placeholder="Search repositories";
            button type="submit" #go { "Search" }
        }
        @if repositories.is_empty() {
            div.notice #empty {
                @if search.is_some() { "No repository you may read matches." }
                @else if viewer.auth && viewer.user.is_none() { "No repository is open to everyone. Log in to see yours." }
                @else { "No repositories yet: push an image here to see it." }
            }
        } @else {
            table #repositories {
                thead { tr { th { "Repository" } th.num { "Tags" } th { "Last push" } } }
                tbody {
                    @for r in &repositories {
                        tr {
                            td { a.repo href=(paths::repository(&r.name)) { (r.name) } }
                            td.num { (r.tags) }
                            td { (r.last_push.map(time).unwrap_or_default()) }
                        }
                    }
                }
            }
            @if more {
                @if let Some(last) = repositories.last() {
                    p.pager { a #next href=(paths::home(search, Some(&last.name))) { "Next page →" } }
                }
            }
        }
    };
    render::ok(render::page(&viewer, "Repositories", html! {}, body))
}
