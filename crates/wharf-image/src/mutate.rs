//! `wharf mutate REF [--entrypoint] [--cmd] [--env K=V] [--label K=V] [--workdir]
//! [--user] [--expose] -t NEW`: a new image whose config differs from REF's in the
//! runtime settings given, with an `empty_layer` history step saying what changed (as
//! `docker commit --change` does). The layers are shared, untouched.

use serde_json::{json, Map, Value};
use wharf_spec::{Platform, Reference};
use wharf_store::Store;

use crate::compose::{created_at, Composed, Draft};
use crate::error::{ImageError, Result};

/// Config changes, each already checked. Commands are JSON: an array of strings, or
/// `null` to clear.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigEdits {
    pub entrypoint: Option<Value>,
    pub cmd: Option<Value>,
    pub env: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// `PORT/PROTO`.
    pub expose: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct MutateOptions {
    pub platform: Option<Platform>,
    /// `SOURCE_DATE_EPOCH`: the new config's and history step's `created`.
    pub source_date_epoch: Option<u64>,
}

fn invalid(message: String) -> ImageError {
    ImageError::Invalid(message)
}

/// `--entrypoint`/`--cmd`: a JSON array of strings is the exec form; any other text is
/// the shell form (`["/bin/sh","-c",TEXT]`), as in a Dockerfile; empty clears it.
pub fn parse_command(flag: &str, input: &str) -> Result<Value> {
    let text = input.trim();
    if text.is_empty() {
        return Ok(Value::Null);
    }
    if text.starts_with('[') {
        return match serde_json::from_str::<Vec<String>>(text) {
            Ok(args) => Ok(json!(args)),
            Err(e) => Err(invalid(format!(
                "`--{flag} {input}` is not a JSON array of strings ({e}); write `[\"/bin/app\",\"arg\"]`, or plain text for a shell command"
            ))),
        };
    }
    Ok(json!(["/bin/sh", "-c", input]))
}

/// `--env`/`--label`: `KEY=VALUE` (the value may be empty or hold `=`).
pub fn parse_key_value(flag: &str, input: &str) -> Result<(String, String)> {
    match input.split_once('=') {
        Some((key, value)) if !key.is_empty() && !key.contains(char::is_whitespace) => {
            Ok((key.to_string(), value.to_string()))
        }
        _ => Err(invalid(format!(
            "`--{flag} {input}` must be KEY=VALUE, with a KEY that is not empty and has no spaces"
        ))),
    }
}

/// `--expose`: `PORT` or `PORT/tcp|udp|sctp` → `PORT/PROTO` (tcp when not given).
pub fn parse_port(input: &str) -> Result<String> {
    let (port, proto) = input.split_once('/').unwrap_or((input, "tcp"));
    let proto = proto.to_ascii_lowercase();
    let valid_port = port.parse::<u16>().is_ok_and(|p| p > 0) && !port.starts_with('+');
    if !valid_port || !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(invalid(format!(
            "`--expose {input}` must be PORT[/PROTO]: a port from 1 to 65535, and tcp, udp or sctp"
        )));
    }
    Ok(format!(
        "{}/{proto}",
        port.parse::<u16>().unwrap_or_default()
    ))
}

/// `--workdir`: an absolute path (a relative one would depend on the base's).
pub fn parse_workdir(input: &str) -> Result<String> {
    if !input.starts_with('/') {
        return Err(invalid(format!(
            "`--workdir {input}` must be an absolute path"
        )));
    }
    Ok(input.to_string())
}

impl ConfigEdits {
    pub fn is_empty(&self) -> bool {
        *self == ConfigEdits::default()
    }

    /// Applies the edits to a runtime config (`Env`, `Cmd`, ... as Docker names them).
    pub fn apply(&self, config: &mut Map<String, Value>) {
        if let Some(entrypoint) = &self.entrypoint {
            config.insert("Entrypoint".into(), entrypoint.clone());
            // As in a Dockerfile: a new entrypoint drops the base's CMD unless one is given.
            if self.cmd.is_none() {
                config.insert("Cmd".into(), Value::Null);
            }
        }
        if let Some(cmd) = &self.cmd {
            config.insert("Cmd".into(), cmd.clone());
        }
        if !self.env.is_empty() {
            let env = list(config, "Env");
            for (key, value) in &self.env {
                let line = json!(format!("{key}={value}"));
                let prefix = format!("{key}=");
                match env
                    .iter_mut()
                    .find(|e| e.as_str().is_some_and(|e| e.starts_with(&prefix)))
                {
                    Some(existing) => *existing = line,
                    None => env.push(line),
                }
            }
        }
        for (key, value) in &self.labels {
            object(config, "Labels").insert(key.clone(), json!(value));
        }
        for port in &self.expose {
            object(config, "ExposedPorts").insert(port.clone(), json!({}));
        }
        if let Some(workdir) = &self.workdir {
            config.insert("WorkingDir".into(), json!(workdir));
        }
        if let Some(user) = &self.user {
            config.insert("User".into(), json!(user));
        }
    }

