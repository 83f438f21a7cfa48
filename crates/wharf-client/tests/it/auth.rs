use std::sync::Arc;

use base64::Engine as _;
use wharf_client::{AuthFile, Client, ClientError, Credential, Secret, StaticCredentials};

use crate::support::fixtures::{config, push_image, random_image, reference};
use crate::support::registry::{Auth, Registry};
use crate::support::token::{TokenIssuer, ISSUER, REFRESH_TOKEN, SERVICE};

const USER: &str = "alice";
const PASSWORD: &str = "correct horse battery staple";

fn client_with(registry: &str, user: &str, password: &str) -> Client {
    let mut config = config();
    config.credentials = Arc::new(StaticCredentials::one(
        registry,
        Credential::basic(user, password),
    ));
    Client::new(config).unwrap()
}

fn anonymous() -> Client {
    Client::new(config()).unwrap()
}

/// A `401`. With `credentials` (the client had some), access was denied to them and
/// logging in is no remedy; without, the hint says to log in.
fn assert_unauthorized(
    err: &ClientError,
    registry: &str,
    secret: &str,
    credentials: bool,
) -> String {
    assert!(matches!(err, ClientError::Unauthorized { .. }), "{err:?}");
    let text = err.to_string();
    let start = if credentials {
        "access denied"
    } else {
        "unauthorized"
    };
    assert!(
        text.starts_with(start) && text.contains(&format!("`{registry}`")),
        "{text}"
    );
    assert!(
        !text.contains(secret) && !format!("{err:?}").contains(secret),
        "{text}"
    );
    let hint = err.hint().unwrap();
    assert_eq!(hint.contains("wharf login"), !credentials, "{text}: {hint}");
    text
}

#[tokio::test]
async fn htpasswd_basic_auth() {
    let registry = registry_or_skip!(Auth::Htpasswd {
        user: USER.into(),
        password: PASSWORD.into(),
    });
    let good = client_with(&registry.host, USER, PASSWORD);
    let img = random_image("linux/amd64", &[500], 7);
    let tagged = reference(&registry.host, "private/app:v1");
    push_image(&good, &tagged, &img).await;
    let resolved = good.resolve(&tagged).await.unwrap();
    assert_eq!(resolved.manifest.bytes(), img.manifest.bytes());
    good.ping(&registry.host).await.unwrap();
    assert_eq!(
        good.tags(&reference(&registry.host, "private/app"))
            .await
            .unwrap(),
        ["v1"]
    );

    let wrong = "not-the-password";
    let err = client_with(&registry.host, USER, wrong)
        .resolve(&tagged)
        .await
        .unwrap_err();
    let text = assert_unauthorized(&err, &registry.host, wrong, true);
    assert!(text.contains("did not accept the credentials"), "{text}");
    let err = client_with(&registry.host, USER, wrong)
        .ping(&registry.host)
        .await
        .unwrap_err();
    assert_unauthorized(&err, &registry.host, wrong, true);

    let err = anonymous().resolve(&tagged).await.unwrap_err();
    let text = assert_unauthorized(&err, &registry.host, PASSWORD, false);
    assert!(text.contains("no credentials were found"), "{text}");
}

