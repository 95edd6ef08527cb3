use std::io::Write;

use super::*;

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

#[test]
fn a_pat_is_basic_auth_with_an_empty_user_and_a_token_is_bearer() {
    let pat = AdoAuth::resolve(None, None, &env(&[("AZURE_DEVOPS_PAT", "abc\n")])).expect("pat");
    assert_eq!(pat.header(), format!("Basic {}", STANDARD.encode(":abc")));
    let both = env(&[
        ("AZURE_DEVOPS_PAT", "abc"),
        ("AZURE_DEVOPS_TOKEN", "ey.tok"),
    ]);
    let token = AdoAuth::resolve(None, None, &both).expect("token");
    assert_eq!(token.header(), "Bearer ey.tok");
}

#[test]
fn files_come_before_the_environment_and_are_trimmed() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(file, "  from-file  ").expect("write");
    let path = file.path().to_owned();
    let vars = env(&[
        ("AZURE_DEVOPS_PAT", "abc"),
        ("AZURE_DEVOPS_TOKEN", "ey.tok"),
    ]);
    let auth = AdoAuth::resolve(Some(&path), None, &vars).expect("token file");
    assert_eq!(auth.header(), "Bearer from-file");
    let auth = AdoAuth::resolve(None, Some(&path), &env(&[])).expect("pat file");
    assert_eq!(
        auth.header(),
        format!("Basic {}", STANDARD.encode(":from-file"))
    );
}

#[test]
fn missing_or_empty_credentials_are_explained() {
    let none = AdoAuth::resolve(None, None, &env(&[])).expect_err("nothing given");
    assert!(none.contains("AZURE_DEVOPS_PAT"), "{none}");
    let empty =
        AdoAuth::resolve(None, None, &env(&[("AZURE_DEVOPS_TOKEN", " ")])).expect_err("empty");
    assert_eq!(empty, "AZURE_DEVOPS_TOKEN is empty");
    let gone = PathBuf::from("/nonexistent/pat");
    let missing = AdoAuth::resolve(None, Some(&gone), &env(&[])).expect_err("no file");
    assert!(
        missing.starts_with("cannot read /nonexistent/pat"),
        "{missing}"
    );
}

#[test]
fn the_organization_must_be_a_url() {
    for bad in ["contoso", "ftp://dev.azure.com/contoso", "mailto:x@y"] {
        let auth = AdoAuth::Pat(Secret::new("x"));
        let err = AdoClient::new(bad, auth).expect_err(bad);
        assert!(err.contains("is not a URL such as"), "{err}");
    }
}
