//! The dashboard in a real headless Chromium (Debian's `chromium` and `chromidriver`, one
//! chromedriver per test run), against the whole service: sign in by a link asked for in the
//! chat, compose with preview and counts, send and watch the live page reach "done", the
//! two-person rule in two browsers, and the refusals (a press member's alert and cancel of an
//! alert, a stolen, reused, forged or expired link, a missing CSRF token, an expired session).
//! axe-core (from npm, `npm ci`) checks every page for WCAG 2.1 A/AA violations. Without
//! Chromium the tests are skipped, except with CI=true, where they fail.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use amtsbote::domain::{BroadcastStatus, ChannelKind, Role};
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::desk::{dashboard_post, dashboard_session};
use crate::helpers::{EMERGENCY_TOKEN, Service, TestDb, message_to, run_sql, seed, wait_until};
use crate::telegram::message;

const CHROMIUM: &str = "/usr/bin/chromium";

/// The chromedriver of this test run, started once; `None` (skip) when Chromium is missing
/// outside CI.
fn driver() -> Option<String> {
    static DRIVER: OnceLock<Result<String, String>> = OnceLock::new();
    match DRIVER.get_or_init(start_driver) {
        Ok(url) => Some(url.clone()),
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but the browser tests cannot run: {why}")
        }
        Err(why) => {
            eprintln!("skipped: {why} (apt-get install chromium chromium-driver)");
            None
        }
    }
}

fn start_driver() -> Result<String, String> {
    if !std::path::Path::new(CHROMIUM).exists() {
        return Err(format!("{CHROMIUM} is missing"));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let mut cmd = std::process::Command::new("chromedriver");
    cmd.arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // chromedriver ends with the thread that started it, which lives as long as the test run.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))
                .map_err(|e| std::io::Error::from_raw_os_error(e.raw_os_error()))
        });
    }
    let (started, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || match cmd.spawn() {
        Ok(mut child) => {
            let _ = started.send(Ok(()));
            let _ = child.wait();
        }
        Err(e) => {
            let _ = started.send(Err(format!("chromedriver cannot start: {e}")));
        }
    });
    result.recv().map_err(|e| format!("chromedriver: {e}"))??;
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("chromedriver did not start listening".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(format!("http://127.0.0.1:{port}"))
}

/// A fresh browser (its own profile, so its own cookies), English first.
async fn browser(driver: &str) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,1100", "--lang=en-US"],
            "prefs": {"intl.accept_languages": "en-US,en"},
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver)
        .await
        .expect("a Chromium session")
}

/// The dashboard on the whole service, with staff and subscribers.
struct Dashboard {
    db: TestDb,
    service: Service,
    driver: String,
    /// One browser test at a time: Chromium is heavy, and the queue's timing tests share the
    /// machine.
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

const PRESS: i64 = 900;
const EMERGENCY: i64 = 901;
const SECOND_EMERGENCY: i64 = 902;

async fn dashboard(second_approval: bool) -> Option<Dashboard> {
    dashboard_with(second_approval, &[]).await
}

/// [`dashboard`] with more settings (the city's districts).
async fn dashboard_with(second_approval: bool, extra: &[(&str, &str)]) -> Option<Dashboard> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let driver = driver()?;
    let turn = TURN.lock().await;
    let db = TestDb::sqlite().await;
    let store = db.store.clone();
    for (who, role, person) in [
        (PRESS, Role::Press, "Paula"),
        (EMERGENCY, Role::Emergency, "Emil"),
        (SECOND_EMERGENCY, Role::Emergency, "Erika"),
    ] {
        store
            .set_staff(ChannelKind::Telegram, &who.to_string(), role, Some(person))
            .await
            .expect("staff");
    }
    seed(&*store, 5, 5, &["news", "alerts"]).await;
    let mut settings = vec![
        // The links name this address; the tests open them on the service's own.
        ("AMTSBOTE_DASHBOARD_PUBLIC_URL", "http://dashboard.example"),
        (
            "AMTSBOTE_WHATSAPP_TEMPLATE_PRICE",
            "announcement=0.05, alert=0.02",
        ),
        ("AMTSBOTE_WHATSAPP_MESSAGING_LIMIT", "4"),
        // The emergency token is Emil's key.
        ("AMTSBOTE_API_EMERGENCY_TOKEN_PERSON", "Emil"),
    ];
    settings.extend_from_slice(extra);
    let service = Service::start(&db, second_approval, &settings).await;
    Some(Dashboard {
        db,
        service,
        driver,
        _turn: turn,
    })
}

impl Dashboard {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.service.admin)
    }

    /// Asks for a login link in the chat, as `user` would: the link the bot answers with,
    /// opened on the service's address.
    async fn login_link(&self, user: i64) -> String {
        let sim = &self.service.sim;
        let before = sim
            .received()
            .iter()
            .filter(|r| *r.address == *user.to_string() && r.text.contains("/dashboard/login"))
            .count();
        sim.push_update(message(user, "/login"));
        let to = user.to_string();
        let sim2 = sim.clone();
        wait_until(
            Duration::from_secs(20),
            "a login link in the chat",
            move || {
                let (sim, to) = (sim2.clone(), to.clone());
                async move {
                    sim.received()
                        .iter()
                        .filter(|r| *r.address == to && r.text.contains("/dashboard/login"))
                        .count()
                        > before
                }
            },
        )
        .await;
        let reply = message_to(sim, &user.to_string(), "/dashboard/login").await;
        let at = reply
            .text
            .find("http://dashboard.example/dashboard/login?token=")
            .expect("the link names the public URL");
        let link: String = reply.text[at..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        link.replace("http://dashboard.example", &self.service.admin)
    }

    /// A browser signed in as `user` through the chat's link.
    async fn signed_in(&self, user: i64) -> Client {
        let c = browser(&self.driver).await;
        let link = self.login_link(user).await;
        c.goto(&link).await.expect("open the link");
        submit(&c, "#sign-in").await;
        wait_for_path(&c, "/dashboard/compose").await;
        c
    }

    async fn sql(&self, statement: &str) {
        let pool = sqlx::SqlitePool::connect(&self.db.url).await.expect("db");
        sqlx::query(sqlx::AssertSqlSafe(statement.to_string()))
            .execute(&pool)
            .await
            .expect(statement);
        pool.close().await;
    }

    async fn count(&self, query: &str) -> i64 {
        let pool = sqlx::SqlitePool::connect(&self.db.url).await.expect("db");
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(query.to_string()))
            .fetch_one(&pool)
            .await
            .expect(query);
        pool.close().await;
        n
    }
}

