//! A headless Chromium driven through `chromedriver` over the W3C WebDriver protocol, so
//! tests can click through the pages `wharf serve` renders as a user would. Each
//! [`Browser`] has its own driver (on a free port) and its own profile directory, so tests
//! running in parallel share nothing; the session and the driver end on drop. When
//! Chromium or its driver is missing the test skips, unless `WHARF_REQUIRE_INTEROP=1`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::registry::free_port;

/// The key W3C WebDriver names element references by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: Client,
    /// `http://127.0.0.1:PORT/session/ID`: what every command's path is appended to.
    session: String,
    driver: Child,
    dir: TempDir,
}

/// An element of the current page; stale once the page it was found on is left.
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

/// `name` on PATH, else in /usr/bin (the Debian packages' place).
fn binary(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// One WebDriver call: the response's `value`, or its `error` and `message`.
fn request(
    http: &Client,
    method: Method,
    url: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let mut req = http.request(method.clone(), url);
    // chromedriver rejects a POST without a JSON body, even where the command takes none.
    if method == Method::POST {
        req = req.json(body.unwrap_or(&json!({})));
    }
    let reply: Value = req
        .send()
        .and_then(|r| r.json())
        .map_err(|e| format!("transport: {e}"))?;
    let value = reply.get("value").cloned().unwrap_or(Value::Null);
    match value.get("error").and_then(Value::as_str) {
        Some(error) => Err(format!(
            "{error}: {}",
            value["message"].as_str().unwrap_or("")
        )),
        None => Ok(value),
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; `None` (test skipped) when
    /// either is missing and interop is not required.
    pub fn start() -> Option<Browser> {
        let (Some(driver), Some(chromium)) = (binary("chromedriver"), binary("chromium")) else {
            crate::missing(
                "chromium and chromium-driver",
                "apt-get install chromium chromium-driver",
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        // No proxy: a developer's HTTP_PROXY must not swallow loopback calls.
        let http = Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let log_path = dir.path().join("chromedriver.log");
        // A port can be taken between picking and binding; try a few.
        for _ in 0..5 {
            let port = free_port();
            let log = std::fs::File::create(&log_path).unwrap();
            let mut child = Command::new(&driver)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start chromedriver");
            let root = format!("http://127.0.0.1:{port}");
            if wait_ready(&http, &mut child, &root) {
                let mut browser = Browser {
                    http,
                    session: String::new(),
                    driver: child,
                    dir,
                };
                browser.new_session(&root, &chromium);
                return Some(browser);
            }
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if !log.contains("ddress already in use") && !log.contains("port not available") {
                panic!("chromedriver did not start:\n{log}");
            }
        }
        panic!("chromedriver could not find a free port");
    }

    fn new_session(&mut self, root: &str, chromium: &Path) {
        let profile = self.dir.path().join("profile");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display())],
            },
        }}});
        let url = format!("{root}/session");
        let value = request(&self.http, Method::POST, &url, Some(&caps))
            .unwrap_or_else(|e| panic!("POST /session: {e}\nchromedriver log:\n{}", self.log()));
        self.session = format!("{url}/{}", value["sessionId"].as_str().unwrap());
        // An implicit wait, so a find right after a click waits for the next page.
        self.cmd(
            Method::POST,
            "/timeouts",
            json!({"implicit": 2000, "pageLoad": 20000}),
        );
    }

    /// chromedriver's own output, for reports of a failed start.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default()
    }

    fn try_cmd(&self, method: Method, path: &str, body: Value) -> Result<Value, String> {
        let url = format!("{}{path}", self.session);
        request(&self.http, method.clone(), &url, Some(&body))
            .map_err(|e| format!("WebDriver {method} {path} {body}: {e}"))
    }

    fn cmd(&self, method: Method, path: &str, body: Value) -> Value {
        self.try_cmd(method, path, body)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn get(&self, path: &str) -> Value {
        self.cmd(Method::GET, path, Value::Null)
    }

    fn string(&self, path: &str) -> String {
        self.get(path).as_str().unwrap_or_default().to_string()
    }

    /// Navigates and waits for the page to load.
    pub fn goto(&self, url: &str) {
        self.cmd(Method::POST, "/url", json!({ "url": url }));
    }

    pub fn url(&self) -> String {
        self.string("/url")
    }

    pub fn title(&self) -> String {
        self.string("/title")
    }

    /// The current page's HTML, as the DOM now is.
    pub fn source(&self) -> String {
        self.string("/source")
    }

    /// The element `css` matches (waiting up to the implicit wait); panics when none does.
    pub fn find(&self, css: &str) -> Element<'_> {
        self.try_find(css).unwrap_or_else(|| {
            let source: String = self.source().chars().take(2000).collect();
            panic!("no element matches `{css}` on {}:\n{source}", self.url())
        })
    }

    pub fn try_find(&self, css: &str) -> Option<Element<'_>> {
        let query = json!({"using": "css selector", "value": css});
        match self.try_cmd(Method::POST, "/element", query) {
            Ok(value) => Some(self.element(&value)),
            Err(e) if e.contains("no such element") => None,
            Err(e) => panic!("{e}"),
        }
    }

    /// Every element `css` matches, in document order (empty after the implicit wait).
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let query = json!({"using": "css selector", "value": css});
        let value = self.cmd(Method::POST, "/elements", query);
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|v| self.element(v))
            .collect()
    }

    fn element(&self, value: &Value) -> Element<'_> {
        let id = value[ELEMENT].as_str().expect("an element reference");
        Element {
            browser: self,
            id: id.to_string(),
        }
    }

    /// Writes a PNG of the viewport to `path`, creating its parent directories.
    pub fn screenshot(&self, path: &Path) {
        let png = base64::engine::general_purpose::STANDARD
            .decode(self.string("/screenshot"))
            .expect("screenshot is base64");
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// Sets a cookie for the current page's site (so navigate there first).
    pub fn set_cookie(&self, name: &str, value: &str) {
        let cookie = json!({"cookie": {"name": name, "value": value}});
        self.cmd(Method::POST, "/cookie", cookie);
    }

    /// Deletes every cookie of the current page's site: a logout.
    pub fn delete_all_cookies(&self) {
        self.cmd(Method::DELETE, "/cookie", Value::Null);
    }
}

impl Element<'_> {
    fn path(&self, command: &str) -> String {
        format!("/element/{}/{command}", self.id)
    }

    pub fn click(&self) {
        self.browser
            .cmd(Method::POST, &self.path("click"), json!({}));
    }

    /// The rendered text (what a user sees, whitespace collapsed).
    pub fn text(&self) -> String {
        self.browser.string(&self.path("text"))
    }

    pub fn send_keys(&self, text: &str) {
        let body = json!({ "text": text });
        self.browser.cmd(Method::POST, &self.path("value"), body);
    }

    pub fn clear(&self) {
        self.browser
            .cmd(Method::POST, &self.path("clear"), json!({}));
    }

    /// The attribute as written in the HTML (`href` stays relative); `None` when absent.
    pub fn attribute(&self, name: &str) -> Option<String> {
        let value = self.browser.get(&self.path(&format!("attribute/{name}")));
        value.as_str().map(str::to_string)
    }
}

/// Waits (up to 20 s) for `GET /status` to say ready; false if the driver exits first.
fn wait_ready(http: &Client, child: &mut Child, root: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = format!("{root}/status");
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(value) = request(http, Method::GET, &status, None) {
            if value["ready"] == json!(true) {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Deleting the session is what closes Chromium; killing the driver alone would not.
        if !self.session.is_empty() {
            let _ = request(&self.http, Method::DELETE, &self.session, None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
