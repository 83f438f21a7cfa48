//! The frame every page shares (header, who is logged in, breadcrumbs), the formats of
//! sizes, times and digests, and turning markup into responses.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use crate::paths;

/// Who is looking, for the header: the user's name, and whether the registry has logins
/// at all.
pub struct Viewer {
    pub user: Option<String>,
    pub auth: bool,
    /// The page being shown, for the login link to come back to.
    pub here: String,
}

/// A whole page.
pub fn page(viewer: &Viewer, title: &str, crumbs: Markup, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · wharf" }
                link rel="stylesheet" href="/-/wharf.css";
            }
            body {
                header.top {
                    a.brand href="/" { "wharf" }
                    a href="/" { "Repositories" }
                    div.who {
                        @if let Some(user) = &viewer.user {
                            span #user { (user) }
                            form method="post" action="/-/logout" {
                                button type="submit" #logout { "Log out" }
                            }
                        } @else if viewer.auth {
                            a #login href=(paths::login(&viewer.here)) { "Log in" }
                        }
                    }
                }
                main {
                    nav.crumbs { (crumbs) }
                    (body)
                }
            }
        }
    }
}

/// 200 with `markup` as HTML.
pub fn ok(markup: Markup) -> Response {
    with_status(StatusCode::OK, markup)
}

pub fn with_status(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// A page that says what went wrong. A repository the viewer may not read is "not found"
/// exactly as one that does not exist is, so no page tells the two apart.
pub fn problem(viewer: &Viewer, status: StatusCode, title: &str, message: &str) -> Response {
    let body = html! {
        h1 { (title) }
        div.notice.error #problem { (message) }
        @if viewer.user.is_none() && viewer.auth {
            p { a href=(paths::login(&viewer.here)) { "Log in" } " to see the repositories you may read." }
        }
    };
    with_status(
        status,
        page(viewer, title, html! { a href="/" { "Repositories" } }, body),
    )
}

pub fn not_found(viewer: &Viewer) -> Response {
    problem(
        viewer,
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such page, or you may not see it.",
    )
}

/// `1234567` → `1.2 MB` (decimal units, as Docker shows sizes).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Seconds since the epoch as `2026-12-04 10:31 UTC`.
pub fn time(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "—".into())
}

/// The first 12 hex digits of a digest, as Docker shows image IDs.
pub fn short(digest: &str) -> &str {
    let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
    &hex[..hex.len().min(12)]
}

/// The efficiency score as a percentage.
pub fn percent(fraction: f64) -> String {
    format!("{:.1} %", fraction * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_digests_read_as_docker_shows_them() {
        assert_eq!(size(999), "999 B");
        assert_eq!(size(1_000), "1.0 kB");
        assert_eq!(size(51_049_000), "51.0 MB");
        assert_eq!(size(999_990), "1.0 MB");
        assert_eq!(short("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(time(0), "1970-01-01 00:00 UTC");
    }
}
