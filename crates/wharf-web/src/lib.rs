//! wharf-web: the web pages of `wharf serve` (on at `/` unless `ui = false`).
//!
//! Server-rendered HTML ([`maud`]), one small stylesheet, no JavaScript: every page works
//! in any browser and in `curl`. Pages read the registry through its services
//! ([`wharf_registry::Registry`]) and see images through the copy engine's analysis
//! ([`wharf_image::analysis`], over [`source::StoredImage`]).
//!
//! - [`pages::home`]: repositories (search, paging) and registry-wide numbers;
//! - [`pages::repository`]: tags with digest, platforms, size and push time;
//! - [`pages::image`]: an index's platforms, or an image's config, history, layers (both
//!   digests, what each adds and hides), who else uses each layer, and its referrers;
//! - [`pages::files`]: the merged filesystem or one layer, directory by directory, and a
//!   file's content;
//! - [`pages::delete`]: deleting a tag;
//! - [`session`]: logins (a signed cookie) beside the API's `Authorization`.
//!
//! Auth is the API's: the same identities and rules ([`wharf_registry::Gate`]). A viewer
//! sees only repositories they may pull; every other name is "not found", as one that does
//! not exist is.

// A page that cannot go on returns the response that says why (`Result<_, Response>`,
// axum's idiom); one per request, so its size does not matter.
#![allow(clippy::result_large_err)]

mod cache;
pub mod pages;
pub mod paths;
mod render;
mod session;
mod source;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use wharf_registry::gate::Access;
use wharf_registry::service::Totals;
use wharf_registry::{Gate, Registry};

use crate::cache::TreeCache;
use crate::paths::{ImagePart, Page};
use crate::render::Viewer;

/// Registry-wide totals are recomputed at most this often (a pass over every reference).
const TOTALS_FOR: Duration = Duration::from_secs(30);

/// What every page handler shares.
pub struct Web {
    registry: Arc<Registry>,
    gate: Arc<Gate>,
    trees: TreeCache,
    totals: Mutex<Option<(Instant, Totals)>>,
}

/// The pages, for [`wharf_registry::Serving::pages`].
pub fn pages() -> wharf_registry::Pages {
    Arc::new(router)
}

/// The pages' application over `registry`, behind `gate`.
pub fn router(registry: Arc<Registry>, gate: Arc<Gate>) -> Router {
    let web = Arc::new(Web {
        registry,
        gate,
        trees: TreeCache::default(),
        totals: Mutex::new(None),
    });
    Router::new()
        .route("/", get(pages::home::page))
        .route("/-/login", get(session::form).post(session::log_in))
        .route("/-/logout", post(session::log_out))
        .route("/-/wharf.css", get(stylesheet))
        .route("/r/{*path}", get(show).post(act))
        .layer(axum::middleware::map_response(protect))
        .with_state(web)
}

/// Pages are never framed, load nothing from elsewhere and run no script: the registry's
/// origin holds its users' logins.
async fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("wharf.css"),
    )
        .into_response()
}

/// `GET /r/...`.
async fn show(
    State(web): State<Arc<Web>>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let here = match &query {
        Some(q) => format!("/r/{path}?{q}"),
        None => format!("/r/{path}"),
    };
    let access = match web.visitor(&headers).await {
        Ok(access) => access,
        Err(response) => return response,
    };
    let viewer = web.viewer(&access, here);
    let query = query.unwrap_or_default();
    match paths::parse(&path) {
        Some(Page::Repository(name)) => {
            pages::repository::page(&web, &access, &viewer, name, &query).await
        }
        Some(Page::Image { name, digest, part }) => match part {
            ImagePart::Overview => pages::image::page(&web, &access, &viewer, name, digest).await,
            ImagePart::Files => {
                pages::files::listing(&web, &access, &viewer, name, digest, &query).await
            }
            ImagePart::File => {
                pages::files::content(&web, &access, &viewer, name, digest, &query).await
            }
        },
        Some(Page::DeleteTag { name, tag }) => {
            pages::delete::confirm(&web, &access, &viewer, name, tag).await
        }
        None => render::not_found(&viewer),
    }
}

/// `POST /r/...`: the only action is deleting a tag.
async fn act(
    State(web): State<Arc<Web>>,
    Path(path): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let access = match web.visitor(&headers).await {
        Ok(access) => access,
        Err(response) => return response,
    };
    let viewer = web.viewer(&access, format!("/r/{path}"));
    if !session::same_origin(&headers) {
        return render::problem(
            &viewer,
            axum::http::StatusCode::FORBIDDEN,
            "Refused",
            "The form was not sent from this registry's pages.",
        );
    }
    match (method, paths::parse(&path)) {
        (Method::POST, Some(Page::DeleteTag { name, tag })) => {
            pages::delete::delete(&web, &access, &viewer, name, tag).await
        }
        _ => render::not_found(&viewer),
    }
}

impl Web {
    /// The caller of a page: credentials, a login cookie, or nobody.
    async fn visitor(&self, headers: &HeaderMap) -> Result<Access<'_>, Response> {
        let cookie = session::cookie(headers);
        self.gate
            .visitor(headers, cookie.as_deref())
            .await
            .map_err(IntoResponse::into_response)
    }

    fn viewer(&self, access: &Access<'_>, here: String) -> Viewer {
        Viewer {
            user: access.user(),
            auth: !self.gate.is_open(),
            here,
        }
    }

    /// Registry-wide totals, at most [`TOTALS_FOR`] old.
    async fn totals(&self) -> Option<Totals> {
        {
            let kept = self.totals.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, totals)) = *kept {
                if at.elapsed() < TOTALS_FOR {
                    return Some(totals);
                }
            }
        }
        let totals = self.registry.totals().await.ok()?;
        *self.totals.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), totals));
        Some(totals)
    }
}
