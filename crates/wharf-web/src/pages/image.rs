//! `/r/NAME/-/image/DIGEST`: one manifest. An index lists its platforms; an image shows
//! its config, its layers as `wharf layers` analyses them (both digests side by side,
//! what each adds, changes, removes and hides), which other images of the registry use
//! each layer and what that sharing saves, its history, and its referrers as a tree.

use std::collections::{BTreeMap, BTreeSet};

use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;
use wharf_image::analysis::Analysis;
use wharf_registry::auth::Action;
use wharf_registry::gate::Access;
use wharf_registry::service::ManifestRef;
use wharf_registry::storage::BlobUse;
use wharf_spec::media_type::{self, Kind};
use wharf_spec::{
    Descriptor, Digest, ImageConfig, ImageIndex, ImageManifest, Manifest, RawManifest,
};

use super::{digest, failed, platform_label, read_small, readable};
use crate::paths;
use crate::render::{self, percent, short, size, time, Viewer};
use crate::source::StoredImage;
use crate::Web;

/// Referrers followed this deep (a signature of an SBOM of an image is depth 2).
const REFERRER_DEPTH: usize = 3;
/// Referrers listed on one page at most.
const REFERRERS_SHOWN: usize = 100;
/// Other images named per layer; the rest are counted.
const USERS_SHOWN: usize = 5;

pub async fn page(
    web: &Web,
    access: &Access<'_>,
    viewer: &Viewer,
    name: &str,
    digest_text: &str,
) -> Response {
    if let Err(hidden) = readable(access, viewer, name) {
        return hidden;
    }
    let digest = match digest(viewer, digest_text) {
        Ok(d) => d,
        Err(response) => return response,
    };
    let stored = match web
        .registry
        .manifest(name, &ManifestRef::Digest(digest.clone()))
        .await
    {
        Ok(stored) => stored,
        Err(e) => return failed(viewer, e),
    };
    let size_of_manifest = stored.content.len() as u64;
    let raw = match RawManifest::parse(stored.content, Some(&stored.media_type)) {
        Ok(raw) => raw,
        Err(e) => {
            return render::problem(
                viewer,
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "Unreadable manifest",
                &format!("the stored manifest does not parse: {e}"),
            )
        }
    };
    let tags = web
        .registry
        .tags_of(name, &digest)
        .await
        .unwrap_or_default();
    let pushed = web
        .registry
        .manifest_created(name, &digest)
        .await
        .ok()
        .flatten();
    let may_delete = access.can(name, Action::Delete);
    let referrers = referrer_tree(web, name, &digest).await;
    let top = Descriptor::new(stored.media_type.clone(), digest.clone(), size_of_manifest);
    let details = match raw.manifest() {
        Manifest::Index(index) => index_body(web, name, index).await,
        Manifest::Image(image) if media_type::kind(&image.config.media_type) == Kind::Config => {
            image_body(web, access, name, top, image).await
        }
        Manifest::Image(artifact) => artifact_body(artifact),
    };
    let body = html! {
        h1 #image { (name) "@" span.mono title=(digest) { (digest) } }
        div.cards {
            div.card { b { (kind_label(raw.manifest())) } "kind" }
            @if let Some(pushed) = pushed { div.card { b { (time(pushed)) } "pushed" } }
        }
        @if !tags.is_empty() {
            p #image-tags { "Tags: "
                @for (i, (tag, _)) in tags.iter().enumerate() {
                    @if i > 0 { ", " }
                    code.tag { (tag) }
                    @if may_delete { " (" a.delete href=(paths::delete_tag(name, tag)) { "delete" } ")" }
                }
            }
        }
        p.muted { "Media type " code { (stored.media_type) } }
        (details)
        h2 { "Referrers" }
        @if referrers.is_empty() {
            p.muted #no-referrers { "No signatures, SBOMs or attestations refer to this manifest." }
        } @else {
            div #referrers { (referrer_list(name, &referrers)) }
        }
    };
    let crumbs = html! {
        a href="/" { "Repositories" } " / " a href=(paths::repository(name)) { (name) } " / " (short(&digest.to_string()))
    };
    render::ok(render::page(
        viewer,
        &format!("{name}@{}", short(&digest.to_string())),
        crumbs,
        body,
    ))
}

fn kind_label(manifest: &Manifest) -> &'static str {
    match manifest {
        Manifest::Index(_) => "index",
        Manifest::Image(image) if media_type::kind(&image.config.media_type) == Kind::Config => {
            "image"
        }
        Manifest::Image(_) => "artifact",
    }
}

