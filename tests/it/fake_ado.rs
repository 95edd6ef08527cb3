//! A local fake of the ADO REST API (wiremock): keeps subscriptions and
//! their notifications in memory, answers with the shapes in
//! `tests/fixtures/ado-rest/`, and checks what real ADO checks that the
//! bridge could get wrong (the PAT, api-version, required fields).

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::any};

/// The PAT the fake accepts.
pub const PAT: &str = "test-pat-0123456789abcdefghijklmnopqrstuvwxyz";
/// The project the tests use.
pub const PROJECT_ID: &str = "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c";
/// Its name.
pub const PROJECT: &str = "Payments";
/// A repository in it.
pub const REPO_ID: &str = "278d5cd2-584d-4b63-824a-2ba458937249";
/// Its name.
pub const REPO: &str = "payments-api";

/// A fixture under `tests/fixtures/ado-rest`.
pub fn rest_fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ado-rest")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON")
}

#[derive(Default)]
struct State {
    subscriptions: Vec<Value>,
    notifications: HashMap<String, Vec<Value>>,
    /// An answer to give to the next write instead of doing it.
    refuse_writes: Option<(u16, String)>,
    /// The same for DELETEs only.
    refuse_deletes: Option<(u16, String)>,
}

/// The fake ADO organization.
pub struct FakeAdo {
    /// The wiremock server (its `received_requests` are the record).
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

struct Responder(Arc<Mutex<State>>);

fn error(status: u16, message: &str) -> ResponseTemplate {
    let mut body = rest_fixture("error.json");
    body["message"] = json!(message);
    ResponseTemplate::new(status).set_body_json(body)
}

impl FakeAdo {
    /// Starts the fake.
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        Mock::given(any())
            .respond_with(Responder(state.clone()))
            .mount(&server)
            .await;
        Self { server, state }
    }

    /// The organization URL to give `--organization`.
    pub fn organization(&self) -> String {
        format!("{}/fabrikam", self.server.uri())
    }

    /// Adds an existing subscription (fixture fields plus `fields`); returns its id.
    pub fn seed(&self, fields: Value) -> String {
        let mut s = rest_fixture("subscription.json");
        let id = uuid::Uuid::new_v4().to_string();
        merge(&mut s, &fields);
        s["id"] = json!(id);
        self.state.lock().expect("state").subscriptions.push(s);
        id
    }

    /// Adds a failed notification carrying `event` to a subscription.
    pub fn seed_failed(&self, subscription: &str, id: i64, event: Value) {
        let mut n = rest_fixture("notification.json");
        n["id"] = json!(id);
        n["subscriptionId"] = json!(subscription);
        n["eventId"] = event["id"].clone();
        n["details"]["event"] = event;
        let mut state = self.state.lock().expect("state");
        state
            .notifications
            .entry(subscription.to_owned())
            .or_default()
            .push(n);
    }

    /// Makes every later write answer `status` with ADO's error body.
    pub fn refuse_writes(&self, status: u16, message: &str) {
        self.state.lock().expect("state").refuse_writes = Some((status, message.to_owned()));
    }

    /// Makes every later DELETE answer `status` with ADO's error body
    /// (`None`: deletes work again).
    pub fn refuse_deletes(&self, refusal: Option<(u16, &str)>) {
        self.state.lock().expect("state").refuse_deletes =
            refusal.map(|(status, message)| (status, message.to_owned()));
    }

    /// The subscriptions as stored now.
    pub fn subscriptions(&self) -> Vec<Value> {
        self.state.lock().expect("state").subscriptions.clone()
    }

    /// Every request so far: `METHOD path?query`.
    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// Forgets the requests so far.
    pub async fn reset_record(&self) {
        // wiremock keeps the record with the mocks; remount the responder.
        self.server.reset().await;
        Mock::given(any())
            .respond_with(Responder(self.state.clone()))
            .mount(&self.server)
            .await;
    }
}

