use serde_json::json;

use super::*;
use crate::{config::Secret, subscriptions::events};

const URL: &str = "https://bridge.example.com/webhooks/fabrikam";
const PROJECT: &str = "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c";

fn target(header: bool) -> Target {
    Target {
        source: "fabrikam".into(),
        url: URL.into(),
        basic: Some(("ado-hooks".into(), Secret::new("a-long-password"))),
        header: header.then(|| ("x-bridge-key".into(), Secret::new("0123456789abcdef"))),
    }
}

fn projects() -> Vec<Project> {
    vec![Project {
        id: PROJECT.into(),
        name: "Payments".into(),
    }]
}

fn push(branch: Option<&str>) -> Desired {
    let mut inputs = BTreeMap::from([("projectId".to_owned(), PROJECT.to_owned())]);
    if let Some(b) = branch {
        inputs.insert("branch".into(), b.into());
    }
    Desired {
        event: events::find("git.push").expect("known"),
        project: projects().remove(0),
        rules: vec!["deploy-main".into()],
        publisher_inputs: inputs,
    }
}

/// A subscription as ADO returns it, with `extra` consumer inputs.
fn existing(id: &str, publisher_inputs: Value, consumer: Value) -> Subscription {
    let mut inputs = json!({"url": URL, "basicAuthUsername": "ado-hooks",
        "resourceDetailsToSend": "all", "messagesToSend": "none", "detailedMessagesToSend": "none"});
    if let (Some(a), Some(b)) = (inputs.as_object_mut(), consumer.as_object()) {
        a.extend(b.clone());
    }
    let raw = json!({"id": id, "publisherId": "tfs", "eventType": "git.push", "resourceVersion": "1.0",
        "consumerId": "webHooks", "consumerActionId": "httpRequest",
        "publisherInputs": publisher_inputs, "consumerInputs": inputs});
    serde_json::from_value(raw).expect("subscription shape")
}

fn kinds(plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .map(|c| match c {
            Change::Create(d) => format!("create {}", d.event.event_type),
            Change::Replace { old, why, .. } => format!("replace {}: {}", old.id, why.join("; ")),
            Change::Delete { old, .. } => format!("delete {}", old.id),
        })
        .collect()
}

#[test]
fn what_ado_adds_or_leaves_empty_is_no_difference() {
    let old = existing(
        "a",
        json!({"projectId": PROJECT.to_uppercase(), "branch": "refs/heads/main", "repository": "",
               "hostId": "h", "tfsSubscriptionId": "t"}),
        json!({"resourceDetailsToSend": "", "messagesToSend": "None"}),
    );
    let plan = diff(
        vec![push(Some("refs/heads/main"))],
        vec![old],
        &target(false),
        &projects(),
        &[],
        false,
    );
    assert_eq!(kinds(&plan), Vec::<String>::new());
    assert_eq!(plan.unchanged.len(), 1);
}

#[test]
fn differences_are_named_field_by_field() {
    let old = existing(
        "a",
        json!({"projectId": PROJECT, "branch": "refs/heads/Main", "pushedBy": "ops-team"}),
        json!({"basicAuthUsername": "old-user", "messagesToSend": "", "httpHeaders": "X-Other:********"}),
    );
    let plan = diff(
        vec![push(Some("refs/heads/main"))],
        vec![old],
        &target(true),
        &projects(),
        &[],
        false,
    );
    assert_eq!(
        kinds(&plan),
        [concat!(
            "replace a: publisherInputs.branch: \"refs/heads/Main\" -> \"refs/heads/main\"; ",
            "publisherInputs.pushedBy: \"ops-team\" -> \"\"; ",
            "consumerInputs.basicAuthUsername: \"old-user\" -> \"ado-hooks\"; ",
            "consumerInputs.messagesToSend: \"all\" -> \"none\"; ",
            "consumerInputs.httpHeaders (name): \"X-Other\" -> \"x-bridge-key\""
        )]
    );
}

#[test]
fn duplicates_are_deleted_and_recreate_replaces_the_rest() {
    let same = |id: &str| existing(id, json!({"projectId": PROJECT}), json!({}));
    let plan = diff(
        vec![push(None)],
        vec![same("first"), same("second")],
        &target(false),
        &projects(),
        &[],
        false,
    );
    assert_eq!(kinds(&plan), ["delete second"]);
    assert_eq!(plan.unchanged[0].1, "first");

    let plan = diff(
        vec![push(None)],
        vec![same("first")],
        &target(false),
        &projects(),
        &[],
        true,
    );
    assert_eq!(
        kinds(&plan),
        ["replace first: --recreate (passwords cannot be compared)"]
    );
}

#[test]
fn other_urls_and_other_projects_are_left_alone() {
    let mut elsewhere = existing("x", json!({"projectId": PROJECT}), json!({}));
    elsewhere
        .consumer_inputs
        .insert("url".into(), json!("https://other.example.com/hook"));
    let other_project = existing(
        "y",
        json!({"projectId": "eb6e4656-77fc-42a1-9181-4c6d8e9da5d1"}),
        json!({}),
    );
    let plan = diff(
        vec![push(None)],
        vec![elsewhere, other_project],
        &target(false),
        &projects(),
        &[],
        false,
    );
    assert_eq!(kinds(&plan), ["create git.push"]);
    assert_eq!(plan.other_projects, 1);
}

