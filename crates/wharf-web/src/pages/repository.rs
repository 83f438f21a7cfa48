//! `/r/NAME`: a repository's tags, paged: what each points at (digest), for which
//! platforms, how large it is (its blobs as pushed, each once), and when it was pushed.

use std::collections::BTreeSet;

use axum::response::Response;
use futures_util::future::join_all;
use maud::html;
use serde::Deserialize;
use wharf_registry::auth::Action;
use wharf_registry::gate::Access;
use wharf_registry::storage::TagRow;
use wharf_spec::{Digest, ImageConfig, Manifest, RawManifest};

use super::{failed, platform_label, read_small, readable, PAGE};
use crate::paths;
use crate::render::{self, size, time, Viewer};
use crate::Web;

#[derive(Deserialize, Default)]
struct TagsQuery {
    after: Option<String>,
}

/// One row of the tag table.
struct TagLine {
    name: String,
    digest: Digest,
    pushed: i64,
    platforms: Vec<String>,
    /// Config and layers of every platform, each blob once.
    size: u64,
}

pub async fn page(
    web: &Web,
    access: &Access<'_>,
    viewer: &Viewer,
    name: &str,
    query: &str,
) -> Response {
    if let Err(hidden) = readable(access, viewer, name) {
        return hidden;
    }
    let query: TagsQuery = serde_urlencoded::from_str(query).unwrap_or_default();
    let (rows, more) = match web
        .registry
        .tag_page(name, query.after.as_deref(), PAGE)
        .await
    {
        Ok(found) => found,
        Err(e) => return failed(viewer, e),
    };
    let lines = describe(web, name, rows).await;
    let may_delete = access.can(name, Action::Delete);
    let body = html! {
        h1 #repository { (name) }
        p.muted { "Pull with " code { "docker pull HOST/" (name) ":TAG" } }
        @if lines.is_empty() {
            div.notice #empty { "No tags." }
        } @else {
            table #tags {
                thead { tr {
                    th { "Tag" } th { "Digest" } th { "Platforms" } th.num { "Size" } th { "Pushed" }
                    @if may_delete { th {} }
                } }
                tbody {
                    @for line in &lines {
                        tr {
                            td { a.tag href=(paths::image(name, &line.digest.to_string())) { (line.name) } }
                            td.mono title=(line.digest) { (render::short(&line.digest.to_string())) }
                            td { (line.platforms.join(", ")) }
                            td.num { (size(line.size)) }
                            td { (time(line.pushed)) }
                            @if may_delete {
                                td { a.delete href=(paths::delete_tag(name, &line.name)) { "Delete" } }
                            }
                        }
                    }
                }
            }
            @if more {
                @if let Some(last) = lines.last() {
                    p.pager { a #next href=(paths::repository_after(name, &last.name)) { "Next page →" } }
                }
            }
        }
    };
    let crumbs = html! { a href="/" { "Repositories" } " / " (name) };
    render::ok(render::page(viewer, name, crumbs, body))
}

/// Platforms and sizes of the tags' manifests: an index's children are read in one query;
/// a lone image's platform is in its config (read, small, for each).
async fn describe(web: &Web, name: &str, rows: Vec<TagRow>) -> Vec<TagLine> {
    let parsed: Vec<Option<Manifest>> = rows
        .iter()
        .map(|row| {
            RawManifest::parse(row.content.clone(), Some(&row.media_type))
                .ok()
                .map(|raw| raw.manifest().clone())
        })
        .collect();
    let children: Vec<Digest> = parsed
        .iter()
        .flatten()
        .filter_map(|m| match m {
            Manifest::Index(index) => Some(index.manifests.iter().map(|c| c.digest.clone())),
            Manifest::Image(_) => None,
        })
        .flatten()
        .collect();
    let children = web
        .registry
        .manifests_among(name, &children)
        .await
        .unwrap_or_default();
    let child = |digest: &Digest| {
        children
            .iter()
            .find(|c| &c.0 == digest)
            .and_then(|(_, media_type, content)| {
                RawManifest::parse(content.clone(), Some(media_type)).ok()
            })
    };
    let child = &child;
    let lines = rows
        .into_iter()
        .zip(parsed)
        .map(|(row, manifest)| async move {
            let mut blobs = BTreeSet::new();
            let mut platforms = Vec::new();
            match &manifest {
                Some(Manifest::Index(index)) => {
                    for entry in &index.manifests {
                        if let Some(label) = platform_label(entry) {
                            platforms.push(label);
                        }
                        if let Some(Manifest::Image(image)) =
                            child(&entry.digest).map(|raw| raw.manifest().clone())
                        {
                            add_blobs(&mut blobs, &image);
                        }
                    }
                }
                Some(Manifest::Image(image)) => {
                    add_blobs(&mut blobs, image);
                    let config = read_small(&web.registry, &image.config).await;
                    if let Some(config) =
                        config.and_then(|c| serde_json::from_slice::<ImageConfig>(&c).ok())
                    {
                        if !config.os.is_empty() {
                            platforms.push(config.platform().to_string());
                        }
                    }
                }
                None => {}
            }
            TagLine {
                name: row.name,
                digest: row.digest,
                pushed: row.updated_at,
                platforms,
                size: blobs.iter().map(|(_, size)| size).sum(),
            }
        });
    join_all(lines).await
}

fn add_blobs(blobs: &mut BTreeSet<(Digest, u64)>, image: &wharf_spec::ImageManifest) {
    for blob in std::iter::once(&image.config).chain(&image.layers) {
        blobs.insert((blob.digest.clone(), blob.size));
    }
}
