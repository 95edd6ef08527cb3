//! What `plan` and `apply` must never do: delete what a rule needs, make
//! subscriptions the bridge would refuse, miss a rotated secret, lose track
//! of a half-done replace or of a subscription it cannot read.

use super::*;

#[tokio::test]
async fn a_hand_made_subscription_a_rule_needs_survives_apply_and_job_state_is_subscribed() {
    let (_dir, rules) = rules_file(
        "- name: on-checkin\n  events: [tfvc.checkin]\n  signal: {workflowId: w, signalName: s}\n\
         - name: pipelines\n  events: ['ms.vss-pipelines.*']\n  signal: {workflowId: w, signalName: s}\n",
    );
    let s = setup(&rules, BRIDGE).await;
    let tfvc = s.ado.seed(
        json!({"eventType": "tfvc.checkin", "resourceVersion": "1.0",
        "publisherInputs": {"projectId": PROJECT_ID, "path": "$/Payments"},
        "consumerInputs": consumer_inputs(URL)}),
    );
    let out = s
        .ok(SubscriptionsCommand::Apply { recreate: false })
        .await
        .output;
    assert!(
        out.lines().any(|l| l
            == format!(
                "= leave   tfvc.checkin in {PROJECT_ID}, id {tfvc}: rules on-checkin listen to it \
                 but derive no subscription (an event type this tool cannot subscribe, or rules \
                 outside allow.rules); never deleted"
            )),
        "{out}"
    );
    assert!(
        out.contains("+ create  ms.vss-pipelines.job-state-changed-event in Payments"),
        "{out}"
    );
    let subs = s.ado.subscriptions();
    assert!(
        subs.iter().any(|x| x["id"] == json!(tfvc)),
        "kept: {subs:?}"
    );
    let job = subs
        .iter()
        .find(|x| x["eventType"] == "ms.vss-pipelines.job-state-changed-event")
        .expect("job-state subscription created");
    assert_eq!(
        (&job["publisherId"], &job["resourceVersion"]),
        (&json!("pipelines"), &json!("5.1-preview.1"))
    );
}

#[tokio::test]
async fn a_project_outside_the_grant_is_refused_and_an_ungranted_rule_gets_no_subscription() {
    let other = "eb6e4656-77fc-42a1-9181-4c6d8e9da5d1";
    let s = setup_with(
        &shipped_mappings(),
        BRIDGE,
        &format!("    allow:\n      projects: [{other}]\n"),
    )
    .await;
    let err = s.run(plan()).await.expect_err("outside the grant");
    assert_eq!(err.exit_code(), 64, "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "project \"Payments\" ({PROJECT_ID}) is outside source \"fabrikam\"'s allow.projects: \
             the bridge would refuse its deliveries with 403"
        )
    );
    assert!(s.ado.subscriptions().is_empty());

    let s = setup_with(
        &shipped_mappings(),
        BRIDGE,
        &format!("    allow:\n      projects: [{PROJECT_ID}]\n      rules: [deploy-main, build-finished]\n"),
    )
    .await;
    let out = s.ok(plan()).await.output;
    assert!(
        !out.contains("ms.vss-release"),
        "a rule outside the grant gets no subscription: {out}"
    );
    assert!(!out.contains("warning: git.push"), "{out}");
    assert!(out.contains("+ create  git.push in Payments"), "{out}");
}

#[tokio::test]
async fn rules_outside_the_grant_on_a_subscribed_event_type_are_warned_about() {
    let (_dir, rules) = rules_file(
        "- name: granted\n  events: [git.push]\n  signal: {workflowId: w, signalName: s}\n\
         - name: other-team\n  events: ['git.*']\n  signal: {workflowId: w, signalName: s}\n",
    );
    let s = setup_with(&rules, BRIDGE, "    allow:\n      rules: [granted]\n").await;
    let out = s.ok(plan()).await.output;
    assert!(
        out.lines().any(|l| l
            == "warning: git.push: rules outside source \"fabrikam\"'s allow.rules listen to it \
                too (other-team); the bridge answers 403 to a delivery they match, and ADO then \
                puts the subscription on probation"),
        "{out}"
    );
    assert!(!out.contains("git.pullrequest"), "{out}");
}

