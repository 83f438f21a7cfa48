//! Presentation: Docker's tables, sizes and relative times, and JSON the way Docker
//! prints it. Only this crate knows about terminals.

pub mod human;
pub mod layers;
pub mod progress;
pub mod push;
pub mod stdout;
pub mod table;

use serde::Serialize;

/// JSON indented with four spaces, as `docker inspect` prints it.
pub fn to_docker_json<T: Serialize>(value: &T) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    value.serialize(&mut ser).expect("serializable");
    String::from_utf8(out).expect("JSON is UTF-8")
}
