//! Auth through the real router: Basic (htpasswd) and bearer tokens from `/token`, against
//! access rules. The matrix: anonymous, a wrong password, a user without push, a user
//! without read on a mount's source, and a user allowed everything — for pull, push,
//! delete, mount and catalog. Refusals never tell a private repository from a missing one.

use base64::Engine as _;

use crate::harness::*;

/// alice: everything. bob (group `readers`): pull in `team/**` and `public/**`.
/// carol: pull and push in `carol/**` only. anonymous: pull in `public/**`.
const RULES: &str = r#"
[auth.groups]
readers = ["bob"]
[[auth.rules]]
users = ["alice"]
repositories = ["**"]
actions = ["*"]
[[auth.rules]]
groups = ["readers"]
repositories = ["team/**", "public/**"]
actions = ["pull"]
[[auth.rules]]
users = ["carol"]
repositories = ["carol/**"]
actions = ["pull", "push"]
[[auth.rules]]
users = ["anonymous"]
repositories = ["public/**"]
actions = ["pull"]
"#;

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

const ALICE: (&str, &str) = ("alice", "alice-pw");
const BOB: (&str, &str) = ("bob", "bob-pw");
const CAROL: (&str, &str) = ("carol", "carol-pw");

async fn registry(token: bool) -> Harness {
    let token = if token { "[auth.token]\n" } else { "" };
    Harness::with_auth(
        &format!("[auth]\nhtpasswd = \"htpasswd\"\n{token}{RULES}"),
        &[ALICE, BOB, CAROL],
    )
    .await
}

/// Content to be refused or allowed: `team/app:v1`, `secret/app:v1` (alice only) and
/// `public/app:v1`; the blob `shared layer` is in the first two.
async fn seed(h: &Harness, auth: &str) {
    let headers = [("authorization", auth)];
    for repo in ["team/app", "secret/app", "public/app"] {
        h.push_image_as(repo, "v1", repo, &headers).await;
    }
    for repo in ["team/app", "secret/app"] {
        h.push_blob_as(repo, b"shared layer", &headers).await;
    }
}

struct Expect {
    pull: u16,
    pull_missing: u16,
    push: u16,
    delete: u16,
    mount_secret: u16,
}

async fn check(h: &Harness, who: &str, auth: Option<&str>, repo: &str, e: Expect) {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
    let r = h
        .send("GET", &format!("/v2/{repo}/manifests/v1"), &headers, b"")
        .await;
    assert_eq!(r.status, e.pull, "{who}: pull {repo}");
    // A repository that does not exist gets the same answer as a private one.
    let missing = format!("{}-missing", repo);
    let r2 = h
        .send("GET", &format!("/v2/{missing}/manifests/v1"), &headers, b"")
        .await;
    assert_eq!(r2.status, e.pull_missing, "{who}: pull {missing}");
    if r.status != 200 && r.status == r2.status {
        assert_eq!(
            r.code(),
            r2.code(),
            "{who}: same code for private and missing"
        );
    }
    let blob = b"pushed by the matrix";
    let r = h
        .send(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/?digest={}", sha256(blob)),
            &headers,
            blob,
        )
        .await;
    assert_eq!(r.status, e.push, "{who}: push {repo}");
    let r = h
        .send("DELETE", &format!("/v2/{repo}/manifests/v1"), &headers, b"")
        .await;
    assert_eq!(r.status, e.delete, "{who}: delete {repo}");
    let digest = sha256(b"shared layer");
    let r = h
        .send(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/?mount={digest}&from=secret/app"),
            &headers,
            b"",
        )
        .await;
    assert_eq!(
        r.status, e.mount_secret,
        "{who}: mount from secret/app into {repo}"
    );
    match r.status {
        401 => assert_eq!(r.code(), "UNAUTHORIZED"),
        403 => assert_eq!(r.code(), "DENIED"),
        _ => {}
    }
}

