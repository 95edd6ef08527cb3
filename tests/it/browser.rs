//! The delivery page in a real headless Chromium (driven over WebDriver by
//! chromedriver): sign in, filter by correlation id, open a delivery's
//! detail with its rule decisions and Temporal link, replay a dead letter.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use serde_json::json;

use crate::support::{ADMIN_TOKEN, TestApp, dev_server, eventually, fixture, fresh_namespace};

/// Starts a pull-request workflow with a search attribute that no fresh
/// namespace has, so Temporal rejects it and it is dead-lettered.
const DEAD_LETTER_RULE: &str = "version: 1
rules:
  - name: review-pr
    events: [git.pullrequest.created]
    start:
      workflowType: ReviewPullRequest
      taskQueue: reviews
      workflowId: pr-${{ ado.pullRequest.id }}
      searchAttributes:
        AdoRepository: ${{ ado.repository.name }}
";

fn find_program(names: &[&str]) -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
            .map(|p| p.display().to_string())
    })
}

/// chromedriver and a headless Chromium session; both stop on drop.
struct Browser {
    driver: Child,
    client: Option<Client>,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    async fn start() -> Self {
        let chromedriver = find_program(&["chromedriver"]).expect(
            "chromedriver not found: install Debian's chromium and chromium-driver \
             (scripts/ensure-browser does)",
        );
        let chromium = find_program(&["chromium", "chromium-browser"])
            .expect("chromium not found: scripts/ensure-browser installs it");
        let port = crate::support::free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut browser = Self {
            driver,
            client: None,
            _profile: profile,
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "chromedriver did not listen"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The closed network here refuses Chromium's background traffic;
        // these flags keep it from trying.
        let caps = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--user-data-dir={}", browser._profile.path().display()),
                ],
            }
        });
        let caps = caps.as_object().cloned().expect("object");
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        browser.client = Some(client);
        browser
    }

    fn c(&self) -> &Client {
        self.client.as_ref().expect("session")
    }

    async fn el(&self, css: &str) -> Element {
        self.c()
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    /// Waits until the text of `css` satisfies `ok`; returns it.
    async fn text_where(&self, css: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let text = match self.c().find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if ok(&text) {
                return text;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "{css} never matched; last text: {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn rows(&self, table: &str) -> Vec<String> {
        let mut out = Vec::new();
        let rows = self
            .c()
            .find_all(Locator::Css(&format!("{table} tbody tr")))
            .await
            .expect("rows");
        for r in rows {
            out.push(r.text().await.unwrap_or_default());
        }
        out
    }

    async fn rows_where(&self, table: &str, ok: impl Fn(&[String]) -> bool) -> Vec<String> {
        let start = Instant::now();
        loop {
            let rows = self.rows(table).await;
            if ok(&rows) {
                return rows;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "{table} never matched; rows: {rows:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn filter(&self, field: &str, value: &str) {
        for name in ["correlationId", "source", "eventType"] {
            self.el(&format!("#filters [name={name}]"))
                .await
                .clear()
                .await
                .expect("clear");
        }
        let select = self.el("#filters select[name=reasonCode]").await;
        select.select_by_value("").await.expect("any reason");
        let input = self.el(&format!("#filters [name={field}]")).await;
        if field == "reasonCode" {
            input.select_by_value(value).await.expect("select");
        } else {
            input.send_keys(value).await.expect("type");
        }
        self.el("#filters button[type=submit]")
            .await
            .click()
            .await
            .expect("filter");
    }
}

#[tokio::test]
async fn the_delivery_page_finds_a_delivery_explains_it_and_replays_dead_letters() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        crate::support::shipped_mappings().join("deployments.yaml"),
        dir.path().join("deployments.yaml"),
    )
    .expect("copy rules");
    std::fs::write(dir.path().join("review.yaml"), DEAD_LETTER_RULE).expect("rule");
    let extra =
        format!("spool: {{maxAttempts: 1, maxBackoff: 1s}}\nadmin: {{token: {ADMIN_TOKEN}}}\n");
    let app = TestApp::spawn_configured(
        &dev_server().address,
        &fresh_namespace(),
        dir.path(),
        &extra,
    )
    .await;
    app.wait_ready().await;

    let push = app.post(&fixture("git.push.json")).await;
    assert_eq!(push.status(), 200);
    let push_correlation = push
        .headers()
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .expect("correlation id")
        .to_owned();
    let ignored = app.post(&fixture("git.push.release-branch.json")).await;
    assert_eq!(ignored.status(), 200);
    let pr = app.post(&fixture("git.pullrequest.created.json")).await;
    assert_eq!(pr.status(), 202);
    eventually("the dead letter", Duration::from_secs(20), || async {
        let list = app
            .admin_get("/admin/deliveries?reasonCode=DEAD_LETTER")
            .await;
        list["deliveries"]
            .as_array()
            .filter(|d| !d.is_empty())
            .map(|_| ())
    })
    .await;

    let browser = Browser::start().await;
    browser
        .c()
        .goto(&format!("{}/admin/ui", app.base))
        .await
        .expect("open the page");

    // A wrong token is refused and says so.
    browser
        .el("#token")
        .await
        .send_keys("not-the-token")
        .await
        .expect("type");
    browser
        .el("#login-form button")
        .await
        .click()
        .await
        .expect("sign in");
    browser
        .text_where("#login-error", |t| t.contains("not accepted"))
        .await;
    browser
        .el("#token")
        .await
        .send_keys(ADMIN_TOKEN)
        .await
        .expect("type");
    browser
        .el("#login-form button")
        .await
        .click()
        .await
        .expect("sign in");
    let rows = browser.rows_where("#deliveries", |r| r.len() == 3).await;
    assert!(
        rows.iter().any(|r| r.contains("NO_RULE_MATCHED")),
        "{rows:?}"
    );
    assert!(rows.iter().any(|r| r.contains("DEAD_LETTER")), "{rows:?}");

    // Filter by correlation id: only the push, which started a workflow.
    browser.filter("correlationId", &push_correlation).await;
    let rows = browser
        .rows_where("#deliveries", |r| {
            r.len() == 1 && r[0].contains(&push_correlation)
        })
        .await;
    assert!(
        rows[0].contains("STARTED") && rows[0].contains("git.push"),
        "{rows:?}"
    );

    // Its detail: every rule's decision and the link into Temporal's UI.
    browser
        .el("#deliveries tbody tr a")
        .await
        .click()
        .await
        .expect("open detail");
    let rules = browser
        .rows_where("#d-rules", |r| r.len() == 4 && !r[0].is_empty())
        .await;
    let deploy = rules
        .iter()
        .find(|r| r.starts_with("deploy-main"))
        .expect("deploy-main decision");
    assert!(
        deploy.contains("yes") && deploy.contains("matched"),
        "{deploy}"
    );
    let review = rules
        .iter()
        .find(|r| r.starts_with("review-pr"))
        .expect("review-pr decision");
    assert!(
        review.contains("no") && review.contains("not in events"),
        "{review}"
    );
    let link = browser
        .el("#d-actions a")
        .await
        .attr("href")
        .await
        .expect("href")
        .expect("a link");
    assert!(
        link.starts_with(&format!(
            "http://localhost:8233/namespaces/{}/workflows/deploy-payments-api-",
            app.namespace
        )),
        "{link}"
    );
    assert!(
        browser
            .c()
            .current_url()
            .await
            .expect("url")
            .as_str()
            .contains("#/deliveries/")
    );

    // Back to the list, dead letters only, and replay one.
    browser.c().back().await.expect("back");
    browser.filter("reasonCode", "DEAD_LETTER").await;
    // (Rows are read until the new list is shown: hidden rows read as "".)
    let rows = browser
        .rows_where("#deliveries", |r| {
            r.len() == 1 && r[0].contains("DEAD_LETTER")
        })
        .await;
    assert!(rows[0].contains("git.pullrequest.created"), "{rows:?}");
    browser
        .el("#deliveries tbody tr a")
        .await
        .click()
        .await
        .expect("open detail");
    browser
        .text_where("#d-actions tbody", |t| t.contains("AdoRepository"))
        .await;
    let replay = browser.el("#replay").await;
    assert!(replay.is_displayed().await.expect("displayed"));
    replay.click().await.expect("replay");
    browser
        .text_where("#replay-result", |t| t == "1 action(s) queued again.")
        .await;

    if let Some(client) = browser.client.as_ref() {
        let _ = client.clone().close().await;
    }
}
