//! Logging in and out of the pages. A login is a cookie the registry signed
//! ([`wharf_registry::auth::Sessions`]): `HttpOnly` (no script reads it), `SameSite=Strict`
//! (no other site's page sends it), `Secure` when the form came over HTTPS. Forms that
//! change something must also come from this registry's own pages ([`same_origin`]).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use wharf_registry::auth::SESSION_LIFETIME;

use crate::paths;
use crate::render::{self, Viewer};
use crate::Web;

const COOKIE: &str = "wharf_session";

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
    next: Option<String>,
}

/// The login cookie's value, if the request carries one.
pub fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// Whether a form was sent from a page of this registry: browsers name the page's origin
/// (`Origin`, `Sec-Fetch-Site`) on every POST; it must be this host — as the request says
/// (`Host`), or as a reverse proxy in front says it was asked (`X-Forwarded-Host`; a form
/// of another site cannot set that header). Requests without either come from programs,
/// which hold credentials of their own anyway.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text("sec-fetch-site") {
        if !matches!(site, "same-origin" | "none") {
            return false;
        }
    }
    let Some(origin) = text("origin") else {
        return true;
    };
    let Some((_, authority)) = origin.split_once("://") else {
        return false;
    };
    [text("host"), text("x-forwarded-host")]
        .into_iter()
        .flatten()
        .any(|host| host == authority)
}

/// `GET /-/login`.
pub async fn form(State(web): State<Arc<Web>>, Query(next): Query<Next>) -> Response {
    let viewer = Viewer {
        user: None,
        auth: !web.gate.is_open(),
        here: "/".into(),
    };
    login_page(&viewer, paths::local_target(next.next.as_deref()), None)
}

fn login_page(viewer: &Viewer, next: &str, error: Option<&str>) -> Response {
    let body = html! {
        h1 { "Log in" }
        @if !viewer.auth {
            div.notice { "This registry has no users: everyone may see everything." }
        } @else {
            @if let Some(error) = error {
                div.notice.error #problem { (error) }
            }
            form.login method="post" action="/-/login" {
                input type="hidden" name="next" value=(next);
                label { "User name" br; input #username name="username" autocomplete="username" required autofocus; }
                label { "Password" br; input #password type="password" name="password" autocomplete="current-password" required; }
                button type="submit" #submit { "Log in" }
            }
        }
    };
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    render::with_status(
        status,
        render::page(
            viewer,
            "Log in",
            html! { a href="/" { "Repositories" } },
            body,
        ),
    )
}

/// `POST /-/login`.
pub async fn log_in(State(web): State<Arc<Web>>, headers: HeaderMap, body: Bytes) -> Response {
    let viewer = Viewer {
        user: None,
        auth: !web.gate.is_open(),
        here: "/".into(),
    };
    let Ok(credentials) = serde_urlencoded::from_bytes::<Credentials>(&body) else {
        return login_page(&viewer, "/", Some("The form is incomplete."));
    };
    let next = paths::local_target(credentials.next.as_deref()).to_string();
    if !same_origin(&headers) {
        return login_page(
            &viewer,
            &next,
            Some("The form was not sent from this registry's pages."),
        );
    }
    let Some(session) = web
        .gate
        .log_in(&credentials.username, &credentials.password)
        .await
    else {
        return login_page(&viewer, &next, Some("The user name or password is wrong."));
    };
    let secure = headers
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|o| o.starts_with("https://"));
    let cookie = format!(
        "{COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_LIFETIME.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    see_other(&next, &cookie)
}

/// `POST /-/logout`.
pub async fn log_out(headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site logout refused\n").into_response();
    }
    see_other(
        "/",
        &format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    )
}

fn see_other(to: &str, cookie: &str) -> Response {
    let mut response = Redirect::to(to).into_response();
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn forms_count_only_from_this_host() {
        assert!(same_origin(&headers(&[
            ("origin", "http://127.0.0.1:5000"),
            ("host", "127.0.0.1:5000")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "http://evil.example"),
            ("host", "127.0.0.1:5000")
        ])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(same_origin(&headers(&[
            ("origin", "https://registry.example.com"),
            ("host", "10.0.0.5:5000"),
            ("x-forwarded-host", "registry.example.com")
        ])));
        assert!(!same_origin(&headers(&[("origin", "null"), ("host", "a")])));
        assert!(same_origin(&headers(&[])));
        assert_eq!(
            cookie(&headers(&[("cookie", "a=b; wharf_session=xyz")])).as_deref(),
            Some("xyz")
        );
    }
}
