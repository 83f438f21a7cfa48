//! Error messages for people: one line saying what is wrong, the causes after it, and a
//! hint line where there is an obvious next step.

use wharf_client::ClientError;
use wharf_image::ImageError;

pub fn print_error(error: &anyhow::Error) {
    eprintln!("error: {error}");
    let mut above = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        // Errors that embed their source's text (`manifest `x`: <source>`) would
        // otherwise print it twice.
        if !above.ends_with(&text) {
            eprintln!("  caused by: {text}");
        }
        above = text;
    }
    if let Some(hint) = hint(error) {
        eprintln!("hint: {hint}");
    }
}

fn hint(error: &anyhow::Error) -> Option<String> {
    if let Some(client_error) = error.chain().find_map(client_error) {
        return client_hint(client_error);
    }
    let image_error = error.chain().find_map(|e| e.downcast_ref::<ImageError>())?;
    Some(match image_error {
        ImageError::NotFound(_) => "`wharf images` lists the images in the store".into(),
        ImageError::Ambiguous { .. } => {
            "give more characters of the ID, or the full `sha256:` digest".into()
        }
        ImageError::Conflict(_) => "remove the names one by one, or pass `--force`".into(),
        ImageError::PlatformNotFound { .. } => {
            "choose one of the listed platforms with `--platform`".into()
        }
        ImageError::DiffIdMismatch { .. } => "`wharf fsck` checks every blob in the store".into(),
        ImageError::CorruptBlob { .. } => {
            "nothing of that layer was kept; pull again, and if it recurs the registry's copy is damaged".into()
        }
        _ => return None,
    })
}

/// A registry error, also when an image operation wraps it.
fn client_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a ClientError> {
    match e.downcast_ref::<ImageError>() {
        Some(ImageError::Registry(inner)) => Some(inner),
        _ => e.downcast_ref::<ClientError>(),
    }
}

fn client_hint(error: &ClientError) -> Option<String> {
    if error.is_not_found() {
        return Some(
            "check the name and tag; `wharf tags REPOSITORY` lists a repository's tags".into(),
        );
    }
    error.hint()
}
