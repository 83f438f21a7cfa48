//! Error messages for people: one line saying what is wrong, the causes after it, and a
//! hint line where there is an obvious next step.

use wharf_client::ClientError;
use wharf_image::ingest::Origin;
use wharf_image::ImageError;

pub fn print_error(error: &anyhow::Error) {
    let causes = causes(error);
    let refused = error
        .chain()
        .find_map(client_error)
        .is_some_and(ClientError::is_connection_refused);
    if refused {
        // Nothing listens there: the whole story fits one line, as in Docker.
        let line = std::iter::once(error.to_string()).chain(causes);
        eprintln!("error: {}", line.collect::<Vec<_>>().join(": "));
    } else {
        eprintln!("error: {error}");
        for text in causes {
            eprintln!("  caused by: {text}");
        }
    }
    if let Some(hint) = hint(error) {
        eprintln!("hint: {hint}");
    }
}

/// The causes' messages, without those the message above already ends with (errors that
/// embed their source's text, `manifest `x`: <source>`, would otherwise print it twice).
fn causes(error: &anyhow::Error) -> Vec<String> {
    let mut above = error.to_string();
    let mut causes = Vec::new();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !above.ends_with(&text) {
            causes.push(text.clone());
        }
        above = text;
    }
    causes
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
        ImageError::CorruptBlob {
            origin: Origin::Registry(_),
            ..
        } => {
            "nothing of that layer was kept; pull again, and if it recurs the registry's copy is damaged".into()
        }
        ImageError::CorruptBlob { .. } => {
            "nothing of that blob was kept; the source's copy is damaged".into()
        }
        ImageError::Internal { .. } => {
            "this is a bug in wharf, not in your input; nothing was published. Please report it with the command you ran".into()
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