#[test]
fn the_body_carries_every_input_and_the_secrets() {
    let body = push(Some("refs/heads/main")).body(&target(true));
    assert_eq!(
        body,
        json!({"publisherId": "tfs", "eventType": "git.push", "resourceVersion": "1.0",
            "consumerId": "webHooks", "consumerActionId": "httpRequest",
            "publisherInputs": {"projectId": PROJECT, "branch": "refs/heads/main"},
            "consumerInputs": {"url": URL, "basicAuthUsername": "ado-hooks",
                "basicAuthPassword": "a-long-password", "httpHeaders": "x-bridge-key:0123456789abcdef",
                "resourceDetailsToSend": "all", "messagesToSend": "none", "detailedMessagesToSend": "none"}})
    );
}

#[test]
fn targets_take_the_newest_secret_and_refuse_signing_schemes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bridge.yaml");
    std::fs::write(
        &path,
        "mappings: [./rules]\nsources:\n\
         - name: rotating\n  auth:\n    basic: {username: ado-hooks, passwords: [old-password, new-password]}\n    header: {name: X-Bridge-Key, value: 0123456789abcdef}\n\
         - name: relay\n  auth:\n    hmac: {header: X-Sig, secret: 0123456789abcdef0123}\n",
    )
    .expect("write");
    let config = crate::config::Config::load(&path).expect("valid config");
    let rotating = config.source("rotating").expect("source");
    let t = Target::new(rotating, "https://bridge.example.com/").expect("target");
    assert_eq!(t.url, "https://bridge.example.com/webhooks/rotating");
    let inputs = t.consumer_inputs();
    assert_eq!(inputs["basicAuthUsername"], "ado-hooks");
    assert_eq!(inputs["basicAuthPassword"], "new-password");
    assert_eq!(inputs["httpHeaders"], "x-bridge-key:0123456789abcdef");

    let relay = config.source("relay").expect("source");
    let err = Target::new(relay, "https://bridge.example.com").expect_err("hmac");
    assert!(err.contains("requires a signature"), "{err}");
}

#[test]
fn a_subscription_a_rule_listens_to_is_never_deleted_even_if_it_cannot_be_made() {
    let mut tfvc = existing("t", json!({"projectId": PROJECT, "path": "$/"}), json!({}));
    tfvc.event_type = "tfvc.checkin".into();
    let mut stray = existing("w", json!({"projectId": PROJECT}), json!({}));
    stray.event_type = "workitem.created".into();
    let listeners = [(
        EventPattern::Exact("tfvc.checkin".into()),
        "on-checkin".to_owned(),
    )];
    let plan = diff(
        vec![push(None)],
        vec![tfvc, stray],
        &target(false),
        &projects(),
        &listeners,
        false,
    );
    assert_eq!(kinds(&plan), ["create git.push", "delete w"]);
    let left: Vec<_> = plan
        .left_alone
        .iter()
        .map(|(s, rules)| (s.id.as_str(), rules.clone()))
        .collect();
    assert_eq!(left, [("t", vec!["on-checkin".to_owned()])]);
}

#[test]
fn a_rotated_header_value_is_a_change_that_never_shows_the_value() {
    let with_header = |value: &str| {
        existing(
            "a",
            json!({"projectId": PROJECT}),
            json!({"basicAuthPassword": "********", "httpHeaders": format!("X-Bridge-Key:{value}")}),
        )
    };
    let plan = diff(
        vec![push(None)],
        vec![with_header("0123456789abcdef")],
        &target(true),
        &projects(),
        &[],
        false,
    );
    assert_eq!(
        kinds(&plan),
        Vec::<String>::new(),
        "same header, masked password"
    );

    let plan = diff(
        vec![push(None)],
        vec![with_header("old-value-fedcba9876")],
        &target(true),
        &projects(),
        &[],
        false,
    );
    let changes = kinds(&plan);
    assert_eq!(
        changes,
        [
            "replace a: consumerInputs.httpHeaders (value): differs from the source's newest value (not shown)"
        ]
    );
    let text = crate::subscriptions::output::plan(&plan, &target(true));
    assert!(
        !text.contains("old-value") && !text.contains("0123456789abcdef"),
        "{text}"
    );
}

#[test]
fn an_unreadable_subscription_of_this_url_is_never_duplicated_nor_deleted() {
    let mut plan = diff(
        vec![push(None)],
        vec![],
        &target(false),
        &projects(),
        &[],
        false,
    );
    assert_eq!(kinds(&plan), ["create git.push"]);
    let unreadable = |url: &str| Unreadable {
        id: "u".into(),
        event_type: "git.push".into(),
        project_id: PROJECT.into(),
        url: url.into(),
        error: "invalid type".into(),
    };
    account_for_unreadable(
        &mut plan,
        &[unreadable("https://other.example.com/hook")],
        &target(false),
    );
    assert_eq!(
        kinds(&plan),
        ["create git.push"],
        "another URL's is not ours"
    );
    account_for_unreadable(&mut plan, &[unreadable(URL)], &target(false));
    assert_eq!(kinds(&plan), Vec::<String>::new());
    assert_eq!(
        plan.warnings,
        [format!(
            "subscription u (git.push in {PROJECT}) delivers to this URL but could not be read \
             (invalid type); it is left alone; no git.push subscription is created beside it"
        )]
    );
}
