//! Authentication and authorization: who is calling (htpasswd Basic credentials or a bearer
//! token this registry issued) and whether the access rules let them do an action on a
//! repository. HTTP details (headers, challenges, the token endpoint) live in
//! [`crate::gate`]; this module only decides.

mod htpasswd;
mod rules;
mod session;
mod token;

use std::path::PathBuf;

pub use htpasswd::Htpasswd;
pub use rules::{glob_match, Action, Identity, Rules, ANONYMOUS};
pub use session::{Sessions, SESSION_LIFETIME};
pub use token::{ResourceActions, Tokens, Verified};

use crate::config::AuthConfig;

/// The auth section of a config could not be put to work.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the htpasswd file `{path}`: {message}")]
    Htpasswd { path: PathBuf, message: String },
    /// A token or session key file that cannot serve as one.
    #[error("the key file `{path}`: {message}")]
    TokenKey { path: PathBuf, message: String },
}

/// Credentials as a request presented them.
pub enum Credentials {
    None,
    Basic { user: String, password: String },
    Bearer(String),
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    /// Basic credentials checked against the htpasswd file.
    User(String),
    /// A verified bearer token (its subject may be anonymous).
    Token(Verified),
}

impl Caller {
    pub fn identity(&self) -> Identity {
        match self {
            Caller::Anonymous => Identity::Anonymous,
            Caller::User(name) => Identity::User(name.clone()),
            Caller::Token(t) => t.identity.clone(),
        }
    }
}

/// The answer to "may this caller do that".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// 401 with a challenge: credentials (or a token with more scope) may help.
    Challenge {
        insufficient_scope: bool,
    },
    /// 403: this caller is known and the rules say no.
    Deny,
}

pub struct Auth {
    htpasswd: Htpasswd,
    rules: Rules,
    tokens: Option<Tokens>,
    sessions: Sessions,
}

impl Auth {
    pub fn from_config(config: &AuthConfig) -> Result<Auth, AuthSetupError> {
        Ok(Auth {
            htpasswd: Htpasswd::load(&config.htpasswd)?,
            rules: Rules::from_config(config),
            tokens: config.token.as_ref().map(Tokens::from_config).transpose()?,
            sessions: Sessions::load(config.session_key.as_deref())?,
        })
    }

    /// Auth with a random session secret.
    pub fn new(htpasswd: Htpasswd, rules: Rules, tokens: Option<Tokens>) -> Auth {
        Auth {
            htpasswd,
            rules,
            tokens,
            sessions: Sessions::load(None).expect("a random secret needs no file"),
        }
    }

    pub fn tokens(&self) -> Option<&Tokens> {
        self.tokens.as_ref()
    }

    /// `Err(())` for credentials that are wrong (a bad password, a forged or expired token).
    pub async fn authenticate(&self, credentials: Credentials) -> Result<Caller, ()> {
        match credentials {
            Credentials::None => Ok(Caller::Anonymous),
            Credentials::Basic { user, password } => {
                if self.htpasswd.verify(&user, &password).await {
                    Ok(Caller::User(user))
                } else {
                    Err(())
                }
            }
            Credentials::Bearer(token) => self
                .tokens
                .as_ref()
                .and_then(|t| t.verify(&token))
                .map(Caller::Token)
                .ok_or(()),
        }
    }

    /// A web login: the session cookie's value when `password` is `user`'s.
    pub async fn log_in(&self, user: &str, password: &str) -> Option<String> {
        if !self.htpasswd.verify(user, password).await {
            return None;
        }
        let fingerprint = self.htpasswd.fingerprint(user)?;
        Some(self.sessions.issue(user, &fingerprint))
    }

    /// The caller a session cookie names: None when it is forged, expired, or the user's
    /// password changed (or the user is gone) since the login.
    pub fn session(&self, cookie: &str) -> Option<Caller> {
        let (user, fingerprint) = self.sessions.verify(cookie)?;
        (self.htpasswd.fingerprint(&user)? == fingerprint).then_some(Caller::User(user))
    }

    /// Checks the user's password only (the token endpoint's question).
    pub async fn check_password(&self, user: &str, password: &str) -> bool {
        self.htpasswd.verify(user, password).await
    }

    /// May `caller` do `action` on `repository`? Decided from the rules alone (never from
    /// whether the repository exists); a token must also carry the scope.
    pub fn decide(&self, caller: &Caller, repository: &str, action: Action) -> Decision {
        let identity = caller.identity();
        if !self.rules.allows(&identity, repository, action) {
            return self.refuse(&identity);
        }
        match caller {
            Caller::Token(t) if !t.grants_repository(repository, action) => Decision::Challenge {
                insufficient_scope: true,
            },
            _ => Decision::Allow,
        }
    }

    /// What the rules alone say (a token's scopes aside).
    pub fn rules_allow(&self, caller: &Caller, repository: &str, action: Action) -> bool {
        self.rules.allows(&caller.identity(), repository, action)
    }

    /// The catalog: listed for anyone who may read something (filtered per repository).
    pub fn decide_catalog(&self, caller: &Caller) -> Decision {
        let identity = caller.identity();
        if !self.rules.reads_anything(&identity) {
            return self.refuse(&identity);
        }
        match caller {
            Caller::Token(t) if !t.grants_catalog() => Decision::Challenge {
                insufficient_scope: true,
            },
            _ => Decision::Allow,
        }
    }

    fn refuse(&self, identity: &Identity) -> Decision {
        match identity {
            Identity::Anonymous => Decision::Challenge {
                insufficient_scope: false,
            },
            Identity::User(_) => Decision::Deny,
        }
    }

    /// The part of `requested` that `identity` may have: what a token is issued for.
    pub fn grant(
        &self,
        identity: &Identity,
        requested: &[ResourceActions],
    ) -> Vec<ResourceActions> {
        let mut granted: Vec<ResourceActions> = Vec::new();
        for scope in requested {
            let actions: Vec<String> = match scope.kind.as_str() {
                "repository" if crate::service::check_name(&scope.name).is_ok() => scope
                    .actions
                    .iter()
                    .flat_map(|a| match Action::parse(a) {
                        Some(Action::All) => Action::EACH.to_vec(),
                        Some(action) => vec![action],
                        None => Vec::new(),
                    })
                    .filter(|&a| self.rules.allows(identity, &scope.name, a))
                    .map(|a| a.name().to_string())
                    .collect(),
                "registry" if scope.name == "catalog" && self.rules.reads_anything(identity) => {
                    vec!["*".to_string()]
                }
                _ => Vec::new(),
            };
            let mut actions = actions;
            actions.sort();
            actions.dedup();
            if !actions.is_empty() {
                granted.push(ResourceActions {
                    kind: scope.kind.clone(),
                    name: scope.name.clone(),
                    actions,
                });
            }
        }
        granted
    }
}