/// The element `css` on the page, waiting for the page to get there (a click's navigation
/// may still be under way on a busy machine).
async fn find(c: &Client, css: &str) -> fantoccini::elements::Element {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match c.find(Locator::Css(css)).await {
            Ok(e) => return e,
            Err(e) if Instant::now() > deadline => panic!("{css} at {}: {e}", path_of(c).await),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn click(c: &Client, css: &str) {
    find(c, css)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Clicks `css`, a button that sends a form, and waits for the page that answered it: the page
/// it was on is gone (its root element is stale) and the new one is loaded. A wait on the path
/// alone proves nothing when the answer comes back to the same path.
async fn submit(c: &Client, css: &str) {
    let before = c
        .find(Locator::Css("html"))
        .await
        .unwrap_or_else(|e| panic!("the page before {css}: {e}"));
    click(c, css).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match before.tag_name().await {
            Err(e) if e.is_stale_element_reference() => break,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "no new page after {css}: still at {}",
            path_of(c).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    loop {
        let ready = c
            .execute("return document.readyState;", vec![])
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_string));
        if ready.as_deref() == Some("complete") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the page after {css} did not load"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn text_of(c: &Client, css: &str) -> String {
    find(c, css)
        .await
        .text()
        .await
        .unwrap_or_else(|e| panic!("text of {css}: {e}"))
}

async fn fill(c: &Client, css: &str, value: &str) {
    let field = find(c, css).await;
    field.clear().await.ok();
    field
        .send_keys(value)
        .await
        .unwrap_or_else(|e| panic!("type into {css}: {e}"));
}

async fn select(c: &Client, css: &str, value: &str) {
    find(c, css)
        .await
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
}

async fn path_of(c: &Client) -> String {
    c.current_url().await.expect("url").path().to_string()
}

async fn wait_for_path(c: &Client, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = path_of(c).await;
        if now == path {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the browser is at {now}, not {path}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The message key of a message page (a refusal, "signed out"), once the page is there.
async fn message_key(c: &Client) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(e) = c.find(Locator::Css("#message")).await
            && let Ok(Some(key)) = e.attr("data-key").await
        {
            return key;
        }
        if Instant::now() > deadline {
            let page = c.source().await.unwrap_or_default();
            panic!("no message page at {}:\n{page}", path_of(c).await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// axe-core's WCAG 2.1 A and AA rules on the page in `c`; fails the test on any violation.
async fn assert_accessible(c: &Client, page: &str) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/axe-core/axe.min.js");
    let axe = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!(
                "CI=true but {} cannot be read ({e}): run npm ci",
                path.display()
            )
        }
        Err(_) => {
            eprintln!("axe-core is missing (npm ci): {page} not checked");
            return;
        }
    };
    c.execute(&axe, vec![]).await.expect("inject axe-core");
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
               .then(r => done(r.violations.map(v => v.id + ': ' + v.help + ' at ' +
                   v.nodes.map(n => n.target.join(' ')).join(', '))))
               .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .expect("run axe-core");
    let violations: Vec<String> = serde_json::from_value(found).expect("a list");
    assert!(
        violations.is_empty(),
        "WCAG 2.1 A/AA violations on {page}:\n{}",
        violations.join("\n")
    );
}

/// Saves a screenshot under target/screenshots, and under docs/ with
/// AMTSBOTE_UPDATE_SCREENSHOTS=1 (docs/dashboard.md shows those).
async fn screenshot(c: &Client, name: &str, height: u32) {
    c.set_window_size(1280, height).await.expect("window size");
    let png = c.screenshot().await.expect("screenshot");
    c.set_window_size(1280, 1100).await.expect("window size");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    std::fs::write(dir.join(name), &png).expect("write screenshot");
    if std::env::var("AMTSBOTE_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        std::fs::write(root.join("docs").join(name), &png).expect("write docs screenshot");
    }
}

/// Saves a picture of the element `css` under target/screenshots, and as `docs/{name}` with
/// AMTSBOTE_UPDATE_SCREENSHOTS=1 (the README shows the map).
async fn element_screenshot(c: &Client, css: &str, name: &str) {
    let png = find(c, css).await.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in [
        Some(root.join("target/screenshots")),
        (std::env::var("AMTSBOTE_UPDATE_SCREENSHOTS").as_deref() == Ok("1"))
            .then(|| root.join("docs")),
    ]
    .into_iter()
    .flatten()
    {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("screenshot dir");
        std::fs::write(&path, &png).expect("write screenshot");
    }
}

/// The text of `css`, also where the browser shows none (an SVG's description).
async fn text_content(c: &Client, css: &str) -> String {
    find(c, css).await;
    c.execute(
        "return document.querySelector(arguments[0]).textContent;",
        vec![json!(css)],
    )
    .await
    .expect("textContent")
    .as_str()
    .unwrap_or_default()
    .to_string()
}

/// The districts the map on the page fills.
async fn targeted(c: &Client) -> Vec<String> {
    let mut ids = Vec::new();
    for path in c
        .find_all(Locator::Css("#target-map path.district.targeted"))
        .await
        .expect("the map's districts")
    {
        ids.push(
            path.attr("data-area")
                .await
                .ok()
                .flatten()
                .unwrap_or_default(),
        );
    }
    ids
}

/// Waits until the live page shows `status` (the server-sent events update it).
async fn wait_for_status(c: &Client, status: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let shown = c
            .find(Locator::Css("#status"))
            .await
            .ok()
            .map(|e| async move { e.attr("data-status").await.ok().flatten() });
        let shown = match shown {
            Some(f) => f.await,
            None => None,
        };
        if shown.as_deref() == Some(status) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the live page shows {shown:?}, not {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn broadcast_id(path: &str) -> i64 {
    path.rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("{path} names no broadcast"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn press_signs_in_by_link_previews_with_counts_sends_and_watches_it_reach_done() {
    let Some(d) = dashboard(false).await else {
        return;
    };
    let c = d.signed_in(PRESS).await;
    assert!(text_of(&c, "#signed-in").await.contains("Paula"));
    assert_accessible(&c, "compose").await;

    let text = "Die Stadtbibliothek öffnet am Samstag <länger> & mit Lesung.";
    select(&c, "#topic", "news").await;
    fill(&c, "#text", text).await;
    submit(&c, "#preview-button").await;
    wait_for_path(&c, "/dashboard/compose").await;
    assert_eq!(text_of(&c, "#count-telegram").await, "5");
    assert_eq!(text_of(&c, "#count-whatsapp").await, "5");
    assert_eq!(text_of(&c, "#count-total").await, "10");
    // Nobody wrote to the city: all five WhatsApp recipients get the paid template.
    assert_eq!(text_of(&c, "#count-templates").await, "5");
    assert_eq!(text_of(&c, "#cost").await, "0.25 EUR");
    assert!(
        text_of(&c, "#limit-warning")
            .await
            .contains("Nachrichtenlimit der Nummer von 4"),
        "the messaging limit is exceeded"
    );
    // Telegram shows the HTML-escaped text as the text itself; the template as flattened.
    assert_eq!(text_of(&c, "#telegram-1").await, text);
    assert_eq!(text_of(&c, "#whatsapp-template").await, text);
    assert_eq!(
        d.count("SELECT COUNT(*) FROM broadcasts").await,
        0,
        "a preview writes nothing"
    );
    assert_accessible(&c, "compose with preview").await;
    screenshot(&c, "dashboard-compose.png", 1700).await;

    // The chat's preview shows the same numbers, from the same function.
    d.service
        .sim
        .push_update(message(PRESS, &format!("/announce news {text}")));
    let chat = message_to(&d.service.sim, &PRESS.to_string(), "0.25 EUR").await;
    assert!(chat.text.contains(": 5 "), "{}", chat.text);

    submit(&c, "#send-button").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path_of(&c).await.starts_with("/dashboard/broadcasts/") {
        assert!(Instant::now() < deadline, "no broadcast page after sending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let id = broadcast_id(&path_of(&c).await);
    wait_for_status(&c, "done", Duration::from_secs(30)).await;
    // The simulator's counts, shown live.
    assert_eq!(text_of(&c, "#telegram-sent").await, "5");
    assert_eq!(text_of(&c, "#whatsapp-sent").await, "5");
    // Telegram was sent the HTML-escaped text (parse mode HTML), WhatsApp the text itself.
    let escaped = amtsbote::channels::telegram::escape_html(text);
    assert_eq!(
        d.service
            .sim
            .count_text(&escaped)
            .get(&ChannelKind::Telegram),
        Some(&5)
    );
    assert_eq!(
        d.service.sim.count_text(text).get(&ChannelKind::Whatsapp),
        Some(&5)
    );
    assert!(
        c.find(Locator::Css("#cancel-button")).await.is_err(),
        "nothing to cancel once done"
    );
    assert_accessible(&c, "live broadcast").await;
    screenshot(&c, "dashboard-live.png", 900).await;
    let b = d.db.store.broadcast(id).await.unwrap().unwrap();
    assert_eq!(b.status, BroadcastStatus::Done);
    assert!(b.created_by.unwrap_or_default().contains("900"));

    c.goto(&d.url("/dashboard/broadcasts")).await.unwrap();
    assert!(
        text_of(&c, "#broadcast-list")
            .await
            .contains(&format!("#{id}"))
    );
    assert_accessible(&c, "broadcasts").await;

    // Signing out ends the session in the database.
    assert_eq!(d.count("SELECT COUNT(*) FROM dashboard_sessions").await, 1);
    submit(&c, ".signout button").await;
    assert_eq!(message_key(&c).await, "dash-signed-out-done");
    assert_accessible(&c, "signed out").await;
    assert_eq!(d.count("SELECT COUNT(*) FROM dashboard_sessions").await, 0);
    c.goto(&d.url("/dashboard/compose")).await.unwrap();
    assert_eq!(message_key(&c).await, "dash-signed-out");
    c.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_one_emergency_member_drafts_is_approved_by_another_in_a_second_browser() {
    let Some(d) = dashboard(true).await else {
        return;
    };
    let author = d.signed_in(EMERGENCY).await;
    let text = "Warnung: Hochwasser an der Neckarwiese. Meiden Sie das Ufer.";
    select(&author, "#topic", "alerts").await;
    fill(&author, "#text", text).await;
    submit(&author, "#send-button").await;
    wait_for_status(&author, "awaiting_approval", Duration::from_secs(10)).await;
    let id = broadcast_id(&path_of(&author).await);

    // The author cannot approve their own alert.
    author.goto(&d.url("/dashboard/approvals")).await.unwrap();
    submit(&author, &format!("#approve-{id}")).await;
    assert_eq!(message_key(&author).await, "confirm-own");
    assert_eq!(
        d.db.store.broadcast(id).await.unwrap().unwrap().status,
        BroadcastStatus::AwaitingApproval
    );

    // A second person, in another browser, approves it.
    let second = d.signed_in(SECOND_EMERGENCY).await;
    second.goto(&d.url("/dashboard/approvals")).await.unwrap();
    assert!(
        text_of(&second, "#approval-list")
            .await
            .contains("Hochwasser")
    );
    assert_accessible(&second, "approvals").await;
    submit(&second, &format!("#approve-{id}")).await;
    wait_for_path(&second, &format!("/dashboard/broadcasts/{id}")).await;
    wait_for_status(&second, "done", Duration::from_secs(30)).await;
    let b = d.db.store.broadcast(id).await.unwrap().unwrap();
    assert_eq!(b.approved_by.as_deref(), Some("person:Erika"));
    assert_eq!(d.service.sim.count_text(text).values().sum::<usize>(), 10);
    author.close().await.ok();
    second.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_from_emils_token_is_emils_and_only_another_member_approves_it_in_the_dashboard() {
    let Some(d) = dashboard(true).await else {
        return;
    };
    let (status, created) = d
        .service
        .api(
            Method::POST,
            "/api/v1/broadcasts",
            EMERGENCY_TOKEN,
            Some(json!({"topic": "alerts", "text": "Warnung: Gasleck in der Bahnstadt."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();

    let emil = d.signed_in(EMERGENCY).await;
    emil.goto(&d.url("/dashboard/approvals")).await.unwrap();
    submit(&emil, &format!("#approve-{id}")).await;
    assert_eq!(message_key(&emil).await, "confirm-own");
    assert_eq!(
        d.db.store.broadcast(id).await.unwrap().unwrap().status,
        BroadcastStatus::AwaitingApproval
    );

    let erika = d.signed_in(SECOND_EMERGENCY).await;
    erika.goto(&d.url("/dashboard/approvals")).await.unwrap();
    submit(&erika, &format!("#approve-{id}")).await;
    wait_for_path(&erika, &format!("/dashboard/broadcasts/{id}")).await;
    let b = d.db.store.broadcast(id).await.unwrap().unwrap();
    assert_eq!(b.approved_by.as_deref(), Some("person:Erika"));
    emil.close().await.ok();
    erika.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_press_member_is_refused_the_alert_and_the_cancel_of_an_alert() {
    let Some(d) = dashboard(false).await else {
        return;
    };
    let c = d.signed_in(PRESS).await;
    select(&c, "#topic", "alerts").await;
    fill(&c, "#text", "Warnung: Stromausfall in der Altstadt.").await;
    submit(&c, "#preview-button").await;
    assert!(
        text_of(&c, "#error").await.contains("Notfallteam"),
        "the preview is refused"
    );
    submit(&c, "#send-button").await;
    assert!(text_of(&c, "#error").await.contains("Notfallteam"));
    assert_eq!(d.count("SELECT COUNT(*) FROM broadcasts").await, 0);
    assert_accessible(&c, "compose refused").await;

    // An alert planned by the emergency staff: the press member may see it, not cancel it.
    let (status, created) = d
        .service
        .api(
            Method::POST,
            "/api/v1/broadcasts",
            EMERGENCY_TOKEN,
            Some(json!({"topic": "alerts", "text": "Probealarm der Sirenen.",
                        "scheduled_at": "2099-01-01T10:00:00Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    c.goto(&d.url(&format!("/dashboard/broadcasts/{id}")))
        .await
        .unwrap();
    submit(&c, "#cancel-button").await;
    assert_eq!(message_key(&c).await, "needs-emergency");
    assert_eq!(
        d.db.store.broadcast(id).await.unwrap().unwrap().status,
        BroadcastStatus::Scheduled
    );
    // An emergency member may.
    let e = d.signed_in(EMERGENCY).await;
    e.goto(&d.url(&format!("/dashboard/broadcasts/{id}")))
        .await
        .unwrap();
    submit(&e, "#cancel-button").await;
    wait_for_status(&e, "cancelled", Duration::from_secs(10)).await;
    c.close().await.ok();
    e.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stolen_reused_forged_and_expired_links_missing_csrf_and_expired_sessions_are_refused() {
    let Some(d) = dashboard(false).await else {
        return;
    };
    // The owner uses the link; whoever took a copy is refused it.
    let owner = browser(&d.driver).await;
    let link = d.login_link(PRESS).await;
    owner.goto(&link).await.unwrap();
    assert_accessible(&owner, "sign-in").await;
    submit(&owner, "#sign-in").await;
    wait_for_path(&owner, "/dashboard/compose").await;
    let thief = browser(&d.driver).await;
    thief.goto(&link).await.unwrap();
    submit(&thief, "#sign-in").await;
    assert_eq!(message_key(&thief).await, "dash-link-refused");
    assert_accessible(&thief, "link refused").await;
    thief.goto(&d.url("/dashboard/compose")).await.unwrap();
    assert_eq!(message_key(&thief).await, "dash-signed-out");

    // A made-up token, and a link past its ten minutes.
    thief
        .goto(&d.url(&format!("/dashboard/login?token={}", "ab".repeat(32))))
        .await
        .unwrap();
    submit(&thief, "#sign-in").await;
    assert_eq!(message_key(&thief).await, "dash-link-refused");
    let late = d.login_link(PRESS).await;
    d.sql("UPDATE dashboard_links SET expires_at = created_at - 1 WHERE used_at IS NULL")
        .await;
    thief.goto(&late).await.unwrap();
    submit(&thief, "#sign-in").await;
    assert_eq!(message_key(&thief).await, "dash-link-refused");

    // A form without its CSRF token, or with another, changes nothing.
    select(&owner, "#topic", "news").await;
    fill(&owner, "#text", "Ohne Token gesendet").await;
    owner
        .execute(
            "document.querySelector('form.compose input[name=csrf]').remove();",
            vec![],
        )
        .await
        .unwrap();
    submit(&owner, "#send-button").await;
    assert_eq!(message_key(&owner).await, "dash-csrf-refused");
    owner.goto(&d.url("/dashboard/compose")).await.unwrap();
    fill(&owner, "#text", "Mit falschem Token gesendet").await;
    owner
        .execute(
            "document.querySelector('form.compose input[name=csrf]').value = 'forged';",
            vec![],
        )
        .await
        .unwrap();
    submit(&owner, "#send-button").await;
    assert_eq!(message_key(&owner).await, "dash-csrf-refused");
    assert_eq!(d.count("SELECT COUNT(*) FROM broadcasts").await, 0);

    // Thirty idle minutes end the session; so do eight hours, however busy.
    d.sql("UPDATE dashboard_sessions SET last_seen = last_seen - 30 * 60 * 1000")
        .await;
    owner.goto(&d.url("/dashboard/compose")).await.unwrap();
    assert_eq!(message_key(&owner).await, "dash-signed-out");
    let busy = d.signed_in(EMERGENCY).await;
    d.sql("UPDATE dashboard_sessions SET expires_at = last_seen")
        .await;
    busy.goto(&d.url("/dashboard/compose")).await.unwrap();
    assert_eq!(message_key(&busy).await, "dash-signed-out");
    owner.close().await.ok();
    thief.close().await.ok();
    busy.close().await.ok();
}

/// The cookie's attributes, read without a browser.
#[tokio::test]
async fn the_session_cookie_is_http_only_same_site_strict_and_the_dashboard_is_off_without_a_url() {
    let db = TestDb::sqlite().await;
    db.store
        .set_staff(ChannelKind::Telegram, "900", Role::Press, Some("Paula"))
        .await
        .unwrap();
    let service = Service::start(
        &db,
        false,
        &[("AMTSBOTE_DASHBOARD_PUBLIC_URL", "https://amtsbote.example")],
    )
    .await;
    let (token, answer) = redeem_fresh_link(&db, &service, "https://amtsbote.example", "900").await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let cookie = answer.headers()["set-cookie"].to_str().unwrap().to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/dashboard"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(
        !cookie.contains(&token),
        "the cookie is not the link's token"
    );
    // The database keeps hashes only.
    let values = db.every_value().await;
    let secret = cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_string())
        .unwrap();
    assert!(
        !values
            .iter()
            .any(|(_, _, v)| v.contains(&token) || v.contains(&secret)),
        "no secret in the database"
    );

    let off = TestDb::sqlite().await;
    let service = Service::start(&off, false, &[]).await;
    let answer = reqwest::get(format!("{}/dashboard/", service.admin))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_is_planned_with_its_next_firings_removed_and_every_page_is_accessible() {
    let Some(d) = dashboard(false).await else {
        return;
    };
    let c = d.signed_in(PRESS).await;
    select(&c, "#topic", "news").await;
    fill(&c, "#text", "Wochenmarkt heute bis 13 Uhr.").await;
    // From choices, as the press office says it: every week on Saturday at 08:00.
    click(&c, "#when-repeat").await;
    select(&c, "#repeat", "weekly").await;
    select(&c, "#weekday", "Sat").await;
    fill(&c, "#time", "08:00").await;
    submit(&c, "#preview-button").await;
    let firings = text_of(&c, "#firings").await;
    assert_eq!(firings.lines().count(), 5, "{firings}");
    assert!(firings.contains("08:00"), "city time: {firings}");
    assert!(
        firings.lines().all(|l| l.len() == 16 && &l[2..3] == "."),
        "German dates: {firings}"
    );
    click(&c, "#built summary").await;
    assert_eq!(text_of(&c, "#built-cron").await, "0 0 8 * * Sat");
    assert_accessible(&c, "a schedule made from choices").await;
    submit(&c, "#send-button").await;
    wait_for_status(&c, "recurring", Duration::from_secs(10)).await;

    c.goto(&d.url("/dashboard/schedules")).await.unwrap();
    assert!(text_of(&c, "#recurring").await.contains("0 0 8 * * Sat"));
    assert_accessible(&c, "schedules").await;
    let schedules = d.db.store.schedules().await.unwrap();
    assert_eq!(schedules.len(), 1);
    submit(&c, &format!("#remove-{}", schedules[0].id)).await;
    assert!(
        text_of(&c, "#notice")
            .await
            .contains(&format!("S{}", schedules[0].id)),
        "the page says which schedule went"
    );
    assert!(c.find(Locator::Css("#recurring")).await.is_err());
    assert!(d.db.store.schedules().await.unwrap().is_empty());

    // Housekeeping keeps today's count; the chart shows it.
    let store = d.db.store.clone();
    wait_until(
        Duration::from_secs(10),
        "today's subscriber count",
        move || {
            let store = store.clone();
            async move {
                store.subscriber_days("2000-01-01").await.is_ok_and(|days| {
                    days.iter()
                        .any(|(_, topic, _, n)| topic == "news" && *n == 5)
                })
            }
        },
    )
    .await;
    c.goto(&d.url("/dashboard/subscribers")).await.unwrap();
    let chart = find(&c, "#chart-news svg rect").await;
    assert!(
        chart.html(false).await.unwrap().contains(": 10"),
        "5 + 5 today"
    );
    assert_eq!(text_of(&c, "#news-telegram").await, "5");
    assert_eq!(text_of(&c, "#news-whatsapp").await, "5");
    assert_accessible(&c, "subscribers").await;

    c.goto(&d.url("/dashboard/audit?person=paula&action=unschedule"))
        .await
        .unwrap();
    let log = text_of(&c, "#audit-log").await;
    assert!(log.contains("Paula") && log.contains("unschedule"), "{log}");
    assert!(!log.contains("sign-in"), "filtered by action: {log}");
    assert!(!log.contains("telegram:900"), "people by name: {log}");
    assert_eq!(text_of(&c, "#audit-log .badge").await, "Telegram");
    assert_accessible(&c, "audit log").await;
    c.close().await.ok();
}

/// The service with the dashboard on (no browser needed) and two staff: Paula (press, 900)
/// and Emil (emergency, 901).
async fn dashboard_service(db: &TestDb) -> Service {
    for (who, role, person) in [
        ("900", Role::Press, "Paula"),
        ("901", Role::Emergency, "Emil"),
    ] {
        db.store
            .set_staff(ChannelKind::Telegram, who, role, Some(person))
            .await
            .expect("staff");
    }
    Service::start(
        db,
        false,
        &[("AMTSBOTE_DASHBOARD_PUBLIC_URL", "http://dashboard.example")],
    )
    .await
}

/// A client that shows redirects instead of following them, from `ip`, waiting `within` for
/// an answer.
pub(crate) fn client_from(ip: [u8; 4], within: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(std::net::IpAddr::from(ip))
        .timeout(within)
        .build()
        .expect("client")
}

/// Uses a fresh login link for the Telegram staff address `address` (made as the service at
/// `public_url` makes them) as the sign-in button does: the link's token and the answer.
async fn redeem_fresh_link(
    db: &TestDb,
    service: &Service,
    public_url: &str,
    address: &str,
) -> (String, reqwest::Response) {
    let sign_in = amtsbote::services::SignIn::new(
        db.store.clone(),
        &url::Url::parse(public_url).unwrap(),
        std::sync::Arc::new(amtsbote::domain::time::SystemClock),
    );
    let link = sign_in
        .login_link(ChannelKind::Telegram, address)
        .await
        .unwrap()
        .expect("staff");
    let token = link.rsplit('=').next().unwrap().to_string();
    let answer = client_from([127, 0, 0, 1], Duration::from_secs(30))
        .post(format!("{}/dashboard/login", service.admin))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    (token, answer)
}

/// Signs `address` in with a fresh login link, as the sign-in button does: the session cookie
/// (`name=secret`).
pub(crate) async fn session_of(db: &TestDb, service: &Service, address: &str) -> String {
    let (_, answer) = redeem_fresh_link(db, service, "http://dashboard.example", address).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let cookie = answer.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

/// Another process's writer holding the database's write lock (SQLite), or the sign-in tables'
/// (Postgres) until `release`: whatever needs to write waits, reads go on.
enum HeldWrites {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl HeldWrites {
    async fn take(db: &TestDb) -> HeldWrites {
        use sqlx::Connection;
        if db.url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut c)
                .await
                .unwrap();
            HeldWrites::Sqlite(c)
        } else {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql(
                "BEGIN; LOCK TABLE dashboard_sessions, dashboard_links IN EXCLUSIVE MODE",
            )
            .execute(&mut c)
            .await
            .unwrap();
            HeldWrites::Postgres(c)
        }
    }

    async fn release(self) {
        match self {
            HeldWrites::Sqlite(mut c) => {
                sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
            }
            HeldWrites::Postgres(mut c) => {
                sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
            }
        }
    }
}

/// A made-up cookie or login token costs reads only: each is answered while another writer
/// holds the lock a write would wait for (today's code waited there, up to SQLite's 30 s busy
/// timeout). A valid session writes its last request down once a minute at most.
async fn requests_without_a_session_and_failed_sign_ins_write_nothing(db: TestDb) {
    let service = dashboard_service(&db).await;
    let paula = session_of(&db, &service, "900").await;
    let client = client_from([127, 0, 0, 1], Duration::from_secs(10));
    let compose = format!("{}/dashboard/compose", service.admin);

    let held = HeldWrites::take(&db).await;
    let made_up = client
        .get(&compose)
        .header("cookie", format!("amtsbote_session={}", "ab".repeat(32)))
        .send()
        .await
        .expect("a made-up cookie is answered while another process writes");
    assert_eq!(made_up.status(), StatusCode::UNAUTHORIZED);
    let forged = client
        .post(format!("{}/dashboard/login", service.admin))
        .form(&[("token", "cd".repeat(32))])
        .send()
        .await
        .expect("a made-up login token is answered while another process writes");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let seen_just_now = client
        .get(&compose)
        .header("cookie", &paula)
        .send()
        .await
        .expect("a session seen within the minute is answered while another process writes");
    assert_eq!(seen_just_now.status(), StatusCode::OK);
    held.release().await;

    // A minute on, the next request is written down (the idle end moves on).
    let secret = paula.split_once('=').unwrap().1;
    let id_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(secret.as_bytes()));
    let idle = 30 * 60_000;
    let open = |at: i64| {
        let (store, id_hash) = (db.store.clone(), id_hash.clone());
        async move {
            store
                .session(&id_hash, at, idle)
                .await
                .unwrap()
                .expect("open")
        }
    };
    let stale = open(amtsbote::domain::now_ms()).await.last_seen - 61_000;
    run_sql(
        &db,
        &format!("UPDATE dashboard_sessions SET last_seen = {stale} WHERE id_hash = '{id_hash}'"),
    )
    .await;
    let asked_at = amtsbote::domain::now_ms();
    let later = client
        .get(&compose)
        .header("cookie", &paula)
        .send()
        .await
        .unwrap();
    assert_eq!(later.status(), StatusCode::OK);
    let seen = open(amtsbote::domain::now_ms()).await.last_seen;
    assert!(seen >= asked_at, "marked as seen: {stale} → {seen}");
}

/// Guessing a login token takes many tries: ten a minute from one address, then 429 with a
/// page that says how long to wait; another address is not held up by it.
#[tokio::test]
async fn the_eleventh_sign_in_attempt_from_one_address_within_a_minute_is_refused() {
    let db = TestDb::sqlite().await;
    let service = dashboard_service(&db).await;
    let login = format!("{}/dashboard/login", service.admin);
    let attempt = |client: reqwest::Client| {
        let login = login.clone();
        async move {
            client
                .post(&login)
                .header("accept-language", "en")
                .form(&[("token", "ef".repeat(32))])
                .send()
                .await
                .unwrap()
        }
    };
    let guesser = client_from([127, 0, 0, 1], Duration::from_secs(10));
    let started = Instant::now();
    let mut refused_before = 0;
    let limited = loop {
        let answer = attempt(guesser.clone()).await;
        if answer.status() == StatusCode::TOO_MANY_REQUESTS {
            break answer;
        }
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "a made-up token");
        refused_before += 1;
        assert!(refused_before <= 20, "never limited");
    };
    // One more try comes free every six seconds: on a slow machine the eleventh may be later.
    let replenished = started.elapsed().as_secs() / 6;
    assert!(
        (10..=10 + replenished).contains(&refused_before),
        "{refused_before} attempts before the limit in {:?}",
        started.elapsed()
    );
    assert!(limited.headers().contains_key("retry-after"));
    let page = limited.text().await.unwrap();
    assert!(
        page.contains("data-key=\"dash-sign-in-limited\"")
            && page.contains("Zu viele Anmeldeversuche"),
        "{page}"
    );
    let other = attempt(client_from([127, 0, 0, 2], Duration::from_secs(10))).await;
    assert_eq!(
        other.status(),
        StatusCode::FORBIDDEN,
        "another address gets to the token check"
    );
}

/// Opens the live page's stream of broadcast `id` with `cookie`.
async fn live(service: &Service, cookie: &str, id: i64) -> reqwest::Response {
    client_from([127, 0, 0, 1], Duration::from_secs(60))
        .get(format!(
            "{}/dashboard/broadcasts/{id}/events",
            service.admin
        ))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

/// Reads the stream to its end, failing after `within`: the last event's name.
async fn ends_within(mut stream: reqwest::Response, within: Duration) -> String {
    let read = async {
        let mut body = String::new();
        while let Some(chunk) = stream.chunk().await.expect("the stream") {
            body.push_str(&String::from_utf8_lossy(&chunk));
        }
        body
    };
    let body = tokio::time::timeout(within, read)
        .await
        .unwrap_or_else(|_| panic!("the live stream still runs after {within:?}"));
    body.lines()
        .filter_map(|l| l.strip_prefix("event:"))
        .next_back()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// A live page streams only while its session is open: sign-out, or the person's removal,
/// ends it within 5 s (a check every 2 s and a half-second poll). A session has four open
/// at most.
async fn a_live_page_ends_with_its_session_and_a_session_has_four_at_most(db: TestDb) {
    let service = dashboard_service(&db).await;
    let draft = db
        .store
        .create_broadcast(&amtsbote::store::NewBroadcast {
            start: amtsbote::store::Start::Draft,
            ..crate::helpers::new_broadcast(
                "news",
                amtsbote::domain::Priority::Normal,
                "Noch offen",
            )
        })
        .await
        .unwrap()
        .broadcast
        .id;
    let paula = session_of(&db, &service, "900").await;
    let mut streams = Vec::new();
    for _ in 0..4 {
        let s = live(&service, &paula, draft).await;
        assert_eq!(s.status(), StatusCode::OK);
        streams.push(s);
    }
    let fifth = live(&service, &paula, draft).await;
    assert_eq!(fifth.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(fifth.text().await.unwrap().contains("dash-streams-limited"));

    // Sign out (with the form's CSRF token, from the page).
    let client = client_from([127, 0, 0, 1], Duration::from_secs(10));
    let page = client
        .get(format!("{}/dashboard/broadcasts/{draft}", service.admin))
        .header("cookie", &paula)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    const FIELD: &str = "name=\"csrf\" value=\"";
    let at = page.find(FIELD).expect("the sign-out form") + FIELD.len();
    let csrf = page[at..].split('"').next().unwrap().to_string();
    let out = client
        .post(format!("{}/dashboard/logout", service.admin))
        .header("cookie", &paula)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::OK);
    let deadline = Duration::from_secs(5) + Duration::from_secs(3);
    for s in streams {
        assert_eq!(ends_within(s, deadline).await, "end");
    }

    // A removed person's page stops the same way; their session's slots are free again.
    let emil = session_of(&db, &service, "901").await;
    let s = live(&service, &emil, draft).await;
    assert_eq!(s.status(), StatusCode::OK);
    assert!(db.store.remove_person("Emil").await.unwrap() > 0);
    assert_eq!(ends_within(s, deadline).await, "end");
}

crate::helpers::on_both_stores!(
    the_team_page_names_people_and_only_an_administrator_changes_it,
    an_update_is_aimed_at_a_current_warning_chosen_from_the_list,
    a_picture_is_attached_previewed_and_sent_from_the_dashboard,
    an_alert_carries_its_targets_map_attached_with_one_button,
    requests_without_a_session_and_failed_sign_ins_write_nothing,
    a_live_page_ends_with_its_session_and_a_session_has_four_at_most,
);

/// Five Telegram and five WhatsApp subscribers on news; Telegram 1000 and WhatsApp …000 chose
/// the old town (01), Telegram 1001 Galgenberg (12), Telegram 1002 keeps a place by the
/// cathedral (in 01); the rest chose nothing.
async fn citizens_in_districts(d: &Dashboard) {
    use amtsbote::domain::area::{Coordinates, Place};
    let id = |channel, address: &'static str| {
        let store = d.db.store.clone();
        async move {
            store
                .subscriber(channel, address)
                .await
                .expect("store")
                .expect("subscriber")
                .id
        }
    };
    for (channel, address, area) in [
        (ChannelKind::Telegram, "1000", "01"),
        (ChannelKind::Whatsapp, "4915100000000", "01"),
        (ChannelKind::Telegram, "1001", "12"),
    ] {
        let s = id(channel, address).await;
        d.db.store
            .set_subscriber_area(s, area, true)
            .await
            .expect("area");
    }
    let s = id(ChannelKind::Telegram, "1002").await;
    let place = Place::rounded(Coordinates::new(49.0200, 12.0990).expect("point"));
    d.db.store.keep_place(s, place, 0).await.expect("place");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_target_is_previewed_on_a_map_with_its_groups_and_bad_targets_are_named() {
    let Some(d) = dashboard_with(false, &crate::areas::regensburg_settings()).await else {
        return;
    };
    citizens_in_districts(&d).await;
    let c = d.signed_in(PRESS).await;
    assert_accessible(&c, "compose with districts").await;

    select(&c, "#topic", "news").await;
    fill(&c, "#text", "Altstadtfest: Sperrungen in der Innenstadt").await;
    click(&c, "#area-01").await;
    submit(&c, "#preview-button").await;
    assert_eq!(text_of(&c, "#target-areas").await, "Innenstadt");
    // By district: Telegram 1000 and WhatsApp …000; by place: 1002; without a district: the
    // other two on Telegram and four on WhatsApp. 1001 chose Galgenberg and is not reached.
    for (cell, n) in [
        ("#by_district-telegram", "1"),
        ("#by_district-whatsapp", "1"),
        ("#by_place-telegram", "1"),
        ("#by_place-whatsapp", "0"),
        ("#without_area-telegram", "2"),
        ("#without_area-whatsapp", "4"),
        ("#total-total", "9"),
        ("#count-total", "9"),
    ] {
        assert_eq!(text_of(&c, cell).await, n, "{cell}");
    }
    // The map: Innenstadt filled, the others outlined, named for screen readers.
    assert_eq!(targeted(&c).await, ["01"]);
    assert_eq!(
        c.find_all(Locator::Css("#target-map path.district"))
            .await
            .expect("districts")
            .len(),
        18
    );
    assert!(text_content(&c, "#map-desc").await.contains("Innenstadt"));
    assert_eq!(
        d.count("SELECT COUNT(*) FROM broadcasts").await,
        0,
        "a preview writes nothing"
    );
    assert_accessible(&c, "compose with a district target").await;
    element_screenshot(&c, "#target-map", "images/areas-map.png").await;

    // Bad targets are named next to their field, and nothing is previewed.
    click(&c, "#area-01").await;
    for (lat, lon, radius, error, field) in [
        ("49.0195", "12.0975", "60000", "#radius-error", "#radius_m"),
        ("49.0195", "12.0975", "0", "#radius-error", "#radius_m"),
        ("49.0195", "zwölf", "300", "#lon-error", "#lon"),
        // Munich.
        ("48.137", "11.575", "1000", "#circle-error", "#lat"),
    ] {
        fill(&c, "#lat", lat).await;
        fill(&c, "#lon", lon).await;
        fill(&c, "#radius_m", radius).await;
        submit(&c, "#preview-button").await;
        assert!(
            !text_of(&c, error).await.is_empty(),
            "{error} for {lat} {lon} {radius}"
        );
        assert!(c.find(Locator::Css("#preview")).await.is_err());
        // The form keeps what was typed, and marks the field.
        assert_eq!(
            find(&c, "#radius_m")
                .await
                .prop("value")
                .await
                .expect("value")
                .as_deref(),
            Some(radius)
        );
        assert_eq!(
            find(&c, field)
                .await
                .attr("aria-invalid")
                .await
                .expect("attr")
                .as_deref(),
            Some("true"),
            "{field}"
        );
    }
    assert_eq!(
        find(&c, "#radius_m")
            .await
            .attr("aria-invalid")
            .await
            .expect("attr"),
        None,
        "only the field in error is marked"
    );
    assert_accessible(&c, "compose with a target in error").await;
    // A district the city does not have (a forged box).
    for field in ["#lat", "#lon", "#radius_m"] {
        fill(&c, field, "").await;
    }
    find(&c, "#area-02").await;
    c.execute(
        "const box = document.querySelector('#area-02'); box.value = '99'; box.checked = true;",
        vec![],
    )
    .await
    .expect("forge");
    submit(&c, "#preview-button").await;
    assert!(text_of(&c, "#areas-error").await.contains("99"));
    // Districts and a circle at once: which one was meant?
    click(&c, "#area-01").await;
    fill(&c, "#radius_m", "300").await;
    submit(&c, "#preview-button").await;
    assert!(!text_of(&c, "#target-error").await.is_empty());
    click(&c, "#area-01").await;

    // A 300 m circle by the cathedral: drawn over the old town.
    fill(&c, "#lat", "49,0195").await;
    fill(&c, "#lon", "12.0975").await;
    fill(&c, "#radius_m", "300").await;
    submit(&c, "#preview-button").await;
    assert_eq!(text_of(&c, "#target-areas").await, "Innenstadt");
    find(&c, "#target-map path.outline").await;
    assert!(text_content(&c, "#map-desc").await.contains("300 m"));

    // Sent to the old town: the broadcast carries the target, and its page shows the map.
    for field in ["#lat", "#lon", "#radius_m"] {
        fill(&c, field, "").await;
    }
    click(&c, "#area-01").await;
    submit(&c, "#send-button").await;
    let id = broadcast_id(&path_of(&c).await);
    let b =
        d.db.store
            .broadcast(id)
            .await
            .expect("store")
            .expect("broadcast");
    assert_eq!(
        b.target,
        Some(amtsbote::domain::area::Target::Areas(vec!["01".into()]))
    );
    assert_eq!(text_of(&c, "#target-areas").await, "Innenstadt");
    assert_eq!(targeted(&c).await, ["01"]);
    assert!(text_content(&c, "#map-desc").await.contains("Innenstadt"));

    // Subscribers per district: counts only.
    c.goto(&d.url("/dashboard/subscribers"))
        .await
        .expect("subscribers");
    assert_eq!(text_of(&c, "#district-01").await, "2");
    assert_eq!(text_of(&c, "#district-12").await, "1");
    assert_eq!(text_of(&c, "#district-15").await, "0");
    assert_accessible(&c, "subscribers with districts").await;
    c.close().await.ok();
}

/// The public archive in the browser: the list, a broadcast's page and the check page (with a
/// verdict) pass axe-core, and their screenshots are the README's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_archive_a_broadcast_page_and_the_check_page_are_accessible() {
    let Some(d) = dashboard_with(
        false,
        &[("AMTSBOTE_ARCHIVE_PUBLIC_URL", "https://stadt.example")],
    )
    .await
    else {
        return;
    };
    let text = "Wasserrohrbruch in der Bahnhofstraße: zwischen Nr. 4 und 18 kein Wasser bis etwa 16 Uhr. Trinkwasser am Marktplatz.";
    // With a picture (and its alternative text), then corrected: the page shows both.
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(320, 200, |x, y| {
        image::Rgb([(x % 255) as u8, (y % 255) as u8, 120])
    }))
    .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
    .expect("a picture");
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(png)
            .file_name("plan.png")
            .mime_str("image/png")
            .expect("mime"),
    );
    let media: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/media", d.service.admin))
        .bearer_auth(crate::helpers::PRESS_TOKEN)
        .multipart(form)
        .send()
        .await
        .expect("the API answers")
        .json()
        .await
        .expect("the medium");
    let (status, b) = d
        .service
        .api(
            Method::POST,
            "/api/v1/broadcasts",
            crate::helpers::PRESS_TOKEN,
            Some(
                json!({"topic": "news", "text": text, "media_id": media["id"],
                "alt": "Karte: die Bahnhofstraße zwischen Nr. 4 und 18"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let id = b["id"].as_i64().expect("id");
    d.service.wait_done(id, Duration::from_secs(30)).await;
    let (status, c) = d
        .service
        .api(
            Method::POST,
            &format!("/api/v1/broadcasts/{id}/corrections"),
            crate::helpers::PRESS_TOKEN,
            Some(json!({"text": text.replace("16 Uhr", "17 Uhr")})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let correction = c["correction"]["id"].as_i64().expect("the correction");
    d.service
        .wait_done(correction, Duration::from_secs(30))
        .await;
    let code =
        d.db.store
            .broadcast(id)
            .await
            .expect("store")
            .and_then(|b| b.public_code)
            .expect("code");
    let c = browser(&d.driver).await;
    c.goto(&format!("{}/archiv", d.service.base))
        .await
        .expect("the archive");
    assert!(text_of(&c, "main").await.contains("Wasserrohrbruch"));
    assert_accessible(&c, "archive").await;
    screenshot(&c, "archive-list.png", 700).await;
    c.goto(&format!("{}/m/{code}", d.service.base))
        .await
        .expect("a broadcast's page");
    let main = text_of(&c, "main").await;
    assert!(main.contains(&code) && main.contains("17 Uhr"), "{main}");
    assert!(main.contains("16 Uhr"), "the former version: {main}");
    assert_accessible(&c, "archive message").await;
    screenshot(&c, "archive-message.png", 900).await;
    c.goto(&format!("{}/pruefen", d.service.base))
        .await
        .expect("the check page");
    fill(&c, "#text", &text.replace("16 Uhr", "18 Uhr")).await;
    submit(&c, "form.check button").await;
    let verdict = text_of(&c, ".verdict").await;
    assert!(verdict.contains("Not from us"), "{verdict}");
    assert!(
        verdict.contains("17 Uhr"),
        "the real one, as it is now, is shown: {verdict}"
    );
    assert_accessible(&c, "check").await;
    screenshot(&c, "archive-check.png", 800).await;
    c.close().await.ok();
}

/// The CSRF token in a dashboard page's forms.
pub(crate) fn csrf_in(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form") + 19;
    page[at..].split('"').next().unwrap_or_default().to_string()
}

/// The broadcast page's correction form and red retract button, over plain HTTP: the press
/// office corrects its news (the page then shows both versions); the alert's retraction is the
/// emergency staff's.
async fn a_sent_broadcast_is_corrected_and_retracted_from_its_page(db: TestDb) {
    seed(&*db.store, 2, 0, &["news", "alerts"]).await;
    let service = dashboard_service(&db).await;
    let news = db
        .store
        .create_broadcast(&crate::helpers::new_broadcast(
            "news",
            amtsbote::domain::Priority::Normal,
            "Sperrung der Steinernen Brücke ab Montag.",
        ))
        .await
        .unwrap()
        .broadcast
        .id;
    let alert = db
        .store
        .create_broadcast(&crate::helpers::new_broadcast(
            "alerts",
            amtsbote::domain::Priority::Alert,
            "Warnung: Hochwasser an der Donau.",
        ))
        .await
        .unwrap()
        .broadcast
        .id;
    service.wait_done(news, Duration::from_secs(20)).await;
    service.wait_done(alert, Duration::from_secs(20)).await;
    let client = client_from([127, 0, 0, 1], Duration::from_secs(30));
    let page = |cookie: String, id: i64| {
        let client = client.clone();
        let url = format!("{}/dashboard/broadcasts/{id}", service.admin);
        async move {
            client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let post = |cookie: String, path: String, form: Vec<(&'static str, String)>| {
        let client = client.clone();
        let url = format!("{}{path}", service.admin);
        async move {
            client
                .post(url)
                .header("cookie", cookie)
                .form(&form)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let paula = session_of(&db, &service, "900").await;
    let shown = page(paula.clone(), news).await;
    assert!(shown.contains("id=\"correct-form\"") && shown.contains("id=\"retract-button\""));
    let csrf = csrf_in(&shown);
    let corrected = "Sperrung der Steinernen Brücke ab Dienstag.";
    let status = post(
        paula.clone(),
        format!("/dashboard/broadcasts/{news}/correct"),
        vec![
            ("csrf", csrf.clone()),
            ("text", corrected.into()),
            ("notice", "1".into()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let shown = page(paula.clone(), news).await;
    assert!(
        shown.contains("id=\"versions\"") && shown.contains(corrected),
        "the versions are shown"
    );
    message_to(&service.sim, "1001", &format!("Korrektur: {corrected}")).await;
    // Paula may not take back the alert; Emil may, with one press.
    let status = post(
        paula.clone(),
        format!("/dashboard/broadcasts/{alert}/retract"),
        vec![("csrf", csrf.clone())],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let emil = session_of(&db, &service, "901").await;
    let csrf = csrf_in(&page(emil.clone(), alert).await);
    let status = post(
        emil,
        format!("/dashboard/broadcasts/{alert}/retract"),
        vec![("csrf", csrf), ("text", "Kein Hochwasser.".into())],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        db.store.broadcast(alert).await.unwrap().unwrap().status,
        BroadcastStatus::Retracted
    );
    message_to(&service.sim, "1000", "Kein Hochwasser.").await;
}

#[tokio::test]
async fn a_sent_broadcast_is_corrected_and_retracted_from_its_page_on_sqlite() {
    a_sent_broadcast_is_corrected_and_retracted_from_its_page(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn a_sent_broadcast_is_corrected_and_retracted_from_its_page_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        a_sent_broadcast_is_corrected_and_retracted_from_its_page(db).await;
    }
}

/// The compose page's upload field: the picture is kept cleaned, shown with its alternative
/// text field, previewed as a caption, and the broadcast sent from the form carries it; a
/// picture without its alternative text and an HTML file are refused on the page.
async fn a_picture_is_attached_previewed_and_sent_from_the_dashboard(db: TestDb) {
    db.store
        .set_staff(ChannelKind::Telegram, "900", Role::Press, Some("Paula"))
        .await
        .unwrap();
    seed(&*db.store, 2, 2, &["news"]).await;
    let service = Service::start(
        &db,
        false,
        &[("AMTSBOTE_DASHBOARD_PUBLIC_URL", "http://dashboard.example")],
    )
    .await;
    let paula = session_of(&db, &service, "900").await;
    let client = client_from([127, 0, 0, 1], Duration::from_secs(30));
    let url = |path: &str| format!("{}{path}", service.admin);
    let (page, csrf) = compose_page(&client, &service, &paula).await;
    assert!(
        page.contains("id=\"upload-form\""),
        "the upload field is there"
    );
    let photo = std::fs::read(format!(
        "{}/tests/fixtures/media/gps_nikon_coolpix_p6000_DSCN0010.jpg",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let upload = |bytes: Vec<u8>, name: &'static str| {
        let form = reqwest::multipart::Form::new()
            .text("csrf", csrf.clone())
            .text("topic", "news")
            .text("text", "Die Uferstraße ist gesperrt.")
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(name),
            );
        client
            .post(url("/dashboard/media"))
            .header("cookie", &paula)
            .multipart(form)
            .send()
    };
    let refused = upload(b"<!DOCTYPE html><html></html>".to_vec(), "x.jpg")
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("HTML"));
    let answer = upload(photo, "DSCN0010.jpg").await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let page = answer.text().await.unwrap();
    assert!(page.contains("id=\"media-preview\""), "{page}");
    assert!(page.contains("name=\"media_id\" value=\"1\""));
    assert!(
        page.contains("Die Uferstraße ist gesperrt."),
        "the text is kept"
    );
    let kept = client
        .get(url("/dashboard/media/1"))
        .header("cookie", &paula)
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["content-type"], "image/jpeg");
    let bytes = kept.bytes().await.unwrap();
    assert!(
        exif::Reader::new()
            .read_from_container(&mut std::io::Cursor::new(&bytes[..]))
            .is_err(),
        "no EXIF in what the dashboard shows"
    );
    let without_session = client.get(url("/dashboard/media/1")).send().await.unwrap();
    assert_ne!(without_session.status(), StatusCode::OK);

    let compose = |action: &'static str, alt: &'static str| {
        client
            .post(url("/dashboard/compose"))
            .header("cookie", &paula)
            .form(&[
                ("csrf", csrf.as_str()),
                ("topic", "news"),
                ("text", "Die Uferstraße ist gesperrt."),
                ("when", "now"),
                ("media_id", "1"),
                ("alt", alt),
                ("action", action),
            ])
            .send()
    };
    let preview = compose("preview", "Die gesperrte Uferstraße")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(preview.contains("id=\"telegram-media\""), "{preview}");
    assert!(preview.contains("alt=\"Die gesperrte Uferstraße\""));
    let no_alt = compose("send", "").await.unwrap();
    assert_eq!(no_alt.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let sent = compose("send", "Die gesperrte Uferstraße").await.unwrap();
    let id = sent_broadcast(&sent);
    let b = db.store.broadcast(id).await.unwrap().unwrap();
    assert_eq!(
        (b.media_id, b.alt.as_deref()),
        (Some(1), Some("Die gesperrte Uferstraße"))
    );
    service.wait_done(id, Duration::from_secs(30)).await;
    assert_eq!(service.sim.uploads(ChannelKind::Telegram).len(), 1);
}

/// The broadcast the compose page's send button made: the page it leads to names it.
fn sent_broadcast(answer: &reqwest::Response) -> i64 {
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    answer.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// The compose page as the signed-in `cookie` sees it, and its CSRF token.
async fn compose_page(
    client: &reqwest::Client,
    service: &Service,
    cookie: &str,
) -> (String, String) {
    let page = client
        .get(format!("{}/dashboard/compose", service.admin))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    const FIELD: &str = "name=\"csrf\" value=\"";
    let at = page.find(FIELD).expect("a CSRF token") + FIELD.len();
    let csrf = page[at..].split('"').next().unwrap().to_string();
    (page, csrf)
}

/// The map button: the target's map, as the preview draws it, becomes the alert's picture (a
/// PNG, the targeted district filled) with an alternative text naming the district; without a
/// target there is no map and nothing is kept.
async fn an_alert_carries_its_targets_map_attached_with_one_button(db: TestDb) {
    db.store
        .set_staff(ChannelKind::Telegram, "901", Role::Emergency, Some("Emil"))
        .await
        .unwrap();
    seed(&*db.store, 2, 2, &["alerts"]).await;
    let mut settings = vec![("AMTSBOTE_DASHBOARD_PUBLIC_URL", "http://dashboard.example")];
    settings.extend_from_slice(&crate::areas::regensburg_settings());
    let service = Service::start(&db, false, &settings).await;
    let emil = session_of(&db, &service, "901").await;
    let client = client_from([127, 0, 0, 1], Duration::from_secs(30));
    let url = |path: &str| format!("{}{path}", service.admin);
    let (page, csrf) = compose_page(&client, &service, &emil).await;
    assert!(page.contains("id=\"attach-map\""), "the button is there");
    const TEXT: &str = "Gasaustritt in der Altstadt: Fenster und Türen schließen.";
    let compose = |fields: Vec<(&'static str, String)>| {
        let mut form = vec![
            ("csrf", csrf.clone()),
            ("topic", "alerts".to_string()),
            ("text", TEXT.to_string()),
            ("when", "now".to_string()),
        ];
        form.extend(fields);
        client
            .post(url("/dashboard/compose"))
            .header("cookie", &emil)
            .form(&form)
            .send()
    };

    let untargeted = compose(vec![("action", "map".into())]).await.unwrap();
    assert_eq!(untargeted.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        untargeted.text().await.unwrap().contains("Kreis eingeben"),
        "the error says what is missing"
    );
    assert!(
        db.store.media_info(1).await.unwrap().is_none(),
        "nothing kept"
    );

    let answer = compose(vec![("area", "01".into()), ("action", "map".into())])
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let page = answer.text().await.unwrap();
    assert!(page.contains("name=\"media_id\" value=\"1\""), "{page}");
    assert!(page.contains("id=\"telegram-media\""), "previewed as sent");
    assert!(!page.contains("id=\"attach-map\""), "one map at most");
    const ALT: &str = "id=\"alt\" name=\"alt\" value=\"";
    let at = page.find(ALT).expect("the alternative text's field") + ALT.len();
    let alt = page[at..].split('"').next().unwrap().to_string();
    assert!(
        alt.starts_with("Karte des Zielgebiets") && alt.contains("Innenstadt"),
        "{alt}"
    );

    let png = client
        .get(url("/dashboard/media/1"))
        .header("cookie", &emil)
        .send()
        .await
        .unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    let picture = image::load_from_memory(&png.bytes().await.unwrap())
        .expect("a PNG that decodes")
        .to_rgb8();
    assert_eq!(picture.width(), 1280, "twice the page's map");
    let filled = picture
        .pixels()
        .filter(|p| p.0 == [0x9c, 0xc3, 0xea])
        .count();
    let whole = (picture.width() * picture.height()) as usize;
    assert!(
        filled > whole / 200 && filled < whole / 2,
        "Innenstadt is filled, not the city: {filled} of {whole} pixels"
    );

    let sent = compose(vec![
        ("area", "01".into()),
        ("media_id", "1".into()),
        ("alt", alt.clone()),
        ("action", "send".into()),
    ])
    .await
    .unwrap();
    let id = sent_broadcast(&sent);
    let b = db.store.broadcast(id).await.unwrap().unwrap();
    assert_eq!(
        (b.media_id, b.alt.as_deref()),
        (Some(1), Some(alt.as_str()))
    );
    service.wait_done(id, Duration::from_secs(30)).await;
    let uploads = service.sim.uploads(ChannelKind::Telegram);
    assert_eq!(uploads.len(), 1, "the map went out as a photo");
}

/// The desk in the browser: Tina of the Tiefbauamt submits a draft from the compose page; Paula
/// changes its text on the approvals page ("Zur Freigabe") and approves it; it goes out as she
/// wrote it. Then Paula keeps a template and fills it in on the compose page. Every page on
/// the way has no axe-core violations; the approvals page is pictured for the README.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_departments_draft_is_edited_and_approved_and_a_template_filled_in_the_browser() {
    let Some(d) = dashboard(false).await else {
        return;
    };
    let store = &d.db.store;
    store
        .set_staff(
            ChannelKind::Telegram,
            "903",
            Role::Contributor,
            Some("Tina"),
        )
        .await
        .expect("staff");
    let desk = amtsbote::domain::Desk {
        department: "Tiefbauamt".into(),
        topics: vec!["news".into()],
    };
    store.set_desk("Tina", &desk).await.expect("desk");

    let tina = d.signed_in(903).await;
    assert_accessible(&tina, "compose for a department").await;
    select(&tina, "#topic", "news").await;
    fill(&tina, "#text", "Sperrung Hauptstraße ab Montag.").await;
    submit(&tina, "#propose-button").await;
    wait_for_path(&tina, "/dashboard/approvals").await;
    let waiting = store
        .list_broadcasts_page(Some(BroadcastStatus::AwaitingApproval), None, 10)
        .await
        .expect("list");
    assert_eq!(waiting.len(), 1);
    let id = waiting[0].id;

    let paula = d.signed_in(PRESS).await;
    paula.goto(&d.url("/dashboard/approvals")).await.unwrap();
    assert!(
        text_of(&paula, &format!("#approval-{id}"))
            .await
            .contains("Tiefbauamt")
    );
    assert_accessible(&paula, "approvals with a department's draft").await;
    screenshot(&paula, "dashboard-approval.png", 900).await;
    let edited = "Vollsperrung der Hauptstraße ab Montag, 8 Uhr. Umleitung ist ausgeschildert.";
    fill(&paula, &format!("#text-{id}"), edited).await;
    submit(&paula, &format!("#approve-{id}")).await;
    wait_for_path(&paula, &format!("/dashboard/broadcasts/{id}")).await;
    wait_for_status(&paula, "done", Duration::from_secs(30)).await;
    let b = store.broadcast(id).await.unwrap().unwrap();
    assert_eq!(
        (b.text.as_str(), b.approved_by.as_deref()),
        (edited, Some("person:Paula"))
    );
    assert_eq!(d.service.sim.count_text(edited).values().sum::<usize>(), 10);

    paula
        .goto(&d.url("/dashboard/textbausteine"))
        .await
        .unwrap();
    assert_accessible(&paula, "templates").await;
    fill(&paula, "#name", "sperrung").await;
    select(&paula, "#topic", "news").await;
    fill(
        &paula,
        "#text",
        "Vollsperrung {strasse} von {von} bis {bis}.",
    )
    .await;
    submit(&paula, "#save-template").await;
    find(&paula, "#use-sperrung")
        .await
        .click()
        .await
        .expect("use it");
    wait_for_path(&paula, "/dashboard/compose").await;
    find(&paula, "#f-strasse").await;
    assert_accessible(&paula, "compose with a template's fields").await;
    fill(&paula, "#f-strasse", "Hauptstraße").await;
    fill(&paula, "#f-von", "Montag").await;
    fill(&paula, "#f-bis", "Freitag").await;
    submit(&paula, "#fill-template").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = match paula.find(Locator::Css("#text")).await {
            Ok(e) => e.prop("value").await.ok().flatten().unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text == "Vollsperrung Hauptstraße von Montag bis Freitag." {
            break;
        }
        assert!(Instant::now() < deadline, "the compose form holds {text:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tina.close().await.ok();
    paula.close().await.ok();
}

/// A one-off broadcast on `topic` scheduled for `at` (ms), one awaiting approval for the same
/// time, and a schedule firing `cron`; their ids.
async fn plan_items(
    store: &std::sync::Arc<dyn amtsbote::store::Store>,
    at: i64,
    cron: &str,
) -> (i64, i64, i64) {
    use amtsbote::domain::{BroadcastKind, BroadcastText, Priority};
    use amtsbote::store::{NewBroadcast, NewSchedule, Start};
    let planned = store
        .create_broadcast(&NewBroadcast {
            scheduled_at: Some(at),
            ..crate::helpers::new_broadcast(
                "news",
                Priority::Normal,
                "Weihnachtsmarkt: Eröffnung; um 18 Uhr, am Rathausplatz.",
            )
        })
        .await
        .expect("scheduled")
        .broadcast
        .id;
    let waiting = store
        .create_broadcast(&NewBroadcast {
            start: Start::AwaitingApproval,
            author: Some("person:Emil".into()),
            scheduled_at: Some(at),
            ..crate::helpers::new_broadcast(
                "alerts",
                Priority::Alert,
                "Warnung: Glätte auf allen Brücken.",
            )
        })
        .await
        .expect("awaiting")
        .broadcast
        .id;
    let schedule = store
        .create_schedule(&NewSchedule {
            topic: crate::helpers::topic("news"),
            kind: BroadcastKind::Announcement,
            priority: Priority::Normal,
            text: BroadcastText::parse("Wochenmarkt heute bis 13 Uhr.").expect("text"),
            cron: cron.to_string(),
            next_at: at + 30 * 86_400_000,
            created_by: Some("person:Paula".into()),
            source: None,
        })
        .await
        .expect("schedule");
    (planned, waiting, schedule)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_editorial_calendar_shows_the_week_and_a_scheduled_broadcast_is_moved_from_it() {
    let Some(d) = dashboard(false).await else {
        return;
    };
    let store = &d.db.store;
    let now = chrono::Utc::now().timestamp_millis();
    let at = (now / 60_000 + 60) * 60_000;
    // Everything stands at `at` (the schedule fires daily at its time of day), and the page
    // shows the week that holds it: late on a Sunday that is next week.
    let tz: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    let local = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at)
        .expect("a time")
        .with_timezone(&tz);
    let cron = format!("0 {} {} * * *", local.format("%-M"), local.format("%-H"));
    let (planned, waiting, schedule) = plan_items(store, at, &cron).await;
    let week = d.url(&format!(
        "/dashboard/plan?from={}",
        local.format("%Y-%m-%d")
    ));
    let c = d.signed_in(PRESS).await;
    c.goto(&week).await.unwrap();
    assert!(
        text_of(&c, &format!("#item-b{planned}"))
            .await
            .contains("Geplant")
    );
    assert!(
        text_of(&c, &format!("#item-b{waiting}"))
            .await
            .contains("Zur Freigabe")
    );
    assert!(
        text_of(&c, &format!("[id^=item-s{schedule}-]"))
            .await
            .contains("Wiederkehrend")
    );
    assert_eq!(
        find(&c, "html")
            .await
            .attr("lang")
            .await
            .unwrap()
            .as_deref(),
        Some("de")
    );
    assert_accessible(&c, "the editorial calendar's week").await;
    screenshot(&c, "dashboard-plan.png", 900).await;

    let field = format!("#move-{planned}");
    let shown = find(&c, &field)
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    let old = chrono::NaiveDateTime::parse_from_str(&shown, "%d.%m.%Y %H:%M")
        .unwrap_or_else(|e| panic!("a German time, {shown:?}: {e}"));
    let new = (old + chrono::Duration::hours(2))
        .format("%d.%m.%Y %H:%M")
        .to_string();
    fill(&c, &field, &new).await;
    submit(&c, &format!("#move-button-{planned}")).await;
    assert!(text_of(&c, "#notice").await.contains(&new));
    assert_eq!(
        store
            .broadcast(planned)
            .await
            .unwrap()
            .unwrap()
            .scheduled_at,
        Some(at + 2 * 3_600_000)
    );
    assert_accessible(&c, "the editorial calendar after a move").await;
    c.goto(&d.url("/dashboard/plan?view=month")).await.unwrap();
    find(&c, ".plan-month").await;
    assert_accessible(&c, "the editorial calendar's month").await;
    c.close().await.ok();
}

/// The plan as iCalendar behind a personal secret link (no session); a wrong or replaced
/// secret is 404. Scheduled items are moved over plain HTTP, as the plan's form does.
async fn the_calendar_feed_is_icalendar_behind_a_personal_secret_link(db: TestDb) {
    seed(&*db.store, 1, 0, &["news", "alerts"]).await;
    let service = dashboard_service(&db).await;
    let now = chrono::Utc::now().timestamp_millis();
    let at = (now / 60_000 + 24 * 60) * 60_000;
    let (planned, waiting, schedule) = plan_items(&db.store, at, "0 0 8 * * Sat").await;
    let cookie = session_of(&db, &service, "900").await;
    let client = client_from([127, 0, 0, 1], Duration::from_secs(30));
    let get = |path: String| {
        let client = client.clone();
        let url = format!("{}{path}", service.admin);
        async move { client.get(url).send().await.unwrap() }
    };
    let plan = client
        .get(format!("{}/dashboard/plan", service.admin))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_in(&plan);
    let new_link = || async {
        let page = client
            .post(format!("{}/dashboard/plan/calendar-link", service.admin))
            .header("cookie", &cookie)
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let at = page.find("calendar.ics?token=").expect("the new link") + 19;
        let token: String = page[at..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        assert_eq!(token.len(), 64);
        format!("/dashboard/calendar.ics?token={token}")
    };
    let link = new_link().await;
    let feed = get(link.clone()).await;
    assert_eq!(feed.status(), StatusCode::OK);
    assert!(
        feed.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let body = feed.text().await.unwrap();
    assert!(body.ends_with("END:VCALENDAR\r\n"), "{body}");
    assert!(
        body.split("\r\n").all(|l| l.len() <= 75),
        "folded at 75 octets: {body}"
    );
    let unfolded = body.replace("\r\n ", "");
    let lines: Vec<&str> = unfolded.split("\r\n").collect();
    assert_eq!(&lines[..2], &["BEGIN:VCALENDAR", "VERSION:2.0"]);
    let begins = lines.iter().filter(|l| **l == "BEGIN:VEVENT").count();
    assert_eq!(begins, lines.iter().filter(|l| **l == "END:VEVENT").count());
    let event = |uid: &str| -> Vec<String> {
        let start = lines
            .iter()
            .position(|l| *l == format!("UID:{uid}@amtsbote"))
            .unwrap_or_else(|| panic!("{uid} in {unfolded}"));
        lines[start..]
            .iter()
            .take_while(|l| **l != "END:VEVENT")
            .map(|l| l.to_string())
            .collect()
    };
    let stamp = |ms: i64| {
        chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
            .unwrap()
            .format("%Y%m%dT%H%M%SZ")
            .to_string()
    };
    let scheduled = event(&format!("b{planned}"));
    assert!(
        scheduled.contains(&format!("DTSTART:{}", stamp(at))),
        "{scheduled:?}"
    );
    assert!(scheduled.contains(&"STATUS:CONFIRMED".to_string()));
    assert!(
        scheduled
            .iter()
            .any(|l| l.contains("Weihnachtsmarkt: Eröffnung\\; um 18 Uhr\\, am Rathausplatz.")),
        "{scheduled:?}"
    );
    let awaiting = event(&format!("b{waiting}"));
    assert!(
        awaiting.contains(&"STATUS:TENTATIVE".to_string()),
        "{awaiting:?}"
    );
    let firings = lines
        .iter()
        .filter(|l| l.starts_with(&format!("UID:s{schedule}-")))
        .count();
    assert!(
        (7..=9).contains(&firings),
        "eight weeks of Saturdays: {firings}"
    );

    // Moved to two hours later, typed as the press office writes it (city time).
    let tz: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    let later = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at + 2 * 3_600_000)
        .unwrap()
        .with_timezone(&tz)
        .format("%d.%m.%Y %H:%M")
        .to_string();
    let moved = |time: String| {
        let client = client.clone();
        let url = format!("{}/dashboard/plan/{planned}/move", service.admin);
        let (cookie, csrf) = (cookie.clone(), csrf.clone());
        async move {
            client
                .post(url)
                .header("cookie", cookie)
                .form(&[("csrf", csrf), ("at", time)])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        moved("morgen".into()).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        moved("01.01.2020 10:00".into()).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // A department may not move anything: the policy refuses, nothing changes.
    db.store
        .set_staff(
            ChannelKind::Telegram,
            "903",
            Role::Contributor,
            Some("Tina"),
        )
        .await
        .expect("staff");
    let tina = session_of(&db, &service, "903").await;
    let tinas_plan = client
        .get(format!("{}/dashboard/plan", service.admin))
        .header("cookie", &tina)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let refused = client
        .post(format!("{}/dashboard/plan/{planned}/move", service.admin))
        .header("cookie", &tina)
        .form(&[("csrf", csrf_in(&tinas_plan)), ("at", later.clone())])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(refused, StatusCode::FORBIDDEN);
    assert_eq!(
        db.store
            .broadcast(planned)
            .await
            .unwrap()
            .unwrap()
            .scheduled_at,
        Some(at)
    );
    assert_eq!(moved(later).await, StatusCode::SEE_OTHER);
    assert_eq!(
        db.store
            .broadcast(planned)
            .await
            .unwrap()
            .unwrap()
            .scheduled_at,
        Some(at + 2 * 3_600_000)
    );

    for wrong in [
        "/dashboard/calendar.ics".to_string(),
        "/dashboard/calendar.ics?token=".to_string(),
        format!("/dashboard/calendar.ics?token={}", "0".repeat(64)),
    ] {
        assert_eq!(
            get(wrong.clone()).await.status(),
            StatusCode::NOT_FOUND,
            "{wrong}"
        );
    }
    // A new link replaces the old one.
    let newer = new_link().await;
    assert_eq!(get(link).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(get(newer).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_calendar_feed_is_icalendar_behind_a_personal_secret_link_on_sqlite() {
    the_calendar_feed_is_icalendar_behind_a_personal_secret_link(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn the_calendar_feed_is_icalendar_behind_a_personal_secret_link_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        the_calendar_feed_is_icalendar_behind_a_personal_secret_link(db).await;
    }
}

/// The compose page offers the current warnings (alerts sent, not cleared, not retracted) to
/// follow up, by headline and time: never a number typed in; an all-clear takes one off.
async fn an_update_is_aimed_at_a_current_warning_chosen_from_the_list(db: TestDb) {
    seed(&*db.store, 1, 0, &["alerts"]).await;
    let service = dashboard_service(&db).await;
    let send = |body: serde_json::Value| {
        let service = &service;
        async move {
            let (status, b) = service
                .api(
                    Method::POST,
                    "/api/v1/broadcasts",
                    crate::helpers::EMERGENCY_TOKEN,
                    Some(body),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{b}");
            let id = b["id"].as_i64().expect("id");
            service.wait_done(id, Duration::from_secs(30)).await;
            id
        }
    };
    let fire =
        send(json!({"topic": "alerts", "text": "Großbrand im Hafen: Fenster schließen."})).await;
    let flood =
        send(json!({"topic": "alerts", "text": "Hochwasser an der Donau: Ufer meiden."})).await;
    let paula = session_of(&db, &service, "900").await;
    let compose = || async {
        client_from([127, 0, 0, 1], Duration::from_secs(10))
            .get(format!("{}/dashboard/compose", service.admin))
            .header("cookie", &paula)
            .send()
            .await
            .expect("the dashboard answers")
            .text()
            .await
            .unwrap_or_default()
    };
    let page = compose().await;
    assert!(page.contains(r#"<select id="parent_id""#), "{page}");
    for (id, headline) in [
        (fire, "Großbrand im Hafen"),
        (flood, "Hochwasser an der Donau"),
    ] {
        let at = page
            .find(&format!(r#"<option value="{id}""#))
            .unwrap_or_else(|| panic!("warning {id} offered: {page}"));
        assert!(page[at..].contains(headline), "{page}");
    }
    // The fire is cleared: it is no longer current.
    send(json!({"topic": "alerts", "kind": "allclear", "parent_id": fire, "text": "Entwarnung: Der Brand ist gelöscht."})).await;
    let page = compose().await;
    assert!(
        !page.contains(&format!(r#"<option value="{fire}""#)),
        "{page}"
    );
    assert!(
        page.contains(&format!(r#"<option value="{flood}""#)),
        "{page}"
    );
}

/// `path` on the dashboard as the person signed in with `cookie`: the status and the page.
async fn dashboard_page(service: &Service, cookie: &str, path: &str) -> (StatusCode, String) {
    let answer = client_from([127, 0, 0, 1], Duration::from_secs(30))
        .get(format!("{}{path}", service.admin))
        .header("cookie", cookie)
        .send()
        .await
        .expect("the dashboard answers");
    let status = answer.status();
    (status, answer.text().await.unwrap_or_default())
}

/// The team page ("Mitarbeitende") lists people by name with their role in German and their
/// channels as badges, and the broadcasts and approvals name their authors the same way. Only
/// an administrator adds or removes anyone (the policy, as for `amtsbote staff`): a press
/// member is refused with nothing created or removed; bad input is named in German.
async fn the_team_page_names_people_and_only_an_administrator_changes_it(db: TestDb) {
    seed(&*db.store, 1, 0, &["news", "alerts"]).await;
    db.store
        .set_staff(ChannelKind::Telegram, "905", Role::Admin, Some("Anna"))
        .await
        .expect("staff");
    let service = dashboard_service(&db).await;
    let mut by_paula = crate::helpers::new_broadcast(
        "news",
        amtsbote::domain::Priority::Normal,
        "Stadtfest am Samstag.",
    );
    by_paula.created_by = Some("telegram:900".into());
    db.store
        .create_broadcast(&by_paula)
        .await
        .expect("a broadcast");
    let staff_before = db.store.list_staff().await.expect("staff").len();

    let paula = dashboard_session(&db, &service, "900").await;
    let (status, team) = dashboard_page(&service, &paula.0, "/dashboard/team").await;
    assert_eq!(status, StatusCode::OK);
    for shown in [
        "Paula",
        "Pressestelle",
        "Emil",
        "Krisenstab",
        "Anna",
        "Administration",
        "<span class=\"badge\">Telegram</span>",
    ] {
        assert!(team.contains(shown), "{shown}: {team}");
    }
    assert!(!team.contains("telegram:90"), "no bare address: {team}");
    assert!(
        !team.contains("id=\"add-person\""),
        "no form for the press office"
    );
    let (_, list) = dashboard_page(&service, &paula.0, "/dashboard/broadcasts").await;
    assert!(
        list.contains("<td>Paula <span class=\"badge\">Telegram</span></td>")
            && !list.contains("telegram:900"),
        "{list}"
    );

    // Paula (press) may not: refused, nothing created, nobody removed.
    let tina = [
        ("person", "Tina"),
        ("role", "contributor"),
        ("channel", "telegram"),
        ("address", "930"),
        ("department", "Tiefbauamt"),
        ("topics", "news"),
    ];
    let (status, refused) = dashboard_post(&service, &paula, "/dashboard/team", &tina).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(refused.contains("darf nur die Administration"), "{refused}");
    let (status, _) = dashboard_post(
        &service,
        &paula,
        "/dashboard/team/remove",
        &[("person", "Emil")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        db.store.list_staff().await.expect("staff").len(),
        staff_before,
        "nothing changed"
    );
    assert!(
        db.store
            .staff_member(ChannelKind::Telegram, "930")
            .await
            .unwrap()
            .is_none()
    );
    assert!(db.store.desk("Tina").await.unwrap().is_none());

    // Anna (admin) may; bad input is named in German and changes nothing.
    let anna = dashboard_session(&db, &service, "905").await;
    let (_, page) = dashboard_page(&service, &anna.0, "/dashboard/team").await;
    assert!(page.contains("id=\"add-person\""), "{page}");
    let (status, _) = dashboard_post(
        &service,
        &(anna.0.clone(), String::new()),
        "/dashboard/team",
        &tina,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token, no change");
    for (field, typed, says) in [
        ("address", "+49 170", "keine Telegram-Adresse"),
        ("department", "", "braucht eine Abteilung"),
        (
            "topics",
            "gibtsnicht",
            "Das Thema „gibtsnicht“ gibt es nicht",
        ),
        ("person", "telegram:1", "Der Name darf nur"),
    ] {
        let form: Vec<(&str, &str)> = tina
            .iter()
            .map(|(k, v)| (*k, if *k == field { typed } else { *v }))
            .collect();
        let (status, page) = dashboard_post(&service, &anna, "/dashboard/team", &form).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {page}");
        assert!(page.contains(says), "{field}: {page}");
        assert!(page.contains("role=\"alert\""), "{field}: {page}");
    }
    assert_eq!(
        db.store.list_staff().await.expect("staff").len(),
        staff_before,
        "nothing changed"
    );
    let (status, _) = dashboard_post(&service, &anna, "/dashboard/team", &tina).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let added = db
        .store
        .staff_member(ChannelKind::Telegram, "930")
        .await
        .unwrap()
        .expect("added");
    assert_eq!(
        (added.person.as_str(), added.role),
        ("Tina", Role::Contributor)
    );
    assert_eq!(
        db.store.desk("Tina").await.unwrap().map(|d| d.department),
        Some("Tiefbauamt".into())
    );
    let (status, removed) = dashboard_post(
        &service,
        &anna,
        "/dashboard/team/remove",
        &[("person", "Emil")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{removed}");
    assert!(
        db.store
            .staff_member(ChannelKind::Telegram, "901")
            .await
            .unwrap()
            .is_none()
    );
    let audit = db.store.audit_log(20).await.unwrap();
    for action in ["staff-add", "staff-remove"] {
        assert!(
            audit
                .iter()
                .any(|e| e.action == action && e.actor == "Anna (telegram:905)"),
            "{action}: {audit:?}"
        );
    }
}

/// An administrator adds a department's person on the team page in the browser and sees them
/// listed; the page has no axe-core violations before and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_adds_a_department_on_the_team_page_in_the_browser() {
    let Some(d) = dashboard(false).await else {
        return;
    };
    d.db.store
        .set_staff(ChannelKind::Telegram, "905", Role::Admin, Some("Anna"))
        .await
        .expect("staff");
    let c = d.signed_in(905).await;
    c.goto(&d.url("/dashboard/team")).await.unwrap();
    assert_accessible(&c, "the team page").await;
    fill(&c, "#person", "Theo").await;
    select(&c, "#role", "contributor").await;
    select(&c, "#channel", "telegram").await;
    fill(&c, "#address", "930").await;
    fill(&c, "#department", "Stadtbibliothek").await;
    fill(&c, "#topics", "news").await;
    submit(&c, "#add-person").await;
    let listed = text_of(&c, "#team").await;
    assert!(
        listed.contains("Theo")
            && listed.contains("Stadtbibliothek")
            && listed.contains("Fachabteilung"),
        "{listed}"
    );
    assert_eq!(
        d.db.store
            .desk("Theo")
            .await
            .unwrap()
            .map(|desk| desk.topics),
        Some(vec!["news".to_string()])
    );
    assert_accessible(&c, "the team page with a department added").await;
    c.close().await.ok();
}
