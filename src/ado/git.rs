//! `git.push` and `git.pullrequest.*`.

use serde_json::Value;

use super::view::{
    AdoView, Commit, PullRequest, actor_at, at, id_at, id_name_at, short_branch, str_at,
};

/// Fills the view for a push.
pub(crate) fn push(resource: &Value, view: &mut AdoView) {
    repository(resource, view);
    view.actor = actor_at(resource, &["pushedBy"]);
    view.commits = commits(resource);
    if let Some(update) = at(resource, &["refUpdates", "0"]) {
        view.git_ref = str_at(update, &["name"]);
        view.branch = view.git_ref.as_deref().and_then(short_branch);
        // The head is the commit the ref now points at, wherever it sits in
        // `commits[]`; a deleted ref (all-zero id) has no head commit.
        view.commit = str_at(update, &["newObjectId"])
            .filter(|sha| !sha.bytes().all(|b| b == b'0'))
            .map(|sha| {
                view.commits
                    .iter()
                    .find(|c| c.id.eq_ignore_ascii_case(&sha))
                    .cloned()
                    .unwrap_or(Commit {
                        id: sha,
                        ..Commit::default()
                    })
            });
    }
}

/// Fills the view for a pull request event.
pub(crate) fn pull_request(resource: &Value, view: &mut AdoView) {
    repository(resource, view);
    view.actor = actor_at(resource, &["createdBy"]);
    view.commits = commits(resource);
    let source_ref = str_at(resource, &["sourceRefName"]);
    let target_ref = str_at(resource, &["targetRefName"]);
    view.branch = source_ref.as_deref().and_then(short_branch);
    view.git_ref = source_ref;
    view.commit = str_at(resource, &["lastMergeSourceCommit", "commitId"]).map(|sha| {
        view.commits
            .iter()
            .find(|c| c.id.eq_ignore_ascii_case(&sha) && c.message.is_some())
            .cloned()
            .unwrap_or(Commit {
                id: sha,
                ..Commit::default()
            })
    });
    view.pull_request = Some(PullRequest {
        id: id_at(resource, &["pullRequestId"]),
        status: str_at(resource, &["status"]),
        source_branch: view.branch.clone(),
        target_branch: target_ref.as_deref().and_then(short_branch),
        title: str_at(resource, &["title"]),
        merge_status: str_at(resource, &["mergeStatus"]),
    });
}

fn repository(resource: &Value, view: &mut AdoView) {
    view.repository = id_name_at(resource, &["repository"]);
    if let Some(project) = id_name_at(resource, &["repository", "project"]) {
        view.project = Some(project);
    }
}

fn commits(resource: &Value) -> Vec<Commit> {
    resource
        .get("commits")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|c| {
                    Some(Commit {
                        id: str_at(c, &["commitId"])?,
                        message: str_at(c, &["comment"]),
                        author: str_at(c, &["author", "name"]),
                        author_email: str_at(c, &["author", "email"]),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}