#[tokio::test]
async fn ado_masks_the_password_and_a_rotated_header_value_shows_as_a_change() {
    let header = "      header: {name: X-Bridge-Key, value: first-header-value-0123}\n";
    let s = setup_with(&shipped_mappings(), BRIDGE, header).await;
    s.ok(SubscriptionsCommand::Apply { recreate: false }).await;
    for sub in s.ado.subscriptions() {
        assert_eq!(sub["consumerInputs"]["basicAuthPassword"], "********");
        assert_eq!(
            sub["consumerInputs"]["httpHeaders"],
            "x-bridge-key:first-header-value-0123"
        );
    }
    let out = s.ok(plan()).await.output;
    assert!(out.contains("plan: 0 to create, 0 to replace"), "{out}");

    let text = std::fs::read_to_string(&s.config).expect("config");
    std::fs::write(
        &s.config,
        text.replace("first-header-value-0123", "second-header-value-4567"),
    )
    .expect("rotate");
    let out = s.ok(plan()).await.output;
    assert!(out.contains("plan: 0 to create, 4 to replace"), "{out}");
    assert!(
        out.contains(
            "      consumerInputs.httpHeaders (value): differs from the source's newest value (not shown)"
        ),
        "{out}"
    );
    assert!(
        !out.contains("header-value"),
        "no header value printed: {out}"
    );
}

#[tokio::test]
async fn a_replace_whose_delete_failed_is_reported_and_the_next_plan_keeps_the_new_one() {
    let s = setup(&shipped_mappings(), BRIDGE).await;
    let old = s
        .ado
        .seed(json!({"eventType": "git.push", "resourceVersion": "1.0",
        "publisherInputs": {"projectId": PROJECT_ID, "branch": "refs/heads/dev"},
        "consumerInputs": consumer_inputs(URL)}));
    let message = "Access denied: the caller cannot delete this subscription.";
    s.ado.refuse_deletes(Some((403, message)));
    let err = s
        .run(SubscriptionsCommand::Apply { recreate: false })
        .await
        .expect_err("the delete is refused");
    let pushes: Vec<String> = s
        .ado
        .subscriptions()
        .iter()
        .filter(|x| x["eventType"] == "git.push")
        .map(|x| x["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(pushes.len(), 2, "old and new: {pushes:?}");
    let new = pushes.iter().find(|id| **id != old).expect("new one");
    assert_eq!(
        err.to_string(),
        format!(
            "applied: 3 created, 0 replaced, 0 deleted; created {new} to replace {old}, but {old} \
             could not be deleted and still delivers (the bridge deduplicates what both send; the \
             next `apply` deletes it); then: DELETE /_apis/hooks/subscriptions/{old}: ADO answered \
             HTTP 403: {message}"
        )
    );

    s.ado.refuse_deletes(None);
    let out = s.ok(plan()).await.output;
    assert!(
        out.lines()
            .any(|l| l == format!("= keep    git.push in Payments (no filters), id {new}")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l == format!("- delete  git.push in {PROJECT_ID}, id {old}: duplicates {new}")),
        "{out}"
    );
    s.ok(SubscriptionsCommand::Apply { recreate: false }).await;
    let left: Vec<_> = s
        .ado
        .subscriptions()
        .iter()
        .map(|x| x["id"].clone())
        .collect();
    assert!(
        left.contains(&json!(new)) && !left.contains(&json!(old)),
        "{left:?}"
    );
}

#[tokio::test]
async fn a_subscription_of_this_url_that_cannot_be_read_is_warned_about_and_left_alone() {
    let s = setup(&shipped_mappings(), BRIDGE).await;
    // A shape this tool cannot read (probationRetries as text).
    let odd = s
        .ado
        .seed(json!({"eventType": "git.push", "probationRetries": "two",
        "publisherInputs": {"projectId": PROJECT_ID}, "consumerInputs": consumer_inputs(URL)}));
    let out = s
        .ok(SubscriptionsCommand::Apply { recreate: false })
        .await
        .output;
    let warning = out
        .lines()
        .find(|l| {
            l.starts_with(&format!(
                "warning: subscription {odd} (git.push in {PROJECT_ID})"
            ))
        })
        .unwrap_or_else(|| panic!("no warning in\n{out}"));
    assert!(
        warning.ends_with("it is left alone; no git.push subscription is created beside it"),
        "{warning}"
    );
    let pushes: Vec<_> = s
        .ado
        .subscriptions()
        .into_iter()
        .filter(|x| x["eventType"] == "git.push")
        .collect();
    assert_eq!(
        pushes.len(),
        1,
        "neither duplicated nor deleted: {pushes:?}"
    );
    assert_eq!(pushes[0]["id"], json!(odd));

    let out = s.ok(status(false, false)).await.output;
    assert!(
        out.contains(&format!(
            "warning: subscription {odd} (git.push) delivers to this URL but could not be read"
        )),
        "{out}"
    );
}
