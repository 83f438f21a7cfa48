//! The web pages of `wharf serve`: what each viewer sees (auth as the API's), the layer
//! analysis and sharing with exact numbers, the file browser and downloads, deleting a
//! tag — over plain HTTP, then in a real browser (headless Chromium over WebDriver), which
//! also writes the screenshots the README shows.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use wharf_testkit::browser::Browser;
use wharf_testkit::cli::*;
use wharf_testkit::fixtures::*;

use crate::pull::block_on;
use crate::serve::Server;
use crate::serve_auth::{basic, htpasswd, ALICE, BOB};

/// A registry holding:
/// - `team/app:1.0` and `team/app:2.0`: [`wasteful_image`] (its numbers are known);
/// - `secret/db:latest`: an image on the same first layer (so it shares it with team/app);
/// - `public/tool:latest` with a signature referring to it;
/// - `team/multi:latest`: an index of two platforms.
///
/// Served with auth: alice may do everything; bob may pull `team/**` and `public/**`;
/// anonymous callers may pull `public/**`.
struct Site {
    w: Wharf,
    server: Server,
    /// `wharf serve`'s arguments, to start it again.
    args: Vec<String>,
    app: String,
    tool: String,
    multi: String,
}

fn site(extra_args: &[&str]) -> Site {
    site_on(extra_args, None)
}

/// [`site`], with its metadata in PostgreSQL at `database` (else SQLite in the root).
fn site_on(extra_args: &[&str], database: Option<&str>) -> Site {
    let w = Wharf::new();
    let root = w.path("registry");
    let mut open_args = vec!["--root", s(&root)];
    if let Some(url) = database {
        open_args.extend(["--database", url]);
    }
    let open = Server::start_with(&open_args);
    let client = client();
    let app = wasteful_image();
    let shared_base = Layer::gzip(app.layers[0].tar.clone());
    let db = image("db", vec![shared_base, layer(&[("db.conf", b"secret")])]);
    let tool = image(
        "tool",
        vec![layer(&[("bin/tool", b"#!/bin/sh\necho tool\n")])],
    );
    let (amd, arm) = (
        image_for("amd64", "multi", vec![layer(&[("m", b"amd64")])]),
        image_for("arm64", "multi", vec![layer(&[("m", b"arm64")])]),
    );
    let (app_top, tool_top, multi_top) = block_on(async {
        let app_top = push_image(&client, &reference(&open.host, "team/app:1.0"), &app).await;
        push_image(&client, &reference(&open.host, "team/app:2.0"), &app).await;
        push_image(&client, &reference(&open.host, "secret/db:latest"), &db).await;
        let tool_top =
            push_image(&client, &reference(&open.host, "public/tool:latest"), &tool).await;
        let signature = artifact(&tool_top, "application/vnd.example.signature", b"signed");
        push_image(
            &client,
            &reference(
                &open.host,
                &format!("public/tool@{}", signature.manifest.digest()),
            ),
            &signature,
        )
        .await;
        let multi = index(&[("linux/amd64", &amd), ("linux/arm64", &arm)]);
        let multi_top =
            push_index(&client, &reference(&open.host, "team/multi:latest"), &multi).await;
        (app_top, tool_top, multi_top)
    });
    drop(open);
    let config = auth_config(&w, &root);
    let mut args = vec!["--config", s(&config)];
    if let Some(url) = database {
        args.extend(["--database", url]);
    }
    args.extend_from_slice(extra_args);
    let server = Server::start_with(&args);
    let args = args.iter().map(|a| a.to_string()).collect();
    Site {
        w,
        server,
        args,
        app: app_top.digest.to_string(),
        tool: tool_top.digest.to_string(),
        multi: multi_top.digest.to_string(),
    }
}

fn auth_config(w: &Wharf, root: &Path) -> PathBuf {
    htpasswd(w);
    w.write(
        "session.key",
        b"a session secret of 32 bytes or more, for tests",
    );
    w.write(
        "registry.toml",
        format!(
            r#"root = "{}"
[auth]
htpasswd = "htpasswd"
session-key = "session.key"
[[auth.rules]]
users = ["alice"]
repositories = ["**"]
actions = ["*"]
[[auth.rules]]
users = ["bob"]
repositories = ["team/**", "public/**"]
actions = ["pull"]
[[auth.rules]]
users = ["anonymous"]
repositories = ["public/**"]
actions = ["pull"]
"#,
            s(root)
        )
        .as_bytes(),
    )
}

