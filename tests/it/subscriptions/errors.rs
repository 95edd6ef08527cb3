//! How ADO's refusals, bad usage and a sign-in page are reported, through
//! the real binary where the exit status matters.

use super::*;

const BIN: &str = env!("CARGO_BIN_EXE_ado-temporal-bridge");

/// Runs the real binary with only the given environment.
async fn bin(s: &Setup, pat: &str, args: &[&str]) -> (i32, String, String) {
    let org = s.ado.organization();
    let config = s.config.display().to_string();
    let mut all = vec!["subscriptions", "--config", &config];
    all.extend_from_slice(args);
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.env_clear().env("AZURE_DEVOPS_PAT", pat).args(&all);
    if !args.contains(&"--no-org") {
        cmd.env("AZURE_DEVOPS_ORG_URL", org);
    }
    let out = cmd.output().await.expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn ado_errors_are_clear_and_exit_non_zero() {
    let s = setup(&shipped_mappings(), BRIDGE).await;
    let common = ["--bridge-url", BRIDGE, "--project", PROJECT];

    let (code, _, err) = bin(&s, "wrong-pat", &[&["plan"][..], &common].concat()).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("GET /_apis/projects/Payments: ADO did not accept the credentials (HTTP 401)"),
        "{err}"
    );

    let (code, _, err) = bin(
        &s,
        PAT,
        &["plan", "--bridge-url", BRIDGE, "--project", "Nope"],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(
            "ADO answered HTTP 404: TF200016: The following project does not exist: Nope."
        ),
        "{err}"
    );

    let message = "The consumer input 'url' must use https when basic authentication is used.";
    s.ado.refuse_writes(400, message);
    let (code, out, err) = bin(&s, PAT, &[&["apply"][..], &common].concat()).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!(
            "applied: 0 created, 0 replaced, 0 deleted; then: POST /_apis/hooks/subscriptions: ADO answered HTTP 400: {message}"
        )),
        "{err}"
    );

    let (code, out, _) = bin(
        &s,
        PAT,
        &[&["plan", "--detailed-exitcode"][..], &common].concat(),
    )
    .await;
    assert_eq!(code, 2, "changes pending: {out}");

    let (code, _, err) = bin(&s, PAT, &["plan", "--bridge-url", BRIDGE]).await;
    assert_eq!(code, 64, "no project anywhere: {err}");
    assert!(
        err.contains("no projects: name them with --project"),
        "{err}"
    );

    let (code, _, err) = bin(&s, PAT, &["plan", "--bogus"]).await;
    assert_eq!(code, 64, "a usage error is not \"changes\" (2): {err}");
    assert!(err.contains("unexpected argument '--bogus'"), "{err}");

    let (code, _, err) = bin(&s, "", &[&["status"][..], &common].concat()).await;
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("AZURE_DEVOPS_PAT is empty"), "{err}");
}

#[tokio::test]
async fn a_sign_in_page_with_200_is_reported_as_refused_credentials() {
    let sign_in = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_raw(
            "<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head></html>",
            "text/html; charset=utf-8",
        ))
        .mount(&sign_in)
        .await;
    let mut s = setup(&shipped_mappings(), BRIDGE).await;
    s.args.organization = Some(format!("{}/fabrikam", sign_in.uri()));
    let err = s.run(plan()).await.expect_err("not JSON");
    assert_eq!(err.exit_code(), 1);
    assert!(
        err.to_string().starts_with(
            "GET /_apis/projects/Payments: ADO did not accept the credentials (HTTP 200 with a \
             web page, likely ADO's sign-in page, instead of JSON)"
        ),
        "{err}"
    );
}
