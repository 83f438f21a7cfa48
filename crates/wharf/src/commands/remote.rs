//! Looking at images in a registry without pulling them: `wharf manifest inspect`,
//! `wharf image inspect --remote`, `wharf tags`.

use std::future::Future;
use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use wharf_client::{Client, ClientConfig};
use wharf_image::inspect as image_inspect;
use wharf_spec::{Manifest, Platform, Reference};

use super::parse_platform;
use crate::cli::{InspectArgs, ManifestInspectArgs, RegistryArgs};
use crate::output::stdout::outln;
use crate::output::to_docker_json;

/// Runs one registry operation to completion on a runtime of its own: the CLI is
/// synchronous, the client is not.
pub(super) fn block_on<F: Future>(future: F) -> Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(future))
}

/// The user's config file, with the command line's registry options on top.
pub(super) fn client_config(options: &RegistryArgs) -> Result<ClientConfig> {
    let mut config = ClientConfig::load()?;
    config.ca_certs.extend(options.ca_certs.iter().cloned());
    Ok(config)
}

/// A client with the user's config file and Docker's/podman's credentials.
pub(super) fn client(options: &RegistryArgs) -> Result<Client> {
    Ok(Client::new(client_config(options)?)?)
}

fn parse_reference(input: &str) -> Result<Reference> {
    // The parse error names the input already.
    Ok(Reference::parse_normalized(input)?)
}

/// `wharf manifest inspect [--platform P] [--raw] REF`: the manifest or index as the
/// registry has it, pretty-printed like `docker manifest inspect` (4-space indent, keys in
/// the registry's order), or its exact bytes with `--raw`.
pub fn manifest_inspect(args: &ManifestInspectArgs) -> Result<ExitCode> {
    let reference = parse_reference(&args.reference)?;
    let platform = parse_platform(args.platform.as_deref())?;
    let client = client(&args.registry)?;
    let resolved = block_on(async {
        match &platform {
            Some(p) => client.resolve_platform(&reference, p).await.map(|(_, m)| m),
            None => client.resolve(&reference).await,
        }
    })??;
    let bytes = resolved.manifest.bytes();
    let mut out = std::io::stdout().lock();
    if args.raw {
        out.write_all(bytes)?;
    } else {
        let text = std::str::from_utf8(bytes).context("the manifest is not UTF-8")?;
        writeln!(out, "{}", reindent(text))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `wharf image inspect --remote REF...`: Docker's inspect document built from the
/// registry's manifest and config. Prints what it found even when some fail, then fails,
/// as the local inspect does.
pub fn image_inspect(args: &InspectArgs) -> Result<ExitCode> {
    let platform = match parse_platform(args.platform.as_deref())? {
        Some(p) => p,
        None => Platform::host(),
    };
    let client = client(&args.registry)?;
    let mut documents = Vec::new();
    let mut errors = Vec::new();
    for input in &args.images {
        let result = parse_reference(input)
            .and_then(|reference| block_on(inspect_one(&client, &reference, &platform))?);
        match result {
            Ok(doc) => documents.push(doc),
            Err(e) => errors.push(e),
        }
    }
    outln!("{}", to_docker_json(&documents))?;
    match errors.into_iter().next() {
        None => Ok(ExitCode::SUCCESS),
        Some(first) => Err(first),
    }
}

async fn inspect_one(
    client: &Client,
    reference: &Reference,
    platform: &Platform,
) -> Result<image_inspect::Inspect> {
    let (index, image) = client.resolve_platform(reference, platform).await?;
    let Manifest::Image(manifest) = image.manifest.manifest() else {
        bail!(
            "`{}` resolved to an index inside an index",
            reference.familiar()
        );
    };
    let config_bytes = client
        .fetch_blob_bytes(&image.reference, &manifest.config)
        .await?;
    let config = wharf_spec::ImageConfig::parse(&config_bytes).with_context(|| {
        format!(
            "config `{}` of `{}`",
            manifest.config.digest,
            reference.familiar()
        )
    })?;
    let target = index.as_ref().unwrap_or(&image).descriptor.clone();
    Ok(image_inspect::remote(
        &reference.canonical(),
        &target,
        manifest,
        &config,
    ))
}

/// `wharf tags REPO`: every tag, one per line, in the registry's order.
pub fn tags(repository: &str, options: &RegistryArgs) -> Result<ExitCode> {
    let reference = parse_reference(repository)?;
    if reference.tag().is_some() || reference.digest().is_some() {
        bail!(
            "`{repository}` names an image, not a repository: give it without `:tag` or `@digest`"
        );
    }
    let client = client(options)?;
    let tags = block_on(client.tags(&reference))??;
    let mut out = std::io::stdout().lock();
    for tag in tags {
        writeln!(out, "{tag}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// JSON re-indented with four spaces, `"key": value`, empty containers as `{}`/`[]`, as
/// Go's `json.MarshalIndent` prints it — but keeping the document's own key order and
/// spelling of every value, which a round trip through `serde_json::Value` would not.
/// `text` must be valid JSON (the client parsed it already).
fn reindent(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    // Just opened a container: the newline waits to see whether it is empty.
    let mut opened = false;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("    ");
        }
    };
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if c.is_ascii_whitespace() {
            continue;
        }
        if opened {
            opened = false;
            if c == '}' || c == ']' {
                depth -= 1;
                out.push(c);
                continue;
            }
            newline(&mut out, depth);
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                depth += 1;
                opened = true;
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::reindent;

    #[test]
    fn reindent_keeps_order_and_values_like_marshal_indent() {
        let text = r#"{"schemaVersion":2, "mediaType":"a\"b,{c}:", "config":{},"layers":[ ],
            "x":[1,2.50,{"k":null}],"annotations":{"z":"1","a":"é\u00e9"}}"#;
        let want = r#"{
    "schemaVersion": 2,
    "mediaType": "a\"b,{c}:",
    "config": {},
    "layers": [],
    "x": [
        1,
        2.50,
        {
            "k": null
        }
    ],
    "annotations": {
        "z": "1",
        "a": "é\u00e9"
    }
}"#;
        assert_eq!(reindent(text), want);
        let a: serde_json::Value = serde_json::from_str(text).unwrap();
        let b: serde_json::Value = serde_json::from_str(&reindent(text)).unwrap();
        assert_eq!(a, b);
        assert_eq!(reindent("[]"), "[]");
    }
}