/// One HTTP/1.1 request: (status, head with lower-case header names, body).
fn request(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, Vec<u8>) {
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head: String = String::from_utf8_lossy(&raw[..split])
        .lines()
        .map(|line| match line.split_once(": ") {
            Some((name, value)) => format!("{}: {value}\r\n", name.to_lowercase()),
            None => format!("{line}\r\n"),
        })
        .collect();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = unchunk(&body);
    }
    (status, head, body)
}

fn unchunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).unwrap().trim(), 16)
            .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[line_end + 2..line_end + 2 + size]);
        raw = &raw[line_end + 2 + size + 2..];
    }
}

/// A page as `who` (None: anonymous): (status, HTML).
fn page(site: &Site, path: &str, who: Option<(&str, &str)>) -> (u16, String) {
    let auth = who.map(basic);
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let (status, _, body) = request(&site.server.host, "GET", path, &headers, "");
    (status, String::from_utf8(body).unwrap())
}

fn image_path(name: &str, digest: &str) -> String {
    format!("/r/{name}/-/image/{digest}")
}

#[test]
fn every_viewer_sees_only_what_they_may_read() {
    let site = site(&[]);
    let (status, home) = page(&site, "/", None);
    assert_eq!(status, 200, "{home}");
    assert!(home.contains("public/tool"), "{home}");
    assert!(
        !home.contains("team/") && !home.contains("secret"),
        "{home}"
    );
    // Registry-wide numbers are for identified users.
    assert!(!home.contains("id=\"totals\""), "{home}");

    let (_, home) = page(&site, "/", Some(BOB));
    assert!(
        home.contains("team/app") && home.contains("team/multi") && home.contains("public/tool")
    );
    assert!(!home.contains("secret"), "{home}");
    assert!(home.contains("id=\"totals\""), "{home}");
    let (_, found) = page(&site, "/?q=APP", Some(BOB));
    assert!(
        found.contains("team/app") && !found.contains("public/tool"),
        "{found}"
    );
    let (_, found) = page(&site, "/?q=db", Some(BOB));
    assert!(
        !found.contains("secret") && found.contains("id=\"empty\""),
        "{found}"
    );
    let (_, home) = page(&site, "/", Some(ALICE));
    assert!(home.contains("secret/db"), "{home}");

    // A hidden repository is "not found", word for word as one that does not exist.
    let (hidden_status, hidden) = page(&site, "/r/secret/db", Some(BOB));
    let (missing_status, missing) = page(&site, "/r/no/such", Some(BOB));
    assert_eq!((hidden_status, missing_status), (404, 404));
    let problem = |html: &str| {
        html.split("id=\"problem\"")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(problem(&hidden), problem(&missing));
    assert!(!hidden.contains("secret"), "{hidden}");
    let (status, _) = page(&site, "/r/team/app", None);
    assert_eq!(status, 404);

    // Sharing names only what the viewer may read: alice sees secret/db use team/app's
    // first layer; bob's page of the same image never names it.
    let app = image_path("team/app", &site.app);
    let (_, as_alice) = page(&site, &app, Some(ALICE));
    assert!(as_alice.contains("secret/db:latest"), "{as_alice}");
    let (status, as_bob) = page(&site, &app, Some(BOB));
    assert_eq!(status, 200);
    assert!(!as_bob.contains("secret"), "{as_bob}");
    let (status, _) = page(&site, &image_path("secret/db", &site.app), Some(BOB));
    assert_eq!(status, 404);
    // Wrong credentials are refused, not taken as anonymous.
    let (status, _) = page(&site, "/", Some(("bob", "wrong")));
    assert_eq!(status, 401);
}

#[test]
fn the_image_page_shows_the_analysis_sharing_and_referrers() {
    let site = site(&[]);
    let (status, html) = page(&site, &image_path("team/app", &site.app), Some(ALICE));
    assert_eq!(status, 200, "{html}");
    // wasteful_image: wasted 100042 bytes, efficiency 100072 / 200115.
    assert!(html.contains("<b id=\"wasted\">100.0 kB</b>"), "{html}");
    assert!(html.contains("<b id=\"efficiency\">50.0 %</b>"), "{html}");
    assert_eq!(html.matches("<tr class=\"layer\">").count(), 3);
    // Both tags, the platform, and each layer's two digests side by side.
    assert!(
        html.contains("<code class=\"tag\">1.0</code>")
            && html.contains("<code class=\"tag\">2.0</code>")
    );
    assert!(html.contains("id=\"platform\">linux/amd64<"), "{html}");
    let image = wasteful_image();
    for (layer, diff_id) in image.layers.iter().zip(image.diff_ids()) {
        let digest = layer.descriptor().digest.to_string();
        assert!(html.contains(&format!("title=\"{digest}\"")), "{digest}");
        assert!(html.contains(&format!("title=\"{diff_id}\"")), "{diff_id}");
    }
    // The first layer is also secret/db's: one image in one repository, its size saved.
    let first_size = image.layers[0].blob.len() as u64;
    assert!(html.contains("1 image in 1 repository"), "{html}");
    assert!(
        html.contains(&format!(" · saves {}", human(first_size))),
        "{html}"
    );

    // An image with a signature shows it as a referrer; an index lists its platforms.
    let (_, tool) = page(&site, &image_path("public/tool", &site.tool), None);
    assert!(tool.contains("application/vnd.example.signature"), "{tool}");
    let (_, multi) = page(&site, &image_path("team/multi", &site.multi), Some(BOB));
    assert!(
        multi.contains("linux/amd64") && multi.contains("linux/arm64"),
        "{multi}"
    );
    assert_eq!(multi.matches("class=\"platform\"").count(), 2, "{multi}");
    // The repository page: tags with digest, platform and size.
    let (_, tags) = page(&site, "/r/team/app", Some(BOB));
    assert_eq!(tags.matches("class=\"tag\"").count(), 2, "{tags}");
    assert!(tags.contains("linux/amd64"), "{tags}");
    assert!(
        !tags.contains("class=\"delete\""),
        "bob may not delete: {tags}"
    );
    let (_, tags) = page(&site, "/r/team/app", Some(ALICE));
    assert_eq!(tags.matches("class=\"delete\"").count(), 2, "{tags}");
}

/// `render::size` of the pages.
fn human(bytes: u64) -> String {
    if bytes < 1000 {
        format!("{bytes} B")
    } else {
        format!("{:.1} kB", bytes as f64 / 1000.0)
    }
}

#[test]
fn files_are_browsed_merged_or_per_layer_and_downloaded_whole() {
    let site = site(&[]);
    let files = |query: &str| {
        page(
            &site,
            &format!("{}/files?{query}", image_path("team/app", &site.app)),
            Some(BOB),
        )
    };
    let (status, root) = files("path=%2F");
    assert_eq!(status, 200, "{root}");
    for shown in [">dir/<", ">keep<", ">new<", ">sl<", ">hl<"] {
        assert!(root.contains(shown), "{shown} in {root}");
    }
    assert!(!root.contains(">big<"), "removed by layer 1: {root}");
    assert!(
        root.contains("file?path=%2Fsl\""),
        "a symlink opens its target: {root}"
    );
    let (_, dir) = files("path=%2Fdir");
    assert!(
        dir.contains(">c<") && !dir.contains(">a<"),
        "opaque in layer 1: {dir}"
    );
    // Layer 1 alone: its whiteout and its opaque marker.
    let (_, layer) = files("path=%2F&layer=1");
    assert!(layer.contains("big (removed)"), "{layer}");
    let (_, layer_dir) = files("path=%2Fdir&layer=1");
    assert!(
        layer_dir.contains(".wh..wh..opq (opaque directory)"),
        "{layer_dir}"
    );
    let (status, _) = files("path=%2Fnowhere");
    assert_eq!(status, 404);

    let download = |query: &str| {
        let auth = basic(BOB);
        let path = format!("{}/file?{query}&raw=1", image_path("team/app", &site.app));
        request(
            &site.server.host,
            "GET",
            &path,
            &[("Authorization", &auth)],
            "",
        )
    };
    let (status, head, body) = download("path=%2Fdir%2Fc");
    assert_eq!(status, 200);
    assert_eq!(body, vec![3u8; 30]);
    assert!(
        head.contains("content-disposition: attachment; filename=\"c\""),
        "{head}"
    );
    assert!(
        head.contains("content-type: application/octet-stream"),
        "{head}"
    );
    // A hard link is followed inside the image; a symlink too, and `sl` names `dir/a`,
    // which layer 1's opaque `dir` hid.
    assert_eq!(download("path=%2Fhl").2, b"keep!");
    let (status, _, body) = download("path=%2Fsl");
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("`/dir/a` is not in the image"));
    // Layer 0 still holds what layer 1 removed.
    assert_eq!(download("path=%2Fbig&layer=0").2, vec![7u8; 100_000]);
    assert_eq!(download("path=%2Fbig").0, 404);
    // A text file's page shows it.
    let (_, text) = page(
        &site,
        &format!("{}/file?path=%2Fnew", image_path("team/app", &site.app)),
        Some(BOB),
    );
    assert!(
        text.contains("<pre id=\"content\">12345678</pre>"),
        "{text}"
    );
}