fn catalog(reply: &Reply) -> Vec<String> {
    reply.json()["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn basic_auth_matrix() {
    let h = registry(false).await;
    let alice = basic(ALICE.0, ALICE.1);
    seed(&h, &alice).await;

    // /v2/ asks for credentials, and refuses wrong ones.
    let r = h.get("/v2/").await.error(401, "UNAUTHORIZED");
    assert_eq!(r.header("www-authenticate"), "Basic realm=\"wharf\"");
    h.send("GET", "/v2/", &[("authorization", &alice)], b"")
        .await
        .expect(200);
    let wrong = basic("alice", "nope");
    h.send("GET", "/v2/", &[("authorization", &wrong)], b"")
        .await
        .error(401, "UNAUTHORIZED");

    // Anonymous: public pulls only; a private repository looks like a missing one (401).
    check(
        &h,
        "anonymous",
        None,
        "team/app",
        Expect {
            pull: 401,
            pull_missing: 401,
            push: 401,
            delete: 401,
            mount_secret: 401,
        },
    )
    .await;
    check(
        &h,
        "anonymous",
        None,
        "public/app",
        Expect {
            pull: 200,
            pull_missing: 404,
            push: 401,
            delete: 401,
            mount_secret: 401,
        },
    )
    .await;
    // A wrong password is refused everywhere, even where anonymous may read.
    check(
        &h,
        "wrong password",
        Some(&wrong),
        "public/app",
        Expect {
            pull: 401,
            pull_missing: 401,
            push: 401,
            delete: 401,
            mount_secret: 401,
        },
    )
    .await;
    // bob reads team/ but may not push or delete; secret/ is as closed as a missing name.
    let bob = basic(BOB.0, BOB.1);
    check(
        &h,
        "bob",
        Some(&bob),
        "team/app",
        Expect {
            pull: 200,
            pull_missing: 404,
            push: 403,
            delete: 403,
            mount_secret: 403,
        },
    )
    .await;
    check(
        &h,
        "bob",
        Some(&bob),
        "secret/app",
        Expect {
            pull: 403,
            pull_missing: 403,
            push: 403,
            delete: 403,
            mount_secret: 403,
        },
    )
    .await;
    // carol may push to carol/ but not read secret/: the mount is a plain upload (202).
    let carol = basic(CAROL.0, CAROL.1);
    check(
        &h,
        "carol",
        Some(&carol),
        "carol/app",
        Expect {
            pull: 404,
            pull_missing: 404,
            push: 201,
            delete: 403,
            mount_secret: 202,
        },
    )
    .await;
    let digest = sha256(b"shared layer");
    // Without `from`, a blob only in repositories carol cannot read is not mounted either.
    h.send(
        "POST",
        &format!("/v2/carol/app/blobs/uploads/?mount={digest}"),
        &[("authorization", &carol)],
        b"",
    )
    .await
    .expect(202);
    h.send(
        "HEAD",
        &format!("/v2/carol/app/blobs/{digest}"),
        &[("authorization", &carol)],
        b"",
    )
    .await
    .expect(404);
    // alice may do everything, mounts included.
    check(
        &h,
        "alice",
        Some(&alice),
        "team/app",
        Expect {
            pull: 200,
            pull_missing: 404,
            push: 201,
            delete: 202,
            mount_secret: 201,
        },
    )
    .await;

    // The catalog lists what the caller may read, and nothing else.
    let r = h.get("/v2/_catalog").await.expect(200);
    assert_eq!(catalog(&r), ["public/app"]);
    let r = h
        .send("GET", "/v2/_catalog", &[("authorization", &bob)], b"")
        .await
        .expect(200);
    assert_eq!(catalog(&r), ["public/app", "team/app"]);
    let r = h
        .send("GET", "/v2/_catalog?n=1", &[("authorization", &bob)], b"")
        .await
        .expect(200);
    assert_eq!(catalog(&r), ["public/app"]);
    assert!(r.has_header("link"));
    let r = h
        .send("GET", "/v2/_catalog", &[("authorization", &alice)], b"")
        .await
        .expect(200);
    assert_eq!(
        catalog(&r),
        ["carol/app", "public/app", "secret/app", "team/app"]
    );
    h.send("GET", "/v2/_catalog", &[("authorization", &wrong)], b"")
        .await
        .error(401, "UNAUTHORIZED");
}

/// Gets a token from `/token` as `user` (or anonymously) for `scopes`.
async fn token(h: &Harness, user: Option<(&str, &str)>, scopes: &[&str]) -> Reply {
    let query: Vec<String> = scopes.iter().map(|s| format!("scope={s}")).collect();
    let uri = format!("/token?service=wharf&{}", query.join("&"));
    let auth = user.map(|(u, p)| basic(u, p));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    h.send("GET", &uri, &headers, b"").await
}

async fn bearer(h: &Harness, user: Option<(&str, &str)>, scopes: &[&str]) -> String {
    let r = token(h, user, scopes).await.expect(200);
    format!("Bearer {}", r.json()["token"].as_str().unwrap())
}

#[tokio::test]
async fn bearer_tokens_carry_what_the_rules_grant() {
    let h = registry(true).await;
    seed(&h, &basic(ALICE.0, ALICE.1)).await;

    // The challenge names the token endpoint on the address the server listens on (not
    // the `Host` a caller sent: a forged one would collect passwords), the service and the
    // scope.
    let r = h
        .send("GET", "/v2/", &[("host", "evil.example")], b"")
        .await
        .error(401, "UNAUTHORIZED");
    assert_eq!(
        r.header("www-authenticate"),
        format!("Bearer realm=\"http://{LISTENING}/token\",service=\"wharf\"")
    );
    let r = h
        .get("/v2/team/app/manifests/v1")
        .await
        .error(401, "UNAUTHORIZED");
    assert!(r
        .header("www-authenticate")
        .ends_with(",scope=\"repository:team/app:pull\""));

    // A wrong password gets no token at all.
    token(&h, Some(("alice", "nope")), &["repository:team/app:pull"])
        .await
        .error(401, "UNAUTHORIZED");

    // alice's token works for what it names, and only that.
    let alice = bearer(&h, Some(ALICE), &["repository:team/app:pull,push,delete"]).await;
    h.send("GET", "/v2/", &[("authorization", &alice)], b"")
        .await
        .expect(200);
    h.send(
        "GET",
        "/v2/team/app/manifests/v1",
        &[("authorization", &alice)],
        b"",
    )
    .await
    .expect(200);
    let r = h
        .send(
            "GET",
            "/v2/secret/app/manifests/v1",
            &[("authorization", &alice)],
            b"",
        )
        .await
        .error(401, "UNAUTHORIZED");
    assert!(r
        .header("www-authenticate")
        .contains("error=\"insufficient_scope\""));

    // bob asks for push and is granted pull only: his push is denied.
    let r = token(&h, Some(BOB), &["repository:team/app:pull,push"])
        .await
        .expect(200);
    assert!(r.json()["expires_in"].as_u64().unwrap() > 0);
    let bob = format!("Bearer {}", r.json()["token"].as_str().unwrap());
    h.send(
        "GET",
        "/v2/team/app/manifests/v1",
        &[("authorization", &bob)],
        b"",
    )
    .await
    .expect(200);
    let blob = b"bob's blob";
    h.send(
        "POST",
        &format!("/v2/team/app/blobs/uploads/?digest={}", sha256(blob)),
        &[("authorization", &bob)],
        blob,
    )
    .await
    .error(403, "DENIED");

    // Anonymous tokens read public repositories only.
    let anon = bearer(
        &h,
        None,
        &["repository:public/app:pull", "repository:team/app:pull"],
    )
    .await;
    h.send(
        "GET",
        "/v2/public/app/manifests/v1",
        &[("authorization", &anon)],
        b"",
    )
    .await
    .expect(200);
    h.send(
        "GET",
        "/v2/team/app/manifests/v1",
        &[("authorization", &anon)],
        b"",
    )
    .await
    .error(401, "UNAUTHORIZED");

    // The catalog needs `registry:catalog:*` in the token, then lists what the user reads.
    let r = h
        .send("GET", "/v2/_catalog", &[("authorization", &bob)], b"")
        .await
        .error(401, "UNAUTHORIZED");
    assert!(r
        .header("www-authenticate")
        .contains("scope=\"registry:catalog:*\""));
    let bob = bearer(&h, Some(BOB), &["registry:catalog:*"]).await;
    let r = h
        .send("GET", "/v2/_catalog", &[("authorization", &bob)], b"")
        .await
        .expect(200);
    assert_eq!(catalog(&r), ["public/app", "team/app"]);

    // A forged or tampered token is refused.
    let forged = format!("{alice}x");
    h.send(
        "GET",
        "/v2/team/app/manifests/v1",
        &[("authorization", &forged)],
        b"",
    )
    .await
    .error(401, "UNAUTHORIZED");

    // The OAuth2 password grant (POST) works as well.
    let r = h
        .send(
            "POST",
            "/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            b"grant_type=password&username=alice&password=alice-pw&service=wharf&scope=repository%3Ateam%2Fapp%3Apull",
        )
        .await
        .expect(200);
    let t = format!("Bearer {}", r.json()["access_token"].as_str().unwrap());
    h.send(
        "GET",
        "/v2/team/app/manifests/v1",
        &[("authorization", &t)],
        b"",
    )
    .await
    .expect(200);
    h.send(
        "POST",
        "/token",
        &[("content-type", "application/x-www-form-urlencoded")],
        b"grant_type=password&username=alice&password=wrong&service=wharf",
    )
    .await
    .error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn without_auth_there_is_no_token_endpoint() {
    let h = Harness::new().await;
    h.get("/token?service=wharf").await.expect(404);
}

/// How long one refused request takes. Callers keep the fastest of several: other work
/// on the machine only ever adds time, so the minimum is what the request itself costs.
async fn timed_refusal(
    h: &Harness,
    method: &str,
    uri: &str,
    auth: Option<&str>,
    body: &str,
) -> std::time::Duration {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
    let started = std::time::Instant::now();
    h.send(method, uri, &headers, body.as_bytes())
        .await
        .error(401, "UNAUTHORIZED");
    started.elapsed()
}

/// An unknown user costs a bcrypt verification like a wrong password, on `/v2/` and on the
/// token endpoint (both of its forms): the answer's timing does not tell who exists.
#[tokio::test]
async fn unknown_users_take_as_long_as_wrong_passwords() {
    // A real cost, so bcrypt (tens of milliseconds) dwarfs everything else a request does.
    let h = Harness::with_auth_at_cost(
        "[auth]\nhtpasswd = \"htpasswd\"\n[auth.token]\n",
        &[ALICE],
        9,
    )
    .await;
    let wrong = basic(ALICE.0, "wrong");
    let unknown = basic("mallory", "wrong");
    let form = |user: &str| format!("grant_type=password&username={user}&password=wrong");
    // (method, uri, then the Authorization header and body of a wrong password, then of
    // an unknown user)
    let cases = [
        (
            "GET",
            "/v2/",
            Some(&wrong),
            String::new(),
            Some(&unknown),
            String::new(),
        ),
        (
            "GET",
            "/token?service=wharf",
            Some(&wrong),
            String::new(),
            Some(&unknown),
            String::new(),
        ),
        ("POST", "/token", None, form(ALICE.0), None, form("mallory")),
    ];
    for (method, uri, known_auth, known_body, nobody_auth, nobody_body) in cases {
        // Interleaved, so load on the machine falls on both alike; the minimum of each.
        let (mut known, mut nobody) = (std::time::Duration::MAX, std::time::Duration::MAX);
        for _ in 0..5 {
            let k = timed_refusal(&h, method, uri, known_auth.map(String::as_str), &known_body);
            known = known.min(k.await);
            let n = timed_refusal(
                &h,
                method,
                uri,
                nobody_auth.map(String::as_str),
                &nobody_body,
            );
            nobody = nobody.min(n.await);
        }
        assert!(
            nobody.as_secs_f64() >= 0.5 * known.as_secs_f64(),
            "{method} {uri}: an unknown user took {nobody:?}, a wrong password {known:?}"
        );
    }
}

/// A configured realm is what the challenge names, whatever `Host` the request carries.
#[tokio::test]
async fn the_configured_realm_is_announced_whatever_the_host() {
    let h = Harness::with_auth(
        "[auth]\nhtpasswd = \"htpasswd\"\n[auth.token]\nrealm = \"https://auth.example.com/token\"\n",
        &[ALICE],
    )
    .await;
    let r = h
        .send(
            "GET",
            "/v2/app/manifests/v1",
            &[("host", "evil.example")],
            b"",
        )
        .await
        .error(401, "UNAUTHORIZED");
    assert_eq!(
        r.header("www-authenticate"),
        "Bearer realm=\"https://auth.example.com/token\",service=\"wharf\",scope=\"repository:app:pull\""
    );
}