/// An index: each entry with its platform, linked to its own page.
async fn index_body(web: &Web, name: &str, index: &ImageIndex) -> Markup {
    let digests: Vec<Digest> = index.manifests.iter().map(|m| m.digest.clone()).collect();
    let children = web
        .registry
        .manifests_among(name, &digests)
        .await
        .unwrap_or_default();
    let blobs_size = |digest: &Digest| -> Option<u64> {
        let (_, media_type, content) = children.iter().find(|c| &c.0 == digest)?;
        match RawManifest::parse(content.clone(), Some(media_type))
            .ok()?
            .manifest()
        {
            Manifest::Image(m) => {
                Some(m.config.size + m.layers.iter().map(|l| l.size).sum::<u64>())
            }
            Manifest::Index(_) => None,
        }
    };
    html! {
        h2 { "Platforms" }
        table #platforms {
            thead { tr { th { "Platform" } th { "Digest" } th { "Media type" } th.num { "Size" } } }
            tbody {
                @for entry in &index.manifests {
                    tr {
                        td { (platform_label(entry).unwrap_or_else(|| entry.annotation("vnd.docker.reference.type").unwrap_or("—").to_string())) }
                        td.mono { a.platform href=(paths::image(name, &entry.digest.to_string())) { (short(&entry.digest.to_string())) } }
                        td.mono { (entry.media_type) }
                        td.num { (blobs_size(&entry.digest).map(size).unwrap_or_default()) }
                    }
                }
            }
        }
        (annotations(index.annotations.as_ref()))
    }
}

/// An artifact (a signature, an SBOM): its type, config and blobs; nothing to unpack.
fn artifact_body(artifact: &ImageManifest) -> Markup {
    html! {
        h2 { "Artifact" }
        dl.config {
            dt { "Artifact type" } dd.mono { (artifact.artifact_type.as_deref().unwrap_or(&artifact.config.media_type)) }
            dt { "Config" } dd.mono { (artifact.config.media_type) " · " (size(artifact.config.size)) }
        }
        h2 { "Blobs" }
        table #blobs {
            thead { tr { th { "Media type" } th { "Digest" } th.num { "Size" } th { "Title" } } }
            tbody {
                @for blob in &artifact.layers {
                    tr {
                        td.mono { (blob.media_type) }
                        td.mono title=(blob.digest) { (short(&blob.digest.to_string())) }
                        td.num { (size(blob.size)) }
                        td { (blob.annotation("org.opencontainers.image.title").unwrap_or("")) }
                    }
                }
            }
        }
        (annotations(artifact.annotations.as_ref()))
    }
}

fn annotations(annotations: Option<&BTreeMap<String, String>>) -> Markup {
    html! {
        @if let Some(annotations) = annotations.filter(|a| !a.is_empty()) {
            h2 { "Annotations" }
            dl.config {
                @for (key, value) in annotations { dt.mono { (key) } dd { (value) } }
            }
        }
    }
}