#[test]
fn tags_are_deleted_only_by_users_allowed_to_and_only_from_these_pages() {
    let site = site(&[]);
    let host = site.server.host.clone();
    let manifest = |tag: &str| {
        let auth = basic(ALICE);
        request(
            &host,
            "GET",
            &format!("/v2/team/app/manifests/{tag}"),
            &[("Authorization", &auth)],
            "",
        )
        .0
    };
    let (alice, bob) = (basic(ALICE), basic(BOB));
    let origin = format!("http://{host}");
    let delete = "/r/team/app/-/tag/2.0/delete";
    let (status, _, body) = request(
        &host,
        "POST",
        delete,
        &[("Authorization", &bob), ("Origin", &origin)],
        "",
    );
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("`bob` may not delete tags in `team/app`"));
    assert_eq!(manifest("2.0"), 200);
    // A form posted from another site is refused, whoever's credentials the browser sends.
    let (status, _, _) = request(
        &host,
        "POST",
        delete,
        &[("Authorization", &alice), ("Origin", "http://evil.example")],
        "",
    );
    assert_eq!(status, 403);
    assert_eq!(manifest("2.0"), 200);
    let (status, head, _) = request(
        &host,
        "POST",
        delete,
        &[("Authorization", &alice), ("Origin", &origin)],
        "",
    );
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("location: /r/team/app"), "{head}");
    assert_eq!(manifest("2.0"), 404);
    assert_eq!(manifest("1.0"), 200, "the other tag stays");
}

