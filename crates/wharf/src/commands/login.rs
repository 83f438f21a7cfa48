//! `wharf login` and `wharf logout`, as Docker does them: the credentials are checked
//! against the registry first, then stored in Docker's config file or its credential
//! helper, so Docker, podman, skopeo and wharf all share one login.
//!
//! No credential is ever printed: not in messages, not in errors.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use wharf_client::{
    auth_key, login_registry, Client, ClientError, Credential, CredentialStore, Secret,
    StaticCredentials, StoredIn,
};

use super::remote::block_on;
use crate::cli::LoginArgs;
use crate::output::stdout::outln;

const DEFAULT_REGISTRY: &str = "docker.io";

pub fn login(args: &LoginArgs) -> Result<ExitCode> {
    let registry = login_registry(args.registry.as_deref().unwrap_or(DEFAULT_REGISTRY))?;
    let interactive = std::io::stdin().is_terminal();
    let bare = args.username.is_none() && args.password.is_none() && !args.password_stdin;
    if bare && login_with_stored(&registry, args, interactive)? {
        outln!("Login Succeeded")?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.password_stdin && args.username.is_none() {
        bail!("`--password-stdin` needs `--username`: standard input carries only the password");
    }
    let username = match &args.username {
        Some(u) => u.clone(),
        None if interactive => prompt_username(&registry)?,
        None => bail!(
            "no username for `{registry}`: pass `--username`, or run on a terminal to be asked"
        ),
    };
    let password = if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the password from standard input")?;
        // As Docker does: one trailing newline (`echo`), nothing more.
        let text = text.strip_suffix('\n').unwrap_or(&text);
        text.strip_suffix('\r').unwrap_or(text).to_string()
    } else if let Some(p) = &args.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p.clone()
    } else if interactive {
        rpassword::prompt_password("Password: ").context("cannot read the password")?
    } else {
        bail!(
            "no password for `{registry}`: pass `--password-stdin` and write it to standard input, or run on a terminal to be asked"
        );
    };
    if username.is_empty() {
        bail!("the username is empty");
    }
    if password.is_empty() {
        bail!("the password is empty");
    }

    let mut config = super::remote::client_config(&args.registry_options)?;
    config.credentials = Arc::new(StaticCredentials::one(
        registry.clone(),
        Credential {
            username: username.clone(),
            secret: Secret::Password(password.clone()),
            source: "the login command".into(),
        },
    ));
    let client = Client::new(config)?;
    match block_on(client.ping(&registry))? {
        Ok(()) => {}
        // The message says it all; the usual hint (`wharf login ...`) would go round in a circle.
        // Docker's word for a wrong password, though the client calls a refused identity
        // "access denied".
        Err(ClientError::Unauthorized {
            registry, reason, ..
        }) => bail!("unauthorized: registry `{registry}` {reason}"),
        Err(e) => return Err(e.into()),
    }

    let store = CredentialStore::docker_default()?;
    if let StoredIn::File(path) = store.store(&registry, &username, &password)? {
        eprintln!(
            "WARNING! Your password will be stored unencrypted in {}.",
            path.display()
        );
        eprintln!(
            "Configure a credential helper (`credsStore` in that file) to remove this warning."
        );
    }
    outln!("Login Succeeded")?;
    Ok(ExitCode::SUCCESS)
}

/// A bare `wharf login REGISTRY` first tries the credentials already stored for it, as
/// Docker does, so a user who is logged in is not asked again. `false`: none are stored, or
/// they were refused and a terminal can ask for new ones.
fn login_with_stored(registry: &str, args: &LoginArgs, interactive: bool) -> Result<bool> {
    let config = super::remote::client_config(&args.registry_options)?;
    let Some(stored) = config.credentials.credential(registry)? else {
        return Ok(false);
    };
    if stored.username.is_empty() {
        outln!("Authenticating with existing credentials...")?;
    } else {
        outln!(
            "Authenticating with existing credentials... [Username: {}]",
            stored.username
        )?;
    }
    let client = Client::new(config)?;
    match block_on(client.ping(registry))? {
        Ok(()) => Ok(true),
        Err(ClientError::Unauthorized { .. }) if interactive => {
            eprintln!("Stored credentials invalid or expired");
            Ok(false)
        }
        Err(e @ ClientError::Unauthorized { .. }) => bail!(
            "the credentials stored for `{registry}` (in {}) were refused ({e}); \
             log in again with `wharf login {registry} --username USER --password-stdin`",
            stored.source
        ),
        Err(e) => Err(e.into()),
    }
}

pub fn logout(registry: Option<&str>) -> Result<ExitCode> {
    let registry = login_registry(registry.unwrap_or(DEFAULT_REGISTRY))?;
    // As Docker: saying that nothing was stored is not an error.
    if CredentialStore::docker_default()?.erase(&registry)? {
        outln!("Removing login credentials for {}", auth_key(&registry))?;
    } else {
        outln!("Not logged in to {}", auth_key(&registry))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn prompt_username(registry: &str) -> Result<String> {
    let mut err = std::io::stderr();
    write!(err, "Username for {registry}: ")?;
    err.flush()?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the username")?;
    Ok(line.trim().to_string())
}
