//! A token issuer for distribution's `auth: token`: checks Basic credentials, grants the
//! scopes asked for, and signs JWTs (ES256, certificate in `x5c`) with a key whose
//! certificate the registry trusts through `rootcertbundle`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use crate::fake::{FakeServer, Reply};

pub const SERVICE: &str = "wharf-test-registry";
pub const ISSUER: &str = "wharf-test-issuer";
/// The OAuth2 refresh token (Docker's `identitytoken`) the issuer accepts.
pub const REFRESH_TOKEN: &str = "wharf-test-refresh-token";

pub struct TokenIssuer {
    pub server: FakeServer,
    pub cert_pem: String,
    issued: Arc<AtomicUsize>,
}

impl TokenIssuer {
    /// `expires_in` is what the answers announce; `field` is `token` or `access_token`.
    pub async fn start(user: &str, password: &str, expires_in: u64, field: &str) -> TokenIssuer {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["wharf-test-token-signer".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let cert_pem = cert.pem();
        let x5c = base64::engine::general_purpose::STANDARD.encode(cert.der());
        let signing =
            jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap();
        let expected =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let user = user.to_string();
        let field = field.to_string();
        let issued = Arc::new(AtomicUsize::new(0));
        let counter = issued.clone();
        let server = FakeServer::start("127.0.0.1", move |req| {
            if req.path() != "/token" {
                return Reply::new(404);
            }
            let refresh =
                (req.method == "POST").then(|| (req.form("grant_type"), req.form("refresh_token")));
            let authenticated = match (refresh, req.header("authorization")) {
                (Some((grant, token)), _) => {
                    if grant != ["refresh_token"] || token != [REFRESH_TOKEN] {
                        return Reply::new(401).body(r#"{"error":"invalid_grant"}"#);
                    }
                    true
                }
                (None, None) => false,
                (None, Some(v)) if v == format!("Basic {expected}") => true,
                (None, Some(_)) => {
                    return Reply::new(401)
                        .header("Content-Type", "application/json")
                        .body(r#"{"details":"incorrect username or password"}"#)
                }
            };
            let scopes = match req.method.as_str() {
                "POST" => req.form("scope"),
                _ => req.query("scope"),
            };
            let access: Vec<serde_json::Value> = if authenticated {
                scopes
                    .iter()
                    .flat_map(|s| s.split(' ').map(str::to_string).collect::<Vec<_>>())
                    .filter_map(|s| {
                        let mut parts = s.splitn(3, ':');
                        let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                        Some(serde_json::json!({
                            "type": kind,
                            "name": name,
                            "actions": actions.split(',').collect::<Vec<_>>(),
                        }))
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let claims = serde_json::json!({
                "iss": ISSUER,
                "sub": if authenticated { user.as_str() } else { "" },
                "aud": SERVICE,
                "exp": now + 600,
                "nbf": now - 60,
                "iat": now,
                "jti": format!("wharf-test-{n}"),
                "access": access,
            });
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
            header.x5c = Some(vec![x5c.clone()]);
            let jwt = jsonwebtoken::encode(&header, &claims, &signing).unwrap();
            Reply::new(200)
                .header("Content-Type", "application/json")
                .body(
                    serde_json::json!({ field.as_str(): jwt, "expires_in": expires_in })
                        .to_string(),
                )
        })
        .await;
        TokenIssuer {
            server,
            cert_pem,
            issued,
        }
    }

    pub fn realm(&self) -> String {
        format!("http://{}/token", self.server.host())
    }

    /// Tokens issued so far.
    pub fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }
}