#[test]
fn logins_are_cookies_that_end_with_logout() {
    let site = site(&[]);
    let host = site.server.host.clone();
    let origin = format!("http://{host}");
    let form = "username=bob&password=wrong&next=%2Fr%2Fteam%2Fapp";
    let (status, head, _) = request(&host, "POST", "/-/login", &[("Origin", &origin)], form);
    assert_eq!(status, 401);
    assert!(!head.contains("set-cookie"), "{head}");
    let form = format!("username=bob&password={}&next=%2Fr%2Fteam%2Fapp", BOB.1);
    let (status, head, _) = request(&host, "POST", "/-/login", &[("Origin", &origin)], &form);
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("location: /r/team/app"), "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    let (status, _, body) = request(&host, "GET", "/r/team/app", &[("Cookie", &pair)], "");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("<span id=\"user\">bob</span>"));
    // A forged cookie is nobody.
    let forged = format!("{pair}x");
    assert_eq!(
        request(&host, "GET", "/r/team/app", &[("Cookie", &forged)], "").0,
        404
    );
    // A login form may only send the browser back to this site.
    let form = format!("username=bob&password={}&next=%2F%2Fevil.example%2F", BOB.1);
    let (_, head, _) = request(&host, "POST", "/-/login", &[("Origin", &origin)], &form);
    assert!(head.contains("location: /\r\n"), "{head}");
    let (status, head, _) = request(
        &host,
        "POST",
        "/-/logout",
        &[("Cookie", &pair), ("Origin", &origin)],
        "",
    );
    assert_eq!(status, 303);
    assert!(head.contains("Max-Age=0"), "{head}");
}