#[tokio::test]
async fn credentials_come_from_a_docker_config_file() {
    let registry = registry_or_skip!(Auth::Htpasswd {
        user: USER.into(),
        password: PASSWORD.into(),
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    std::fs::write(
        &path,
        format!(
            r#"{{"auths":{{"http://{}/v1/":{{"auth":"{auth}"}}}}}}"#,
            registry.host
        ),
    )
    .unwrap();
    let mut config = config();
    config.credentials = Arc::new(AuthFile::new(&path));
    let client = Client::new(config).unwrap();
    let img = random_image("linux/amd64", &[100], 8);
    push_image(&client, &reference(&registry.host, "fromfile:v1"), &img).await;

    // Wrong credentials in the file: the error names the file, never the password.
    let bad = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:hunter2"));
    std::fs::write(
        &path,
        format!(r#"{{"auths":{{"{}":{{"auth":"{bad}"}}}}}}"#, registry.host),
    )
    .unwrap();
    let mut config = crate::support::fixtures::config();
    config.credentials = Arc::new(AuthFile::new(&path));
    let err = Client::new(config)
        .unwrap()
        .resolve(&reference(&registry.host, "fromfile:v1"))
        .await
        .unwrap_err();
    let text = assert_unauthorized(&err, &registry.host, "hunter2", true);
    assert!(text.contains(&path.display().to_string()), "{text}");
}

async fn token_registry(expires_in: u64, field: &str) -> Option<(TokenIssuer, Registry)> {
    crate::support::registry::binary()?;
    let issuer = TokenIssuer::start(USER, PASSWORD, expires_in, field).await;
    let registry = Registry::start(Auth::Token {
        realm: issuer.realm(),
        service: SERVICE.into(),
        issuer: ISSUER.into(),
        root_cert_pem: issuer.cert_pem.clone(),
    })?;
    Some((issuer, registry))
}

#[tokio::test]
async fn bearer_token_flow_against_distribution() {
    let Some((issuer, registry)) = token_registry(300, "token").await else {
        return;
    };
    let client = client_with(&registry.host, USER, PASSWORD);
    let img = random_image("linux/amd64", &[2000, 3000], 9);
    let tagged = reference(&registry.host, "secure/app:v1");
    if let Err(e) = client.ping(&registry.host).await {
        panic!("{e}\nregistry log:\n{}", registry.log());
    }
    push_image(&client, &tagged, &img).await;
    let pushes = issuer.issued();
    assert!(pushes >= 1);

    // The pull scope's token is fetched once and reused while it is fresh.
    let resolved = client.resolve(&tagged).await.unwrap();
    assert_eq!(resolved.manifest.bytes(), img.manifest.bytes());
    let config = client
        .fetch_blob_bytes(&tagged, &img.config_descriptor())
        .await
        .unwrap();
    assert_eq!(config, img.config);
    client.resolve(&tagged).await.unwrap();
    assert_eq!(issuer.issued(), pushes + 1, "one token for the pull scope");

    // The token request carried the service and the scope, and Basic credentials.
    let token_requests = issuer.server.requests();
    let last = token_requests.last().unwrap();
    assert_eq!(last.query("service"), [SERVICE]);
    assert_eq!(last.query("scope"), ["repository:secure/app:pull"]);
    assert!(last.header("authorization").unwrap().starts_with("Basic "));

    let wrong = "not-the-password";
    let err = client_with(&registry.host, USER, wrong)
        .resolve(&tagged)
        .await
        .unwrap_err();
    let text = assert_unauthorized(&err, &registry.host, wrong, true);
    assert!(text.contains("token server"), "{text}");

    // Anonymous: the issuer grants a token without access, the registry refuses it.
    let err = anonymous().resolve(&tagged).await.unwrap_err();
    let text = assert_unauthorized(&err, &registry.host, PASSWORD, false);
    assert!(text.contains("no credentials were found"), "{text}");
}

#[tokio::test]
async fn short_lived_access_tokens_are_renewed() {
    // `access_token` instead of `token`, living 3 s: under the renewal margin, so every
    // request gets a new one.
    let Some((issuer, registry)) = token_registry(3, "access_token").await else {
        return;
    };
    let client = client_with(&registry.host, USER, PASSWORD);
    let img = random_image("linux/amd64", &[10], 12);
    let tagged = reference(&registry.host, "short/app:v1");
    push_image(&client, &tagged, &img).await;
    let before = issuer.issued();
    client.resolve(&tagged).await.unwrap();
    client.resolve(&tagged).await.unwrap();
    assert_eq!(issuer.issued(), before + 2);
}

#[tokio::test]
async fn identity_tokens_use_the_oauth2_refresh_grant() {
    let Some((issuer, registry)) = token_registry(300, "access_token").await else {
        return;
    };
    let seeding = client_with(&registry.host, USER, PASSWORD);
    let img = random_image("linux/amd64", &[10], 13);
    let tagged = reference(&registry.host, "oauth/app:v1");
    push_image(&seeding, &tagged, &img).await;

    let identity = |token: &str| {
        let mut config = config();
        config.credentials = Arc::new(StaticCredentials::one(
            registry.host.clone(),
            Credential {
                username: String::new(),
                secret: Secret::IdentityToken(token.to_string()),
                source: "a test identity token".into(),
            },
        ));
        Client::new(config).unwrap()
    };
    let resolved = identity(REFRESH_TOKEN).resolve(&tagged).await.unwrap();
    assert_eq!(resolved.manifest.bytes(), img.manifest.bytes());
    let post = issuer
        .server
        .requests()
        .into_iter()
        .rfind(|r| r.method == "POST")
        .expect("a refresh-token POST");
    assert_eq!(post.form("grant_type"), ["refresh_token"]);
    assert_eq!(post.form("service"), [SERVICE]);
    assert_eq!(post.form("scope"), ["repository:oauth/app:pull"]);
    assert_eq!(post.header("authorization"), None);

    let err = identity("revoked").resolve(&tagged).await.unwrap_err();
    let text = assert_unauthorized(&err, &registry.host, "revoked", true);
    assert!(text.contains("a test identity token"), "{text}");
}
