//! `build.complete`, in both the 1.0 (XAML-era) and 2.0 resource shapes.

use serde_json::Value;

use super::view::{AdoView, Build, Commit, actor_at, id_at, id_name_at, short_branch, str_at};

/// Fills the view for a completed build.
pub(crate) fn complete(resource: &Value, view: &mut AdoView) {
    // 2.0 has `result` + `sourceBranch` + `sourceVersion`; 1.0 has only
    // `status` (which then is the result) and `sourceGetVersion`
    // ("LG:refs/heads/main:<sha>"). Decide by shape, not by the declared
    // version, so a mislabelled payload still normalizes.
    let (git_ref, sha) = match (
        str_at(resource, &["sourceBranch"]),
        str_at(resource, &["sourceVersion"]),
    ) {
        (None, None) => str_at(resource, &["sourceGetVersion"])
            .as_deref()
            .and_then(parse_source_get_version)
            .map_or((None, None), |(r, s)| (Some(r), Some(s))),
        other => other,
    };
    let result = str_at(resource, &["result"]).or_else(|| {
        // In 1.0, `status` carries the outcome ("succeeded", "failed" ...).
        str_at(resource, &["status"]).filter(|s| s != "completed" && s != "inProgress")
    });
    view.build = Some(Build {
        id: id_at(resource, &["id"]),
        number: str_at(resource, &["buildNumber"]),
        result,
        definition: id_name_at(resource, &["definition"]),
    });
    view.branch = git_ref.as_deref().and_then(short_branch);
    view.git_ref = git_ref;
    view.commit = sha.map(|id| Commit {
        id,
        ..Commit::default()
    });
    if let Some(project) = id_name_at(resource, &["project"]) {
        view.project = Some(project);
    }
    view.repository = id_name_at(resource, &["repository"]);
    view.actor = actor_at(resource, &["requestedFor"])
        .or_else(|| actor_at(resource, &["requests", "0", "requestedFor"]));
    view.tags = resource
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
}

/// `("refs/heads/main", "<sha>")` from `LG:refs/heads/main:<sha>`.
fn parse_source_get_version(v: &str) -> Option<(String, String)> {
    let rest = v.strip_prefix("LG:")?;
    let (git_ref, sha) = rest.rsplit_once(':')?;
    (!git_ref.is_empty() && !sha.is_empty()).then(|| (git_ref.to_owned(), sha.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::parse_source_get_version;

    #[test]
    fn source_get_version() {
        assert_eq!(
            parse_source_get_version("LG:refs/heads/release/2.1:abc123"),
            Some(("refs/heads/release/2.1".into(), "abc123".into()))
        );
        assert_eq!(parse_source_get_version("C123"), None);
        assert_eq!(parse_source_get_version("LG::abc"), None);
    }
}
