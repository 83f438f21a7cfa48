//! `wharf history`: the image's build steps, newest first, each with its layer's size.

use wharf_spec::{Digest, Platform};
use wharf_store::Store;

use crate::catalog;
use crate::error::Result;
use crate::layers::layer_info;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    /// The image ID on the newest step only, as Docker shows (`<missing>` elsewhere).
    pub id: Option<Digest>,
    pub created: Option<String>,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
    pub empty_layer: bool,
}

pub fn history(store: &Store, input: &str, platform: Option<&Platform>) -> Result<Vec<Step>> {
    let found = catalog::find(store, input, platform)?;
    let r = &found.resolved;
    let mut layers = r.manifest.layers.iter();
    let mut steps = Vec::new();
    if r.config.history.is_empty() {
        // No history recorded: one anonymous step per layer.
        for layer in layers {
            steps.push(Step {
                id: None,
                created: r.config.created.clone(),
                created_by: String::new(),
                size: layer_info(store, layer)?.size,
                comment: String::new(),
                empty_layer: false,
            });
        }
    } else {
        for h in &r.config.history {
            let layer = if h.empty_layer { None } else { layers.next() };
            let size = match layer {
                Some(layer) => layer_info(store, layer)?.size,
                None => 0,
            };
            steps.push(Step {
                id: None,
                created: h.created.clone(),
                created_by: h.created_by.clone().unwrap_or_default(),
                size,
                comment: h.comment.clone().unwrap_or_default(),
                empty_layer: h.empty_layer,
            });
        }
    }
    steps.reverse();
    if let Some(first) = steps.first_mut() {
        first.id = Some(r.id().clone());
    }
    Ok(steps)
}
