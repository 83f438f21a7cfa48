//! `wharf reference REF`: how Docker reads a reference, as one JSON object.

use std::process::ExitCode;

use crate::output::stdout::outln;
use anyhow::Result;
use serde::Serialize;
use wharf_spec::Reference;

#[derive(Serialize)]
struct Parsed<'a> {
    input: &'a str,
    domain: &'a str,
    path: &'a str,
    tag: Option<&'a str>,
    digest: Option<String>,
    normalized: String,
    familiar: String,
    canonical: String,
}

pub fn run(input: &str) -> Result<ExitCode> {
    let r = Reference::parse_normalized(input)?;
    let parsed = Parsed {
        input,
        domain: r.domain(),
        path: r.path(),
        tag: r.tag(),
        digest: r.digest().map(ToString::to_string),
        normalized: r.normalized(),
        familiar: r.familiar(),
        canonical: r.canonical().normalized(),
    };
    outln!("{}", serde_json::to_string(&parsed)?)?;
    Ok(ExitCode::SUCCESS)
}
