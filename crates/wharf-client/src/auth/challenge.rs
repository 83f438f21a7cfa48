//! `WWW-Authenticate` challenges (RFC 9110 §11.6.1): `Basic realm="…"`,
//! `Bearer realm="…",service="…",scope="…"`, several in one header, quoted values holding
//! commas and escaped quotes.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lowercased: `basic`, `bearer`.
    pub scheme: String,
    /// Parameter names lowercased; values unquoted and unescaped.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Parses every challenge in one header value. Malformed trailing input is ignored: a
/// server's odd syntax must not hide the challenges it did get right.
pub fn parse(header: &str) -> Vec<Challenge> {
    let mut p = Parser {
        s: header.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        p.skip_while(|b| b == b',' || is_ws(b));
        let scheme = p.token();
        if scheme.is_empty() {
            break;
        }
        let mut challenge = Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params: BTreeMap::new(),
        };
        loop {
            p.skip_while(|b| b == b',' || is_ws(b));
            let start = p.i;
            let name = p.token();
            if name.is_empty() {
                // token68 (`Negotiate abc==`) or junk: skip to the next comma.
                p.skip_while(|b| b != b',');
                if p.at_end() {
                    break;
                }
                continue;
            }
            p.skip_while(is_ws);
            if p.peek() != Some(b'=') {
                // A bare token: the next challenge's scheme.
                p.i = start;
                break;
            }
            p.i += 1;
            if p.peek() == Some(b'=') || p.at_end() || p.peek() == Some(b',') {
                // `name=` followed by `=` or nothing is token68 padding, not a parameter.
                p.skip_while(|b| b == b'=');
                continue;
            }
            p.skip_while(is_ws);
            let value = if p.peek() == Some(b'"') {
                p.quoted()
            } else {
                p.token()
            };
            challenge.params.insert(name.to_ascii_lowercase(), value);
        }
        out.push(challenge);
        if p.at_end() {
            break;
        }
    }
    out
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/:".contains(&b)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_while(&mut self, f: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
    }

    fn token(&mut self) -> String {
        let start = self.i;
        self.skip_while(is_tchar);
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    /// A quoted-string after its opening quote; `\x` stands for `x`. An unterminated one
    /// runs to the end.
    fn quoted(&mut self) -> String {
        self.i += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(next) = self.peek() {
                        out.push(next);
                        self.i += 1;
                    }
                }
                _ => out.push(b),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(header: &str) -> Challenge {
        let mut all = parse(header);
        assert_eq!(all.len(), 1, "{header}: {all:?}");
        all.remove(0)
    }

    #[test]
    fn docker_hub_bearer() {
        let c = one(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull""#,
        );
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c.param("service"), Some("registry.docker.io"));
        assert_eq!(c.param("scope"), Some("repository:library/redis:pull"));
    }

    #[test]
    fn quoted_commas_and_escaped_quotes() {
        let c = one(
            r#"Bearer realm="https://a.example/token?x=1,2",scope="repository:a/b:pull,push", error="insufficient_scope", note="say \"hi\", \\ok""#,
        );
        assert_eq!(c.param("realm"), Some("https://a.example/token?x=1,2"));
        assert_eq!(c.param("scope"), Some("repository:a/b:pull,push"));
        assert_eq!(c.param("error"), Some("insufficient_scope"));
        assert_eq!(c.param("note"), Some(r#"say "hi", \ok"#));
    }

    #[test]
    fn basic_and_case_insensitivity() {
        let c = one(r#"BASIC Realm="Registry Realm""#);
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.param("realm"), Some("Registry Realm"));
        let c = one("Basic realm=unquoted , charset=UTF-8");
        assert_eq!(c.param("realm"), Some("unquoted"));
        assert_eq!(c.param("charset"), Some("UTF-8"));
        assert_eq!(one("Basic").params.len(), 0);
    }

    #[test]
    fn several_challenges_in_one_header() {
        let all = parse(
            r#"Negotiate abc==, Basic realm="x, y", Bearer realm="https://t.example/token",service=reg"#,
        );
        let schemes: Vec<_> = all.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["negotiate", "basic", "bearer"]);
        assert_eq!(all[1].param("realm"), Some("x, y"));
        assert_eq!(all[2].param("service"), Some("reg"));
    }

    #[test]
    fn junk_does_not_panic() {
        for h in [
            "",
            ",,,",
            "Bearer realm=\"unterminated",
            "Bearer =x",
            "Bearer realm=",
            "=",
            "\"",
            "Bearer realm=\"a\\",
        ] {
            let _ = parse(h);
        }
        assert_eq!(
            one("Bearer realm=\"unterminated").param("realm"),
            Some("unterminated")
        );
    }
}