    /// The history step: the flags that made it, in a fixed order.
    pub fn describe(&self) -> String {
        let mut out = String::from("wharf mutate");
        let command = |v: &Value| match v {
            Value::Null => "\"\"".to_string(),
            v => v.to_string(),
        };
        if let Some(e) = &self.entrypoint {
            out += &format!(" --entrypoint {}", command(e));
        }
        if let Some(c) = &self.cmd {
            out += &format!(" --cmd {}", command(c));
        }
        for (k, v) in &self.env {
            out += &format!(" --env {k}={v}");
        }
        for (k, v) in &self.labels {
            out += &format!(" --label {k}={v}");
        }
        if let Some(w) = &self.workdir {
            out += &format!(" --workdir {w}");
        }
        if let Some(u) = &self.user {
            out += &format!(" --user {u}");
        }
        for p in &self.expose {
            out += &format!(" --expose {p}");
        }
        out
    }
}

fn list<'a>(config: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    let slot = config.entry(key).or_insert_with(|| json!([]));
    if !slot.is_array() {
        *slot = json!([]);
    }
    slot.as_array_mut().expect("made an array above")
}

fn object<'a>(config: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = config.entry(key).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    slot.as_object_mut().expect("made an object above")
}

pub fn mutate(
    store: &Store,
    image: &str,
    edits: &ConfigEdits,
    name: &Reference,
    options: &MutateOptions,
) -> Result<Composed> {
    if edits.is_empty() {
        return Err(invalid(
            "nothing to change: give at least one of --entrypoint, --cmd, --env, --label, --workdir, --user, --expose".into(),
        ));
    }
    let _guard = store.lock_shared()?;
    let mut draft = Draft::from_base(store, image, options.platform.as_ref())?;
    edits.apply(draft.runtime_config());
    draft.push_history(
        &created_at(options.source_date_epoch),
        &edits.describe(),
        true,
    );
    draft.publish(store, Vec::new(), &[], name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_exec_or_shell_form_or_cleared() {
        assert_eq!(
            parse_command("cmd", r#"["/bin/app","--x"]"#).unwrap(),
            json!(["/bin/app", "--x"])
        );
        assert_eq!(
            parse_command("cmd", "echo hi").unwrap(),
            json!(["/bin/sh", "-c", "echo hi"])
        );
        assert_eq!(parse_command("entrypoint", "").unwrap(), Value::Null);
        let err = parse_command("entrypoint", "[1,2]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a JSON array of strings"), "{err}");
    }

    #[test]
    fn bad_flags_are_named() {
        assert_eq!(
            parse_key_value("env", "A=b=c").unwrap(),
            ("A".into(), "b=c".into())
        );
        assert_eq!(
            parse_key_value("env", "A=").unwrap(),
            ("A".into(), "".into())
        );
        for bad in ["A", "=x", "A B=c"] {
            let err = parse_key_value("env", bad).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("`--env {bad}` must be KEY=VALUE")),
                "{err}"
            );
        }
        assert_eq!(parse_port("80").unwrap(), "80/tcp");
        assert_eq!(parse_port("53/UDP").unwrap(), "53/udp");
        for bad in ["0", "70000", "http", "80/icmp", ""] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
        assert!(parse_workdir("app").is_err());
    }

    #[test]
    fn edits_replace_add_and_keep_the_rest() {
        let mut config = serde_json::from_value::<Map<String, Value>>(json!({
            "Env": ["PATH=/bin", "A=1"],
            "Cmd": ["sh"],
            "Labels": {"keep": "me"},
            "StopSignal": "SIGTERM",
        }))
        .unwrap();
        let edits = ConfigEdits {
            entrypoint: Some(json!(["/app"])),
            env: vec![("A".into(), "2".into()), ("B".into(), "3".into())],
            labels: vec![("new".into(), "x".into())],
            expose: vec!["80/tcp".into()],
            workdir: Some("/srv".into()),
            user: Some("1000:1000".into()),
            ..ConfigEdits::default()
        };
        edits.apply(&mut config);
        assert_eq!(
            Value::Object(config),
            json!({
                "Env": ["PATH=/bin", "A=2", "B=3"],
                "Entrypoint": ["/app"],
                "Cmd": null,
                "Labels": {"keep": "me", "new": "x"},
                "ExposedPorts": {"80/tcp": {}},
                "WorkingDir": "/srv",
                "User": "1000:1000",
                "StopSignal": "SIGTERM",
            })
        );
        assert_eq!(
            edits.describe(),
            r#"wharf mutate --entrypoint ["/app"] --env A=2 --env B=3 --label new=x --workdir /srv --user 1000:1000 --expose 80/tcp"#
        );
    }
}