fn merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let expected = format!("Basic {}", STANDARD.encode(format!(":{PAT}")));
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if auth != Some(expected.as_str()) {
            return error(
                401,
                "TF400813: The user '' is not authorized to access this resource.",
            );
        }
        let version = req.url.query_pairs().find(|(k, _)| k == "api-version");
        if version.map(|(_, v)| v.into_owned()).as_deref() != Some("7.1") {
            return error(400, "The api-version query parameter (7.1) is required.");
        }
        let Ok(mut state) = self.0.lock() else {
            return error(500, "fake state poisoned");
        };
        let path = req.url.path().trim_start_matches("/fabrikam").to_owned();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let method = req.method.as_str();
        if method != "GET"
            && let Some((status, message)) = &state.refuse_writes
        {
            return error(*status, message);
        }
        if method == "DELETE"
            && let Some((status, message)) = &state.refuse_deletes
        {
            return error(*status, message);
        }
        match (method, segments.as_slice()) {
            ("GET", ["_apis", "projects", p]) => {
                if *p != PROJECT && *p != PROJECT_ID {
                    let msg = format!("TF200016: The following project does not exist: {p}.");
                    return error(404, &msg);
                }
                let mut body = rest_fixture("project.json");
                body["id"] = json!(PROJECT_ID);
                body["name"] = json!(PROJECT);
                ResponseTemplate::new(200).set_body_json(body)
            }
            ("GET", [project, "_apis", "git", "repositories", name]) => {
                if *project != PROJECT_ID || *name != REPO {
                    return error(
                        404,
                        &format!(
                            "TF401019: The Git repository with name or identifier {name} does not exist."
                        ),
                    );
                }
                let mut body = rest_fixture("repository.json");
                body["id"] = json!(REPO_ID);
                body["name"] = json!(REPO);
                body["project"]["id"] = json!(PROJECT_ID);
                ResponseTemplate::new(200).set_body_json(body)
            }
            ("GET", ["_apis", "hooks", "subscriptions"]) => {
                let consumer = req.url.query_pairs().find(|(k, _)| k == "consumerId");
                let value: Vec<Value> = state
                    .subscriptions
                    .iter()
                    .filter(|s| {
                        consumer
                            .as_ref()
                            .is_none_or(|(_, c)| s["consumerId"] == **c)
                    })
                    .cloned()
                    .collect();
                ResponseTemplate::new(200)
                    .set_body_json(json!({"count": value.len(), "value": value}))
            }
            ("POST", ["_apis", "hooks", "subscriptions"]) => {
                let Ok(body) = req.body_json::<Value>() else {
                    return error(400, "Value cannot be null. Parameter name: subscription");
                };
                for field in ["publisherId", "eventType", "consumerId", "consumerActionId"] {
                    if !body[field].is_string() {
                        return error(400, &format!("{field} is required"));
                    }
                }
                let mut s = rest_fixture("subscription.json");
                let id = uuid::Uuid::new_v4().to_string();
                merge(&mut s, &body);
                s["id"] = json!(id);
                s["status"] = json!("enabled");
                hide_secrets(&mut s);
                state.subscriptions.push(s.clone());
                ResponseTemplate::new(200).set_body_json(s)
            }
            ("PUT", ["_apis", "hooks", "subscriptions", id]) => {
                let Ok(mut body) = req.body_json::<Value>() else {
                    return error(400, "Value cannot be null. Parameter name: subscription");
                };
                let Some(slot) = state.subscriptions.iter_mut().find(|s| s["id"] == *id) else {
                    return error(404, &format!("Subscription {id} not found."));
                };
                body["id"] = json!(id);
                hide_secrets(&mut body);
                *slot = body.clone();
                ResponseTemplate::new(200).set_body_json(body)
            }
            ("DELETE", ["_apis", "hooks", "subscriptions", id]) => {
                let before = state.subscriptions.len();
                state.subscriptions.retain(|s| s["id"] != *id);
                if state.subscriptions.len() == before {
                    return error(404, &format!("Subscription {id} not found."));
                }
                ResponseTemplate::new(204)
            }
            ("GET", ["_apis", "hooks", "subscriptions", id, "notifications"]) => {
                let result = req.url.query_pairs().find(|(k, _)| k == "result");
                let value: Vec<Value> = state
                    .notifications
                    .get(*id)
                    .into_iter()
                    .flatten()
                    .filter(|n| result.as_ref().is_none_or(|(_, r)| n["result"] == **r))
                    .map(|n| {
                        // The list is a summary: no event in it.
                        let mut n = n.clone();
                        n["details"]["event"] = Value::Null;
                        n
                    })
                    .collect();
                ResponseTemplate::new(200)
                    .set_body_json(json!({"count": value.len(), "value": value}))
            }
            ("GET", ["_apis", "hooks", "subscriptions", id, "notifications", n]) => {
                let found = state
                    .notifications
                    .get(*id)
                    .into_iter()
                    .flatten()
                    .find(|x| n.parse::<i64>().ok() == x["id"].as_i64());
                match found {
                    Some(x) => ResponseTemplate::new(200).set_body_json(x),
                    None => error(404, "Notification not found."),
                }
            }
            _ => error(404, &format!("no such API: {method} {path}")),
        }
    }
}

/// What ADO does with confidential inputs: keeps them, returns them masked.
/// `httpHeaders` is not confidential and is returned as sent.
fn hide_secrets(s: &mut Value) {
    if let Some(password) = s
        .get_mut("consumerInputs")
        .and_then(|i| i.get_mut("basicAuthPassword"))
    {
        *password = json!("********");
    }
}