/// The pages' queries (search with `LIKE ... ESCAPE`, tag counts, blob users, totals) on
/// PostgreSQL as on SQLite.
#[test]
fn the_pages_read_postgres_metadata() {
    let Some(pg) = wharf_testkit::postgres::Postgres::start() else {
        return;
    };
    let url = pg.new_database();
    let site = site_on(&[], Some(&url));
    let (status, home) = page(&site, "/", Some(ALICE));
    assert_eq!(status, 200, "{home}");
    assert_eq!(home.matches("class=\"repo\"").count(), 4, "{home}");
    assert!(home.contains("id=\"totals\""), "{home}");
    let (_, found) = page(&site, "/?q=_", Some(ALICE));
    assert!(
        found.contains("id=\"empty\""),
        "`_` is no wildcard: {found}"
    );
    let (_, found) = page(&site, "/?q=app", Some(ALICE));
    assert_eq!(found.matches("class=\"repo\"").count(), 1, "{found}");
    let (_, tags) = page(&site, "/r/team/app", Some(ALICE));
    assert_eq!(tags.matches("class=\"tag\"").count(), 2, "{tags}");
    let (status, html) = page(&site, &image_path("team/app", &site.app), Some(ALICE));
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<b id=\"efficiency\">50.0 %</b>"), "{html}");
    assert!(html.contains("secret/db:latest"), "{html}");
}

