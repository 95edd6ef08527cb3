//! `subscriptions status`: what it shows, `--enable` and `--redeliver`.

use super::*;

#[tokio::test]
async fn status_shows_probation_disabled_and_failed_notifications_and_enable_puts_them_back() {
    let s = setup(&shipped_mappings(), BRIDGE).await;
    let probation = s.ado.seed(
        json!({"eventType": "git.push", "status": "onProbation", "probationRetries": 2,
        "publisherInputs": {"projectId": PROJECT_ID}, "consumerInputs": consumer_inputs(URL)}),
    );
    let disabled = s.ado.seed(
        json!({"eventType": "build.complete", "status": "disabledBySystem",
        "publisherInputs": {"projectId": PROJECT_ID}, "consumerInputs": consumer_inputs(URL)}),
    );
    let healthy = s.ado.seed(json!({"eventType": "workitem.created",
        "publisherInputs": {"projectId": PROJECT_ID}, "consumerInputs": consumer_inputs(URL)}));
    s.ado.seed(json!({"eventType": "git.push", "status": "disabledBySystem",
        "publisherInputs": {"projectId": PROJECT_ID}, "consumerInputs": {"url": "https://elsewhere.example.com/"}}));
    s.ado
        .seed_failed(&probation, 8, published(crate::support::push_event(8)));
    s.ado
        .seed_failed(&probation, 7, published(crate::support::push_event(7)));

    let out = s.ok(status(false, false)).await.output;
    for line in [
        format!("{probation}  onProbation  git.push in {PROJECT_ID}, 2 probation retries; 2 failed notification(s)"),
        "    notification 7 at 2026-11-24T21:04:11.583Z: The remote server returned an error: (503) Service Unavailable. (9 attempts)".into(),
        format!("{disabled}  disabledBySystem  build.complete in {PROJECT_ID}; 0 failed notification(s)"),
        format!("{healthy}  enabled  workitem.created in {PROJECT_ID}; 0 failed notification(s)"),
        "3 subscription(s), 2 not enabled".into(),
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
    }
    let notifications = |id: &str| {
        format!(
            "GET /fabrikam/_apis/hooks/subscriptions/{id}/notifications?result=failed&maxResults=20&api-version=7.1"
        )
    };
    assert_eq!(
        calls(&s.ado).await,
        [
            LIST.to_owned(),
            notifications(&probation),
            notifications(&disabled),
            notifications(&healthy)
        ]
    );

    s.ado.reset_record().await;
    let out = s.ok(status(true, false)).await.output;
    assert!(
        out.ends_with(&format!("enabled: {probation}, {disabled}")),
        "{out}"
    );
    let puts: Vec<_> = s
        .ado
        .requests()
        .await
        .into_iter()
        .filter(|r| r.method.as_str() == "PUT")
        .collect();
    assert_eq!(puts.len(), 2);
    for (put, id, event) in [
        (&puts[0], &probation, "git.push"),
        (&puts[1], &disabled, "build.complete"),
    ] {
        assert_eq!(
            (put.url.path(), put.url.query()),
            (
                format!("/fabrikam/_apis/hooks/subscriptions/{id}").as_str(),
                Some("api-version=7.1")
            )
        );
        let body: Value = put.body_json().expect("JSON");
        assert_eq!(body["status"], "enabled");
        assert_eq!(body["id"], json!(id));
        assert_eq!(body["eventType"], event);
        assert_eq!(body["publisherInputs"]["projectId"], PROJECT_ID);
        // The secret the GET returned masked is sent again, not the mask.
        assert_eq!(body["consumerInputs"]["basicAuthPassword"], PASSWORD);
        assert_eq!(body["consumerInputs"]["url"], URL);
    }
    s.ado.reset_record().await;
    let out = s.ok(status(true, false)).await.output;
    assert!(out.contains("3 subscription(s), 0 not enabled"), "{out}");
    assert!(out.ends_with("enable: nothing to put back"), "{out}");
    assert!(
        calls(&s.ado).await.iter().all(|c| c.starts_with("GET ")),
        "nothing to enable, nothing written"
    );
}

#[tokio::test]
async fn redeliver_sends_failed_events_through_the_bridge_and_again_they_are_duplicates() {
    let app = crate::support::TestApp::spawn().await;
    app.wait_ready().await;
    let mut s = setup(&shipped_mappings(), &app.base).await;
    let url = format!("{}/webhooks/fabrikam", app.base);
    let sub = s
        .ado
        .seed(json!({"eventType": "git.push", "status": "onProbation",
        "publisherInputs": {"projectId": PROJECT_ID}, "consumerInputs": consumer_inputs(&url)}));
    let events = [
        crate::support::push_event(0x51),
        crate::support::push_event(0x52),
    ];
    for (i, e) in events.iter().enumerate() {
        s.ado.seed_failed(&sub, 40 + i as i64, published(e.clone()));
    }

    let first = s.ok(status(false, true)).await;
    assert_eq!(first.exit, 0, "{}", first.output);
    for n in [40, 41] {
        let line = format!("redeliver {sub}/{n}: HTTP 200 accepted");
        assert!(first.output.contains(&line), "{line} in\n{}", first.output);
    }
    assert!(first.output.ends_with("redelivered: 2 sent, 0 failed"));
    let client = app.temporal().await;
    let repo = events[0]["resource"]["repository"]["name"]
        .as_str()
        .expect("repository name")
        .to_owned();
    for e in &events {
        let sha = e["resource"]["commits"][0]["commitId"]
            .as_str()
            .expect("sha");
        let wf = crate::support::workflow(&client, &format!("deploy-{repo}-{sha}"))
            .await
            .expect("the redelivered push started its deployment");
        assert_eq!(wf.starts, 1);
        assert_eq!(wf.input.as_ref().map(|i| &i["commit"]), Some(&json!(sha)));
    }

    s.args.json = true;
    let second = s.ok(status(false, true)).await;
    let answers: Value = serde_json::from_str(&second.output).expect("JSON");
    assert_eq!(
        answers["redelivered"],
        json!([
            {"subscription": sub, "notification": 40, "status": 200, "outcome": "duplicate"},
            {"subscription": sub, "notification": 41, "status": 200, "outcome": "duplicate"},
        ])
    );
    for e in &events {
        let sha = e["resource"]["commits"][0]["commitId"]
            .as_str()
            .expect("sha");
        let wf = crate::support::workflow(&client, &format!("deploy-{repo}-{sha}"))
            .await
            .expect("workflow");
        assert_eq!(wf.starts, 1, "a duplicate starts nothing");
    }
    app.shutdown.cancel();
}

