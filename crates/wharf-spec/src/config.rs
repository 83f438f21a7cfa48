//! The image configuration (OCI `config.json` / Docker's image JSON), read leniently:
//! Docker-only fields (`docker_version`, `container_config`, `parent`) are kept, the
//! container config is kept as JSON so no field Docker shows is lost, and the exact bytes
//! stay with the caller.

use serde::{Deserialize, Serialize};

use crate::{Digest, Platform};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The runtime configuration (`Env`, `Cmd`, `Entrypoint`, ...), as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub empty_layer: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("image config is not valid JSON: {0}")]
    Json(String),
    #[error("image config has rootfs type `{0}`, expected `layers`")]
    RootFsType(String),
}

impl ImageConfig {
    pub fn parse(bytes: &[u8]) -> Result<Self, ConfigError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ConfigError::Json(e.to_string()))?;
        if !value.is_object() {
            return Err(ConfigError::Json("expected a JSON object".into()));
        }
        let config: ImageConfig =
            serde_json::from_value(value).map_err(|e| ConfigError::Json(e.to_string()))?;
        if !config.rootfs.kind.is_empty() && config.rootfs.kind != "layers" {
            return Err(ConfigError::RootFsType(config.rootfs.kind.clone()));
        }
        Ok(config)
    }

    pub fn platform(&self) -> Platform {
        Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            variant: self.variant.clone(),
            os_version: self.os_version.clone(),
            os_features: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_fields_and_keeps_container_config() {
        let json = br#"{"architecture":"amd64","os":"linux","docker_version":"17.03.1-ce",
            "created":"2017-06-19T16:53:14.832853892Z","config":{"Cmd":["celery","worker"],"User":"user"},
            "rootfs":{"type":"layers","diff_ids":["sha256:007ab444b234be691d8dafd51839b7713324a261b16e2487bf4a3f989ded912d"]},
            "history":[{"created_by":"/bin/sh -c #(nop) CMD","empty_layer":true}]}"#;
        let c = ImageConfig::parse(json).unwrap();
        assert_eq!(c.docker_version.as_deref(), Some("17.03.1-ce"));
        assert_eq!(c.config.as_ref().unwrap()["User"], "user");
        assert_eq!(c.rootfs.diff_ids.len(), 1);
        assert!(c.history[0].empty_layer);
        assert_eq!(c.platform().to_string(), "linux/amd64");
    }

    #[test]
    fn rejects_bad_configs() {
        assert!(ImageConfig::parse(b"[]")
            .unwrap_err()
            .to_string()
            .contains("not valid JSON"));
        let bad_digest = br#"{"rootfs":{"type":"layers","diff_ids":["sha256:zz"]}}"#;
        assert!(ImageConfig::parse(bad_digest).is_err());
        let bad_type = br#"{"rootfs":{"type":"other","diff_ids":[]}}"#;
        assert!(ImageConfig::parse(bad_type)
            .unwrap_err()
            .to_string()
            .contains("rootfs type"));
    }
}