/// A file's download streams its layer again; a layer that no longer matches its digest
/// (damaged on disk after the image was first read) leaves the download short of its
/// `Content-Length`: the last bytes are only sent once the layer has passed.
#[test]
fn a_download_from_a_damaged_layer_is_cut_short() {
    let site = site(&[]);
    let app = image_path("team/app", &site.app);
    assert_eq!(
        page(&site, &app, Some(ALICE)).0,
        200,
        "the image is read whole once"
    );
    let layer = wasteful_image().layers[0].descriptor().digest;
    let blob = site.w.path("registry/blobs/sha256").join(layer.hex());
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff; // the gzip trailer: the content inflates, the digest fails
    std::fs::write(&blob, bytes).unwrap();
    let auth = basic(ALICE);
    let (status, head, body) = request(
        &site.server.host,
        "GET",
        &format!("{app}/file?path=%2Fbig&layer=0&raw=1"),
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(status, 200);
    assert!(head.contains("content-length: 100000"), "{head}");
    assert!(
        body.len() < 100_000,
        "{} bytes of a damaged layer were sent",
        body.len()
    );
    assert!(body.iter().all(|&b| b == 7));
}

/// Logins are signed with `session-key`: they hold across a restart (and so across
/// replicas sharing the key) and end when the user's password changes.
#[test]
fn logins_hold_across_restarts_until_the_password_changes() {
    let mut site = site(&[]);
    let log_in = |host: &str| {
        let origin = format!("http://{host}");
        let form = format!("username=bob&password={}", BOB.1);
        let (status, head, _) = request(host, "POST", "/-/login", &[("Origin", &origin)], &form);
        assert_eq!(status, 303, "{head}");
        let cookie = head
            .lines()
            .find_map(|l| l.strip_prefix("set-cookie: "))
            .unwrap();
        cookie.split(';').next().unwrap().to_string()
    };
    let cookie = log_in(&site.server.host);
    let sees_team = |site: &Site| {
        request(
            &site.server.host,
            "GET",
            "/r/team/app",
            &[("Cookie", &cookie)],
            "",
        )
        .0 == 200
    };
    assert!(sees_team(&site));
    let owned = site.args.clone();
    let args: Vec<&str> = owned.iter().map(String::as_str).collect();
    let restart = |site: &mut Site| {
        let old = std::mem::replace(&mut site.server, Server::start_with(&args));
        old.stop();
    };
    restart(&mut site);
    assert!(sees_team(&site), "the same key verifies the login");
    site.w.write(
        "htpasswd",
        format!(
            "alice:{}\nbob:{}\n",
            bcrypt::hash(ALICE.1, 4).unwrap(),
            bcrypt::hash("new-Pass-9", 4).unwrap()
        )
        .as_bytes(),
    );
    restart(&mut site);
    assert!(!sees_team(&site), "a changed password ends the login");
}

#[test]
fn the_pages_can_be_turned_off() {
    let site = site(&["--ui", "false"]);
    assert_eq!(page(&site, "/", Some(ALICE)).0, 404);
    assert_eq!(page(&site, "/r/team/app", Some(ALICE)).0, 404);
    // The API is unchanged.
    let auth = basic(ALICE);
    let (status, _, _) = request(
        &site.server.host,
        "GET",
        "/v2/team/app/tags/list",
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(status, 200);
}

/// Where the screenshots go: `docs/screenshots` (shown in the README) with
/// `WHARF_UPDATE_SCREENSHOTS=1`, else the target directory.
fn screenshots() -> PathBuf {
    if std::env::var("WHARF_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
    }
}

fn log_in(browser: &Browser, host: &str, (user, password): (&str, &str)) {
    browser.goto(&format!("http://{host}/"));
    browser.find("#login").click();
    browser.find("#username").send_keys(user);
    browser.find("#password").send_keys(password);
    browser.find("#submit").click();
    assert_eq!(browser.find("#user").text(), user);
}

/// Waits (up to 10 s) until the browser's URL contains `part`.
fn wait_for_url(browser: &Browser, part: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !browser.url().contains(part) {
        assert!(
            std::time::Instant::now() < deadline,
            "the browser never reached a URL with `{part}`: {}",
            browser.url()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_browser_logs_in_searches_opens_an_image_and_a_file_and_deletes_a_tag() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let site = site(&[]);
    let host = site.server.host.clone();
    let shots = screenshots();

    // Anonymous: the public repository only.
    browser.goto(&format!("http://{host}/"));
    let names: Vec<String> = browser
        .find_all("a.repo")
        .iter()
        .map(|a| a.text())
        .collect();
    assert_eq!(names, ["public/tool"]);

    log_in(&browser, &host, BOB);
    let names: Vec<String> = browser
        .find_all("a.repo")
        .iter()
        .map(|a| a.text())
        .collect();
    assert_eq!(names, ["public/tool", "team/app", "team/multi"]);
    browser.screenshot(&shots.join("repositories.png"));
    browser.find("#search").send_keys("app");
    browser.find("#go").click();
    // The old page has `a.repo` links too: wait for the search's page first.
    wait_for_url(&browser, "q=app");
    let found: Vec<String> = browser
        .find_all("a.repo")
        .iter()
        .map(|a| a.text())
        .collect();
    assert_eq!(found, ["team/app"]);
    browser.find("a.repo").click();
    assert_eq!(browser.find("#repository").text(), "team/app");
    browser.screenshot(&shots.join("repository.png"));

    browser.find("a.tag").click();
    assert_eq!(browser.find("#efficiency").text(), "50.0 %");
    assert_eq!(browser.find_all("tr.layer").len(), 3);
    browser.screenshot(&shots.join("image.png"));

    // Layer 0's files, then one of them.
    browser.find("a.layer-files").click();
    assert!(browser.find("#scope").text().starts_with("Layer 0 alone"));
    let entries: Vec<String> = browser
        .find_all("tr.entry a")
        .iter()
        .map(|a| a.text())
        .collect();
    assert!(entries.contains(&"big".to_string()), "{entries:?}");
    browser.screenshot(&shots.join("files.png"));
    browser
        .find_all("a.file")
        .into_iter()
        .find(|a| a.text() == "keep")
        .expect("keep is listed")
        .click();
    assert_eq!(browser.find("#content").text(), "keep!");

    // bob may not delete: the page says so, and the tag stays.
    browser.goto(&format!("http://{host}/r/team/app/-/tag/2.0/delete"));
    assert!(browser
        .find("#problem")
        .text()
        .contains("`bob` may not delete"));

    // alice may.
    browser.find("#logout").click();
    browser.find("#login");
    assert!(browser.try_find("#user").is_none());
    log_in(&browser, &host, ALICE);
    browser.goto(&format!("http://{host}/r/team/app"));
    browser
        .find_all("a.delete")
        .into_iter()
        .find(|a| a.attribute("href").is_some_and(|h| h.contains("/tag/2.0/")))
        .expect("a delete link for 2.0")
        .click();
    browser.find("#confirm-delete").click();
    assert_eq!(browser.find("#repository").text(), "team/app");
    let tags: Vec<String> = browser.find_all("a.tag").iter().map(|a| a.text()).collect();
    assert_eq!(tags, ["1.0"]);
}
