//! `/r/NAME/-/tag/TAG/delete`: a page that asks, and the form's POST that deletes the tag
//! (the manifest stays, reachable by digest, until garbage collection). Only for viewers
//! the rules let delete in the repository; others are told so, and nothing changes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use wharf_registry::auth::Action;
use wharf_registry::gate::Access;
use wharf_registry::service::ManifestRef;

use super::{failed, readable};
use crate::paths;
use crate::render::{self, short, Viewer};
use crate::Web;

/// 403 for a viewer who may read but not delete (or 404, from [`readable`], for one who
/// may not even read).
fn allowed(access: &Access<'_>, viewer: &Viewer, name: &str) -> Result<(), Response> {
    readable(access, viewer, name)?;
    if access.can(name, Action::Delete) {
        return Ok(());
    }
    let message = match &viewer.user {
        Some(user) => format!("`{user}` may not delete tags in `{name}`."),
        None => format!("Log in as a user who may delete tags in `{name}`."),
    };
    Err(render::problem(
        viewer,
        StatusCode::FORBIDDEN,
        "Not allowed",
        &message,
    ))
}

/// `GET`: what would be deleted, and the button.
pub async fn confirm(
    web: &Web,
    access: &Access<'_>,
    viewer: &Viewer,
    name: &str,
    tag: &str,
) -> Response {
    if let Err(refused) = allowed(access, viewer, name) {
        return refused;
    }
    let stored = match web
        .registry
        .manifest(name, &ManifestRef::Tag(tag.to_string()))
        .await
    {
        Ok(stored) => stored,
        Err(e) => return failed(viewer, e),
    };
    let digest = stored.digest.to_string();
    let body = html! {
        h1 { "Delete " (name) ":" (tag) "?" }
        p { "The tag points at " a href=(paths::image(name, &digest)) { code { (short(&digest)) } } ". "
            "Deleting the tag leaves the image reachable by its digest until garbage collection removes what no tag reaches." }
        form method="post" action=(paths::delete_tag(name, tag)) {
            button.danger type="submit" #confirm-delete { "Delete tag " (tag) }
            " " a href=(paths::repository(name)) { "Cancel" }
        }
    };
    let crumbs =
        html! { a href="/" { "Repositories" } " / " a href=(paths::repository(name)) { (name) } };
    render::ok(render::page(
        viewer,
        &format!("Delete {name}:{tag}"),
        crumbs,
        body,
    ))
}

/// `POST`: deletes, then back to the repository.
pub async fn delete(
    web: &Web,
    access: &Access<'_>,
    viewer: &Viewer,
    name: &str,
    tag: &str,
) -> Response {
    if let Err(refused) = allowed(access, viewer, name) {
        return refused;
    }
    match web
        .registry
        .delete_manifest(name, &ManifestRef::Tag(tag.to_string()))
        .await
    {
        Ok(()) => {
            tracing::info!(repository = name, tag, user = ?viewer.user, "tag deleted from the web page");
            Redirect::to(&paths::repository(name)).into_response()
        }
        Err(e) => failed(viewer, e),
    }
}