#[tokio::test]
async fn a_notification_ado_kept_no_event_for_is_reported_and_fails_the_run() {
    let s = setup(&shipped_mappings(), BRIDGE).await;
    let sub = s.ado.seed(json!({"eventType": "git.push",
        "publisherInputs": {"projectId": PROJECT_ID}, "consumerInputs": consumer_inputs(URL)}));
    s.ado.seed_failed(&sub, 3, Value::Null);
    let report = s.ok(status(false, true)).await;
    assert_eq!(report.exit, 1, "{}", report.output);
    assert!(
        report.output.contains(&format!(
            "redeliver {sub}/3: not delivered: ADO returned no event for this notification"
        )),
        "{}",
        report.output
    );
    assert!(report.output.ends_with("redelivered: 0 sent, 1 failed"));
}

#[tokio::test]
async fn a_redelivery_leaves_out_the_messages_the_subscription_does_not_send() {
    let bridge = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_json(json!({"outcome": "accepted"})),
        )
        .mount(&bridge)
        .await;
    let s = setup(&shipped_mappings(), &bridge.uri()).await;
    let url = format!("{}/webhooks/fabrikam", bridge.uri());
    let sub = s.ado.seed(json!({"eventType": "git.push",
        "publisherInputs": {"projectId": PROJECT_ID}, "consumerInputs": consumer_inputs(&url)}));
    let mut event = published(crate::support::push_event(9));
    event["message"] = json!({"text": "Priya pushed a commit"});
    event["detailedMessage"] = json!({"text": "Priya pushed 1 commit to main"});
    s.ado.seed_failed(&sub, 9, event.clone());

    let report = s.ok(status(false, true)).await;
    assert_eq!(report.exit, 0, "{}", report.output);
    let received = bridge.received_requests().await.unwrap_or_default();
    assert_eq!(received.len(), 1);
    let body: Value = received[0].body_json().expect("JSON");
    assert!(body.get("message").is_none(), "{body}");
    assert!(body.get("detailedMessage").is_none(), "{body}");
    assert_eq!(body["subscriptionId"], json!(sub));
    assert_eq!(body["notificationId"], 9);
    assert_eq!(body["resource"], event["resource"]);
}

#[tokio::test]
async fn enable_leaves_a_deliberate_disable_unless_asked_and_reports_an_ownerless_one() {
    let s = setup(&shipped_mappings(), BRIDGE).await;
    let seed = |state: &str, event: &str| {
        s.ado.seed(json!({"eventType": event, "status": state,
            "publisherInputs": {"projectId": PROJECT_ID}, "consumerInputs": consumer_inputs(URL)}))
    };
    let probation = seed("onProbation", "git.push");
    let system = seed("disabledBySystem", "build.complete");
    let user = seed("disabledByUser", "workitem.created");
    let ownerless = seed("disabledByInactiveIdentity", "workitem.updated");
    let put_ids = |requests: Vec<wiremock::Request>| -> Vec<String> {
        requests
            .iter()
            .filter(|r| r.method.as_str() == "PUT")
            .map(|r| {
                r.url
                    .path()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };

    let out = s.ok(status(true, false)).await.output;
    assert_eq!(
        put_ids(s.ado.requests().await),
        [probation.clone(), system.clone()]
    );
    assert!(
        out.ends_with(&format!(
            "enabled: {probation}, {system}\n\
             left disabledByUser {user}: a user disabled it; --include-disabled-by-user re-enables it\n\
             left disabledByInactiveIdentity {ownerless}: its owner left the organization; it needs \
             a new owner: `subscriptions apply --recreate` makes it anew under this identity"
        )),
        "{out}"
    );

    s.ado.reset_record().await;
    let with_user = SubscriptionsCommand::Status {
        enable: true,
        include_disabled_by_user: true,
        redeliver: false,
        max_notifications: 20,
    };
    let out = s.ok(with_user).await.output;
    assert_eq!(put_ids(s.ado.requests().await), [user.as_str()]);
    assert!(
        out.contains(&format!(
            "enabled: {user}\nleft disabledByInactiveIdentity {ownerless}"
        )),
        "{out}"
    );
}
