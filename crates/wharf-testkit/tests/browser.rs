//! The WebDriver client against a real headless Chromium: pages served by the testkit's
//! fake server, a link followed, a form posted, a cookie set and dropped, a screenshot.

use wharf_testkit::browser::Browser;
use wharf_testkit::fake::{FakeServer, Reply};

const HOME: &str = r#"<!doctype html><title>Home</title>
<h1>Welcome</h1>
<a id="next" href="/next">Next page</a> <a class="extra" href="/x">x</a>
<form method="post" action="/search"><input name="q" value="old"><button>Go</button></form>"#;

fn page(path: &str) -> Reply {
    let html = match path {
        "/" => HOME.to_string(),
        "/next" => "<!doctype html><title>Next</title><h1 id=h>  The   next page </h1>".into(),
        "/search" => "<!doctype html><title>Results</title><p id=r>found</p>".into(),
        _ => return Reply::new(404),
    };
    Reply::new(200)
        .header("Content-Type", "text/html; charset=utf-8")
        .body(html)
}

#[test]
fn drives_a_page() {
    let Some(browser) = Browser::start() else {
        return;
    };
    // The fake server is async: a runtime of its own serves it while this thread drives.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(FakeServer::start("127.0.0.1", |r| page(r.path())));
    let home = format!("http://{}/", server.host());

    browser.goto(&home);
    assert_eq!(browser.title(), "Home");
    assert_eq!(browser.url(), home);
    assert!(browser.source().contains("Welcome"));
    assert_eq!(browser.find_all("a").len(), 2);
    assert!(browser.try_find("#absent").is_none());

    let link = browser.find("#next");
    assert_eq!(link.text(), "Next page");
    assert_eq!(link.attribute("href").as_deref(), Some("/next"));
    assert_eq!(link.attribute("title"), None);
    link.click();
    assert_eq!(browser.url(), format!("{home}next"));
    assert_eq!(browser.find("#h").text(), "The next page");

    browser.goto(&home);
    let input = browser.find("input[name=q]");
    input.clear();
    input.send_keys("alpine 3");
    browser.set_cookie("session", "s3cret");
    browser.find("button").click();
    assert_eq!(browser.find("#r").text(), "found");
    let post = server
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("the form was posted");
    assert_eq!(post.form("q"), ["alpine 3"]);
    assert_eq!(post.header("cookie"), Some("session=s3cret"));

    browser.delete_all_cookies();
    browser.goto(&home);
    let last = server.requests().pop().unwrap();
    assert_eq!(last.header("cookie"), None);

    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("shots/home.png");
    browser.screenshot(&shot);
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
}

#[test]
fn find_names_the_selector() {
    let Some(browser) = Browser::start() else {
        return;
    };
    browser.goto("data:text/html,<title>Empty</title><p>nothing here</p>");
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        browser.find("#missing");
    }))
    .expect_err("find panics when nothing matches");
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("`#missing`"), "{message}");
    assert!(message.contains("nothing here"), "{message}");
}
