//! Property tests for image references: round trips through the normalized and familiar
//! forms, `canonical()` laws, and "no input panics".

use proptest::prelude::*;
use wharf_spec::{Algorithm, Digest, Reference};

/// How a generated reference names its registry.
#[derive(Debug, Clone)]
enum Host {
    /// No registry written: Docker Hub by default.
    Implicit,
    /// `docker.io` or `index.docker.io`: Docker Hub spelled out.
    Hub(&'static str),
    /// Any other registry, kept verbatim.
    Registry(String),
}

/// A strategy for strings matching `pattern` (a test-authored regex, so it always compiles).
fn matching(pattern: &str) -> BoxedStrategy<String> {
    proptest::string::string_regex(pattern)
        .unwrap_or_else(|e| panic!("bad test regex {pattern}: {e}"))
        .boxed()
}

fn registry() -> impl Strategy<Value = String> {
    let label = "[a-zA-Z0-9]([a-zA-Z0-9-]{0,5}[a-zA-Z0-9])?";
    let port = "(:[0-9]{1,5})?";
    prop_oneof![
        Just("localhost".to_string()),
        matching("localhost:[0-9]{1,5}"),
        matching(&format!("{label}(\\.{label}){{1,3}}{port}")),
        matching(&format!("[0-9]{{1,3}}(\\.[0-9]{{1,3}}){{3}}{port}")),
        // Docker only sees a host in a first component with `.` or `:`: `[0]/x` is a path.
        matching(&format!(
            "\\[[0-9a-fA-F]{{0,4}}(:[0-9a-fA-F]{{0,4}}){{1,7}}\\]{port}"
        )),
        // No dot or colon: a registry only because of the upper-case letter.
        matching(&format!("[A-Z][a-zA-Z0-9]{{0,6}}{port}")),
    ]
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        Just(Host::Implicit),
        Just(Host::Hub("docker.io")),
        Just(Host::Hub("index.docker.io")),
        registry()
            .prop_filter("Docker Hub spelled as a registry", |r| {
                r != "docker.io" && r != "index.docker.io"
            })
            .prop_map(Host::Registry),
    ]
}

fn component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,6}((\\.|_|__|-{1,3})[a-z0-9]{1,6}){0,2}"
}

/// Path components; on Docker Hub the first one must not look like a registry host, since
/// Docker's familiar form (and so wharf's) would then read it as one.
fn path_for(host: &Host) -> BoxedStrategy<Vec<String>> {
    let hub = !matches!(host, Host::Registry(_));
    prop::collection::vec(component(), 1..5)
        .prop_filter("hub namespace that looks like a host", move |parts| {
            !hub || !(parts[0].contains('.') || parts[0] == "localhost")
        })
        .boxed()
}

fn tag() -> impl Strategy<Value = Option<String>> {
    prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
}

fn digest() -> impl Strategy<Value = Option<Digest>> {
    let algorithm = prop_oneof![Just(Algorithm::Sha256), Just(Algorithm::Sha512)];
    prop::option::of(
        (algorithm, prop::collection::vec(any::<u8>(), 0..16))
            .prop_map(|(a, bytes)| Digest::of_bytes(a, &bytes)),
    )
}

#[derive(Debug, Clone)]
struct Generated {
    input: String,
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// A valid reference as a user might type it, with the parts it must parse into.
fn generated() -> impl Strategy<Value = Generated> {
    host()
        .prop_flat_map(|h| (Just(h.clone()), path_for(&h), tag(), digest()))
        .prop_map(|(host, parts, tag, digest)| {
            let written = parts.join("/");
            let (prefix, domain) = match &host {
                Host::Implicit => (String::new(), "docker.io".to_string()),
                Host::Hub(h) => (format!("{h}/"), "docker.io".to_string()),
                Host::Registry(r) => (format!("{r}/"), r.clone()),
            };
            let path = if domain == "docker.io" && parts.len() == 1 {
                format!("library/{written}")
            } else {
                written.clone()
            };
            let mut input = format!("{prefix}{written}");
            if let Some(t) = &tag {
                input.push(':');
                input.push_str(t);
            }
            if let Some(d) = &digest {
                input.push('@');
                input.push_str(&d.to_string());
            }
            Generated {
                input,
                domain,
                path,
                tag,
                digest,
            }
        })
}

fn reference_alphabet() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9:/@._\\-\\[\\]%é \n]{0,80}"
}

/// What must hold for anything the parser accepts or refuses.
fn check_any(input: &str) -> Result<(), TestCaseError> {
    match Reference::parse_normalized(input) {
        Ok(r) => {
            let again = Reference::parse_normalized(&r.normalized());
            prop_assert_eq!(
                again,
                Ok(r.clone()),
                "normalized form must re-parse to itself"
            );
            prop_assert_eq!(Reference::parse_qualified(&r.normalized()), Ok(r.clone()));
            prop_assert!(r.path().len() <= 255);
        }
        Err(e) => {
            let msg = e.to_string();
            prop_assert!(!msg.contains('\n'), "multi-line message: {:?}", msg);
            prop_assert!(msg.starts_with("invalid reference `"), "{}", msg);
        }
    }
    let _ = Reference::parse_qualified(input);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn valid_references_parse_into_their_parts(g in generated()) {
        let r = Reference::parse_normalized(&g.input)
            .map_err(|e| TestCaseError::fail(format!("{}: {e}", g.input)))?;
        prop_assert_eq!(r.domain(), g.domain.as_str());
        prop_assert_eq!(r.path(), g.path.as_str());
        prop_assert_eq!(r.tag(), g.tag.as_deref());
        prop_assert_eq!(r.digest(), g.digest.as_ref());
    }

    #[test]
    fn normalized_and_familiar_forms_round_trip(g in generated()) {
        let r = Reference::parse_normalized(&g.input)
            .map_err(|e| TestCaseError::fail(format!("{}: {e}", g.input)))?;
        prop_assert_eq!(Reference::parse_normalized(&r.normalized()), Ok(r.clone()));
        prop_assert_eq!(Reference::parse_normalized(&r.familiar()), Ok(r.clone()));
        prop_assert_eq!(Reference::parse_qualified(&r.normalized()), Ok(r.clone()));
        prop_assert_eq!(r.to_string(), r.normalized());
    }

    #[test]
    fn canonical_has_exactly_one_pin_and_is_idempotent(g in generated()) {
        let r = Reference::parse_normalized(&g.input)
            .map_err(|e| TestCaseError::fail(format!("{}: {e}", g.input)))?;
        let c = r.canonical();
        prop_assert!(c.tag().is_some() != c.digest().is_some(), "{:?}", c);
        prop_assert_eq!(c.canonical(), c.clone());
        prop_assert_eq!((c.domain(), c.path()), (r.domain(), r.path()));
        if r.digest().is_some() {
            prop_assert_eq!(c.digest(), r.digest());
        } else {
            prop_assert_eq!(c.tag(), Some(r.tag_or_latest()));
        }
    }

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        check_any(&s)?;
    }

    #[test]
    fn reference_like_strings_never_panic(s in reference_alphabet()) {
        check_any(&s)?;
    }

    #[test]
    fn mutated_valid_references_never_panic(
        g in generated(),
        at in any::<prop::sample::Index>(),
        c in any::<char>(),
        delete in any::<bool>(),
    ) {
        let mut chars: Vec<char> = g.input.chars().collect();
        let i = at.index(chars.len() + 1);
        if delete && i < chars.len() {
            chars.remove(i);
        } else {
            chars.insert(i, c);
        }
        check_any(&chars.into_iter().collect::<String>())?;
    }
}
