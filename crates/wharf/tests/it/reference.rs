//! `wharf reference`: Docker's normalization, one JSON object per input; one error line
//! naming the broken rule otherwise.

use serde_json::Value;

use wharf_testkit::cli::*;

const HEX256: &str = "4ea3b2a7d4f4a4e4a2e4c2a7f1e0b8a3e2c9d4f4b5a6c7d8e9f0a1b2c3d4e5f6";

#[test]
fn valid_references() {
    let w = Wharf::new();
    let sha512 = "ab".repeat(64);
    let inputs = [
        "redis".to_string(),
        "redis:7".into(),
        "library/redis".into(),
        "docker.io/library/redis:7".into(),
        "index.docker.io/library/redis".into(),
        "myorg/app:1.0".into(),
        "ghcr.io/org/team/app:v2".into(),
        "localhost/app".into(),
        "localhost:5000/app:dev".into(),
        "[::1]:5000/app:1".into(),
        "[2001:db8::1]/app".into(),
        "Registry.Example.com/app".into(),
        format!("redis@sha256:{HEX256}"),
        format!("redis:7@sha256:{HEX256}"),
        format!("example.com:443/a/b-c/d__e@sha512:{sha512}"),
    ];
    let mut lines = Vec::new();
    for input in &inputs {
        let out = w.run(&["reference", input]);
        assert_eq!(out.code, 0, "{input}: {}", out.stderr);
        assert_eq!(out.stdout.lines().count(), 1, "{input}");
        let json: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(json["input"], input.as_str());
        lines.push(out.stdout.trim_end().to_string());
    }
    insta::assert_snapshot!(lines.join("\n"));
    // Spot checks of the rules, beside the snapshot.
    let get =
        |input: &str| -> Value { serde_json::from_str(&w.ok(&["reference", input])).unwrap() };
    let redis = get("redis");
    assert_eq!(redis["normalized"], "docker.io/library/redis");
    assert_eq!(redis["canonical"], "docker.io/library/redis:latest");
    assert_eq!(redis["familiar"], "redis");
    assert_eq!(redis["tag"], Value::Null);
    assert_eq!(get("index.docker.io/library/redis")["domain"], "docker.io");
    assert_eq!(
        get("localhost:5000/app:dev")["familiar"],
        "localhost:5000/app:dev"
    );
    let both = get(&format!("redis:7@sha256:{HEX256}"));
    assert_eq!(both["tag"], "7");
    assert_eq!(
        both["canonical"],
        format!("docker.io/library/redis@sha256:{HEX256}")
    );
    assert_eq!(
        get("Registry.Example.com/app")["domain"],
        "Registry.Example.com"
    );
}

#[test]
fn invalid_references() {
    let w = Wharf::new();
    let long_tag = format!("redis:{}", "t".repeat(129));
    let long_path = format!("a/{}", "b".repeat(260));
    let cases: Vec<(String, &str)> = vec![
        ("Redis".into(), "must be lowercase"),
        ("myorg/App:1".into(), "must be lowercase"),
        (long_tag, "tag"),
        ("redis@sha256:abc".into(), "digest"),
        (format!("redis@sha256:{}", HEX256.to_uppercase()), "digest"),
        (format!("redis@md5:{}", &HEX256[..32]), "digest"),
        (long_path, "255"),
        ("redis:".into(), "tag"),
        ("".into(), "invalid reference format"),
        ("a//b".into(), "invalid"),
        ("-redis".into(), "invalid"),
    ];
    let mut report = Vec::new();
    for (input, words) in &cases {
        let out = w.run(&["reference", "--", input]);
        assert_ne!(out.code, 0, "{input}");
        assert_eq!(out.stdout, "", "{input}");
        assert_eq!(
            out.stderr.lines().count(),
            1,
            "{input}: one line, got {}",
            out.stderr
        );
        assert!(
            out.stderr.to_lowercase().contains(words),
            "{input}: `{words}` not in {}",
            out.stderr
        );
        let shown = if input.len() > 40 {
            format!("{}…", &input[..40])
        } else {
            input.clone()
        };
        report.push(format!("{shown:?} → {}", out.stderr.trim_end()));
    }
    insta::assert_snapshot!(report.join("\n"));
}