/// An image: config, the analysis of its layers, who shares them, its history.
async fn image_body(
    web: &Web,
    access: &Access<'_>,
    name: &str,
    top: Descriptor,
    image: &ImageManifest,
) -> Markup {
    let digest = top.digest.clone();
    let source = StoredImage {
        registry: web.registry.clone(),
        repository: name.to_string(),
        top,
    };
    let tree = web.trees.get(source).await;
    let layer_digests: Vec<Digest> = image.layers.iter().map(|l| l.digest.clone()).collect();
    let uses = web
        .registry
        .blob_uses(&layer_digests)
        .await
        .unwrap_or_default();
    let sharing = Sharing::of(&uses, access, name, &digest);
    let compressed: u64 = image.config.size + image.layers.iter().map(|l| l.size).sum::<u64>();
    let config = match &tree {
        Ok(tree) => Some(tree.config().clone()),
        Err(_) => read_small(&web.registry, &image.config)
            .await
            .and_then(|b| serde_json::from_slice::<ImageConfig>(&b).ok()),
    };
    let saved: u64 = image
        .layers
        .iter()
        .map(|l| l.size * sharing.others(&l.digest).len() as u64)
        .sum();
    html! {
        div.cards #summary {
            div.card { b #size { (size(compressed)) } "compressed" }
            @if let Ok(tree) = &tree {
                div.card { b { (size(tree.analysis().layers.iter().map(|l| l.tar_size).sum())) } "uncompressed" }
                div.card { b #wasted { (size(tree.analysis().wasted_bytes)) } "wasted" }
                div.card { b #efficiency { (percent(tree.analysis().efficiency)) } "efficiency" }
            }
            div.card { b #saved { (size(saved)) } "saved by sharing layers" }
        }
        @if let Some(config) = &config { (config_list(config)) }
        p { a #browse href=(paths::files(name, &digest.to_string(), None, "/")) { "Browse the files →" } }
        h2 { "Layers" }
        @match &tree {
            Ok(tree) => (layer_table(name, &digest, tree.analysis(), &sharing)),
            Err(e) => div.notice.error #analysis-failed { "The layers could not be read: " (e) },
        }
        @if let Ok(tree) = &tree {
            @if !tree.analysis().repeated.is_empty() {
                h2 { "Stored more than once" }
                table #repeated {
                    thead { tr { th { "Path" } th.num { "Times" } th.num { "Bytes" } } }
                    tbody { @for r in &tree.analysis().repeated {
                        tr { td.mono { (r.path) } td.num { (r.count) } td.num { (size(r.bytes)) } }
                    } }
                }
            }
        }
        @if let Some(config) = &config { (history(config)) }
        (annotations(image.annotations.as_ref()))
    }
}

/// What the config says about running the image.
fn config_list(config: &ImageConfig) -> Markup {
    let run = config.config.clone().unwrap_or_default();
    let text = |key: &str| -> Option<String> {
        match run.get(key)? {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            Value::Array(items) if items.is_empty() => None,
            Value::Array(items) => Some(
                items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            Value::Object(map) if map.is_empty() => None,
            Value::Object(map) => Some(map.keys().cloned().collect::<Vec<_>>().join(", ")),
            other => Some(other.to_string()),
        }
    };
    let env: Vec<String> = run
        .get("Env")
        .and_then(Value::as_array)
        .map(|e| {
            e.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let labels: Vec<(String, String)> = run
        .get("Labels")
        .and_then(Value::as_object)
        .map(|l| {
            l.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    html! {
        h2 { "Config" }
        dl.config #config {
            dt { "Platform" } dd #platform { (config.platform()) }
            @if let Some(created) = &config.created { dt { "Created" } dd { (created) } }
            @if let Some(author) = &config.author { dt { "Author" } dd { (author) } }
            @for (label, key) in [("Entrypoint", "Entrypoint"), ("Cmd", "Cmd"), ("Working dir", "WorkingDir"), ("User", "User"), ("Exposed ports", "ExposedPorts"), ("Volumes", "Volumes"), ("Stop signal", "StopSignal")] {
                @if let Some(value) = text(key) { dt { (label) } dd.mono { (value) } }
            }
            @if !env.is_empty() {
                dt { "Env" } dd.mono { @for e in &env { (e) br; } }
            }
            @if !labels.is_empty() {
                dt { "Labels" } dd.mono { @for (k, v) in &labels { (k) "=" (v) br; } }
            }
        }
    }
}

fn history(config: &ImageConfig) -> Markup {
    html! {
        @if !config.history.is_empty() {
            h2 { "History" }
            table #history {
                thead { tr { th { "Created" } th { "Step" } th { "Layer" } } }
                tbody { @for step in &config.history {
                    tr {
                        td { (step.created.as_deref().unwrap_or("")) }
                        td.cmd.mono { (step.created_by.as_deref().unwrap_or("")) }
                        td { @if step.empty_layer { span.muted { "none" } } @else { "yes" } }
                    }
                } }
            }
        }
    }
}

fn layer_table(name: &str, digest: &Digest, analysis: &Analysis, sharing: &Sharing) -> Markup {
    let digest = digest.to_string();
    html! {
        table #layers {
            thead { tr {
                th.num { "#" } th { "Created by" } th { "Digest (compressed)" } th { "diff_id (tar)" }
                th.num { "Size" } th.num { "Tar" } th.num { "Added" } th.num { "Changed" } th.num { "Removed" }
                th.num { "Hides" } th { "Also used by" }
            } }
            tbody {
                @for (i, layer) in analysis.layers.iter().enumerate() {
                    tr.layer {
                        td.num { (i) }
                        td.cmd.mono { (layer.created_by.as_deref().unwrap_or("")) }
                        td.mono title=(layer.digest) {
                            a.layer-files href=(paths::files(name, &digest, Some(i), "/")) { (short(&layer.digest.to_string())) }
                        }
                        td.mono title=(layer.diff_id) { (short(&layer.diff_id.to_string())) }
                        td.num { (size(layer.size)) }
                        td.num { (size(layer.tar_size)) }
                        td.num { (layer.changes.added) }
                        td.num { (layer.changes.changed) }
                        td.num { (layer.changes.removed) }
                        td.num { @if layer.changes.hidden_bytes > 0 { span.bad { (size(layer.changes.hidden_bytes)) } } @else { "0" } }
                        td.shared { (sharing.render(&layer.digest, layer.size)) }
                    }
                }
            }
        }
        p.muted { "Files: " (size(analysis.files_bytes)) " in all layers; wasted: bytes a later layer hides (rewritten or removed); efficiency as dive scores it." }
    }
}

/// Which other images (of repositories the viewer may read) use each layer.
struct Sharing {
    /// Per layer: (repository, manifest) → tags.
    users: BTreeMap<Digest, BTreeMap<(String, Digest), BTreeSet<String>>>,
}

impl Sharing {
    fn of(uses: &[BlobUse], access: &Access<'_>, name: &str, digest: &Digest) -> Sharing {
        let mut users: BTreeMap<Digest, BTreeMap<(String, Digest), BTreeSet<String>>> =
            BTreeMap::new();
        for u in uses {
            if (u.repository == name && &u.manifest == digest) || !access.lists(&u.repository) {
                continue;
            }
            let tags = users
                .entry(u.blob.clone())
                .or_default()
                .entry((u.repository.clone(), u.manifest.clone()))
                .or_default();
            if let Some(tag) = &u.tag {
                tags.insert(tag.clone());
            }
        }
        Sharing { users }
    }

    fn others(&self, layer: &Digest) -> Vec<(&(String, Digest), &BTreeSet<String>)> {
        self.users
            .get(layer)
            .map(|m| m.iter().collect())
            .unwrap_or_default()
    }

    fn render(&self, layer: &Digest, layer_size: u64) -> Markup {
        let others = self.others(layer);
        let repositories: BTreeSet<&str> = others.iter().map(|((r, _), _)| r.as_str()).collect();
        html! {
            @if others.is_empty() {
                span.muted { "no other image" }
            } @else {
                span.count { (others.len()) " image" @if others.len() > 1 { "s" } " in " (repositories.len()) " repositor" @if repositories.len() > 1 { "ies" } @else { "y" } }
                " · saves " (size(layer_size * others.len() as u64))
                ul { @for ((repository, manifest), tags) in others.iter().take(USERS_SHOWN) {
                    li { a.user href=(paths::image(repository, &manifest.to_string())) {
                        (repository)
                        @if let Some(tag) = tags.iter().next() { ":" (tag) } @else { "@" (short(&manifest.to_string())) }
                    } }
                } }
                @if others.len() > USERS_SHOWN { span.muted { "and " (others.len() - USERS_SHOWN) " more" } }
            }
        }
    }
}

/// A referrer and what refers to it in turn.
struct Referrer {
    digest: String,
    artifact_type: String,
    created: Option<String>,
    children: Vec<Referrer>,
}

/// The referrers of `digest` in `name`, followed [`REFERRER_DEPTH`] deep, at most
/// [`REFERRERS_SHOWN`] in all.
async fn referrer_tree(web: &Web, name: &str, digest: &Digest) -> Vec<Referrer> {
    let mut budget = REFERRERS_SHOWN;
    let mut top = referrers_of(web, name, digest, &mut budget).await;
    // Breadth by breadth, iteratively: an async function cannot recurse without boxing.
    let mut level: Vec<&mut Referrer> = top.iter_mut().collect();
    for _ in 1..REFERRER_DEPTH {
        let mut next = Vec::new();
        for node in level {
            let Ok(d) = node.digest.parse::<Digest>() else {
                continue;
            };
            node.children = referrers_of(web, name, &d, &mut budget).await;
            next.extend(node.children.iter_mut());
        }
        level = next;
    }
    top
}

async fn referrers_of(web: &Web, name: &str, digest: &Digest, budget: &mut usize) -> Vec<Referrer> {
    if *budget == 0 {
        return Vec::new();
    }
    let found = web
        .registry
        .referrers(name, digest, None)
        .await
        .unwrap_or_default();
    let mut out = Vec::new();
    for descriptor in found.into_iter().take(*budget) {
        out.push(Referrer {
            digest: descriptor["digest"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            artifact_type: descriptor["artifactType"]
                .as_str()
                .unwrap_or("unknown type")
                .to_string(),
            created: descriptor["annotations"]["org.opencontainers.image.created"]
                .as_str()
                .map(str::to_string),
            children: Vec::new(),
        });
    }
    *budget -= out.len();
    out
}

fn referrer_list(name: &str, referrers: &[Referrer]) -> Markup {
    html! {
        ul.tree {
            @for r in referrers {
                li.referrer {
                    code { (r.artifact_type) } " "
                    a href=(paths::image(name, &r.digest)) { (short(&r.digest)) }
                    @if let Some(created) = &r.created { span.muted { " · " (created) } }
                    @if !r.children.is_empty() { (referrer_list(name, &r.children)) }
                }
            }
        }
    }
}
