//! Access rules: who (users, groups, everyone authenticated, anonymous) may do which actions
//! on which repositories (glob patterns). A decision reads only the rules, never the
//! database, so an answer can never reveal whether a repository exists.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::AuthConfig;

/// What can be done to a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Pull,
    Push,
    Delete,
    /// Every action (`"*"` in the config and in token scopes).
    #[serde(rename = "*")]
    All,
}

impl Action {
    pub const EACH: [Action; 3] = [Action::Pull, Action::Push, Action::Delete];

    pub fn name(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
            Action::All => "*",
        }
    }

    pub fn parse(text: &str) -> Option<Action> {
        match text {
            "pull" => Some(Action::Pull),
            "push" => Some(Action::Push),
            "delete" => Some(Action::Delete),
            "*" => Some(Action::All),
            _ => None,
        }
    }

    /// Whether holding `self` grants `wanted`.
    pub fn covers(self, wanted: Action) -> bool {
        self == Action::All || self == wanted
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Anonymous,
    User(String),
}

impl Identity {
    pub fn subject(&self) -> &str {
        match self {
            Identity::Anonymous => "",
            Identity::User(name) => name,
        }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    users: Vec<String>,
    groups: Vec<String>,
    repositories: Vec<String>,
    actions: Vec<Action>,
}

/// The rules of a config's `[auth]` section.
#[derive(Debug, Clone)]
pub struct Rules {
    groups: BTreeMap<String, Vec<String>>,
    rules: Vec<Rule>,
    anonymous_pull: bool,
}

/// The name rules use for requests without credentials.
pub const ANONYMOUS: &str = "anonymous";

impl Rules {
    pub fn from_config(config: &AuthConfig) -> Rules {
        Rules {
            groups: config.groups.clone(),
            rules: config
                .rules
                .iter()
                .map(|r| Rule {
                    users: r.users.clone(),
                    groups: r.groups.clone(),
                    repositories: r.repositories.clone(),
                    actions: r.actions.clone(),
                })
                .collect(),
            anonymous_pull: config.anonymous_pull,
        }
    }

    /// Whether `who` may do `action` on `repository`.
    pub fn allows(&self, who: &Identity, repository: &str, action: Action) -> bool {
        if action == Action::Pull && self.anonymous_pull {
            return true;
        }
        if self.rules.is_empty() {
            // No rules: every authenticated user may do everything (distribution's htpasswd).
            return matches!(who, Identity::User(_));
        }
        self.rules.iter().any(|rule| {
            self.applies_to(rule, who)
                && rule.actions.iter().any(|a| a.covers(action))
                && rule.repositories.iter().any(|p| glob_match(p, repository))
        })
    }

    /// Whether `who` may read anything at all (a catalog is worth listing for them).
    pub fn reads_anything(&self, who: &Identity) -> bool {
        if self.anonymous_pull || (self.rules.is_empty() && matches!(who, Identity::User(_))) {
            return true;
        }
        self.rules.iter().any(|rule| {
            self.applies_to(rule, who) && rule.actions.iter().any(|a| a.covers(Action::Pull))
        })
    }

    fn applies_to(&self, rule: &Rule, who: &Identity) -> bool {
        match who {
            Identity::Anonymous => rule.users.iter().any(|u| u == ANONYMOUS),
            // What anonymous callers may do, signed-in users may do too.
            Identity::User(name) => {
                rule.users
                    .iter()
                    .any(|u| u == "*" || u == name || u == ANONYMOUS)
                    || rule.groups.iter().any(|g| {
                        self.groups
                            .get(g)
                            .is_some_and(|members| members.iter().any(|m| m == name))
                    })
            }
        }
    }
}

/// Glob matching for repository names: `*` matches within one path component, `**` across
/// components, `?` one character other than `/`; everything else is literal.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some(b'*') if p.get(1) == Some(&b'*') => {
                let rest = &p[2..];
                // `a/**` also matches `a` itself? No: `**` stands for one or more characters
                // or none; `team/**` matches everything under `team/`.
                (0..=n.len()).any(|i| go(rest, &n[i..]))
            }
            Some(b'*') => {
                let rest = &p[1..];
                let mut i = 0;
                loop {
                    if go(rest, &n[i..]) {
                        return true;
                    }
                    if i == n.len() || n[i] == b'/' {
                        return false;
                    }
                    i += 1;
                }
            }
            Some(b'?') => n.first().is_some_and(|&c| c != b'/') && go(&p[1..], &n[1..]),
            Some(&c) => n.first() == Some(&c) && go(&p[1..], &n[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn globs() {
        assert!(glob_match("team/*", "team/app"));
        assert!(!glob_match("team/*", "team/a/b"));
        assert!(glob_match("team/**", "team/a/b"));
        assert!(!glob_match("team/**", "other/a"));
        assert!(glob_match("**", "x/y/z"));
        assert!(glob_match("*/app", "team/app"));
        assert!(glob_match("app-?", "app-1"));
        assert!(!glob_match("app", "app2"));
    }

    fn rules(text: &str) -> Rules {
        let config = Config::parse(text).unwrap();
        config.check().unwrap();
        Rules::from_config(config.auth.as_ref().unwrap())
    }

    #[test]
    fn rules_grant_by_user_group_and_pattern() {
        let r = rules(
            r#"
[auth]
htpasswd = "x"
[auth.groups]
dev = ["bob"]
[[auth.rules]]
users = ["alice"]
repositories = ["**"]
actions = ["*"]
[[auth.rules]]
groups = ["dev"]
repositories = ["team/*"]
actions = ["pull", "push"]
[[auth.rules]]
users = ["anonymous"]
repositories = ["public/**"]
actions = ["pull"]
"#,
        );
        let alice = Identity::User("alice".into());
        let bob = Identity::User("bob".into());
        let anon = Identity::Anonymous;
        assert!(r.allows(&alice, "any/thing", Action::Delete));
        assert!(r.allows(&bob, "team/app", Action::Push));
        assert!(!r.allows(&bob, "team/app", Action::Delete));
        assert!(!r.allows(&bob, "other", Action::Pull));
        assert!(r.allows(&anon, "public/x", Action::Pull));
        assert!(!r.allows(&anon, "public/x", Action::Push));
        assert!(!r.allows(&anon, "team/app", Action::Pull));
        assert!(r.reads_anything(&anon));
    }

    #[test]
    fn without_rules_users_may_do_everything_and_anonymous_nothing() {
        let r = rules("[auth]\nhtpasswd = \"x\"\n");
        assert!(r.allows(&Identity::User("u".into()), "a", Action::Delete));
        assert!(!r.allows(&Identity::Anonymous, "a", Action::Pull));
        assert!(!r.reads_anything(&Identity::Anonymous));
        let r = rules("[auth]\nhtpasswd = \"x\"\nanonymous-pull = true\n");
        assert!(r.allows(&Identity::Anonymous, "a", Action::Pull));
        assert!(!r.allows(&Identity::Anonymous, "a", Action::Push));
    }
}
