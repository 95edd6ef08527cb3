//! The normalized `ado` view that rules see: the same field names for every
//! event family, `null` where an event has no such thing.

use serde::Serialize;
use serde_json::Value;

/// Normalized facts about one delivery. Ids keep the JSON type ADO sends
/// (numbers for builds, releases and pull requests, strings for GUIDs).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdoView {
    /// The envelope's `eventType`.
    pub event_type: String,
    /// The organization (`resourceContainers.account`).
    pub organization: Option<Organization>,
    /// Project the event belongs to.
    pub project: Option<IdName>,
    /// Git repository.
    pub repository: Option<IdName>,
    /// Full ref, e.g. `refs/heads/release/2.1`.
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// Short branch name, e.g. `release/2.1`; a pull request's source branch.
    pub branch: Option<String>,
    /// The head commit.
    pub commit: Option<Commit>,
    /// All commits the event lists (newest first, as ADO sends them).
    pub commits: Vec<Commit>,
    /// Build (classic or YAML pipeline build).
    pub build: Option<Build>,
    /// Pull request.
    pub pull_request: Option<PullRequest>,
    /// Classic release.
    pub release: Option<IdName>,
    /// Release environment, or a pipeline's deployment environment.
    pub environment: Option<Environment>,
    /// Approval (classic release or pipeline check).
    pub approval: Option<Approval>,
    /// YAML pipeline.
    pub pipeline: Option<IdName>,
    /// YAML pipeline run.
    pub run: Option<Run>,
    /// YAML pipeline stage.
    pub stage: Option<Stage>,
    /// Who caused the event, where ADO says.
    pub actor: Option<Actor>,
    /// Build tags.
    pub tags: Vec<String>,
}

/// ADO organization.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    /// Account GUID.
    pub id: Option<String>,
    /// Base URL such as `https://dev.azure.com/contoso/`.
    pub url: Option<String>,
}

/// Something with an id and a name.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct IdName {
    /// Id as ADO sends it.
    pub id: Value,
    /// Display name.
    pub name: Option<String>,
}

/// A commit.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Commit {
    /// Full SHA.
    pub id: String,
    /// Commit message.
    pub message: Option<String>,
    /// Author's display name.
    pub author: Option<String>,
    /// Author's e-mail.
    pub author_email: Option<String>,
}

/// A build.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Build {
    /// Build id.
    pub id: Value,
    /// Build number, e.g. `20261125.3`.
    pub number: Option<String>,
    /// `succeeded`, `partiallySucceeded`, `failed`, `canceled` ...
    pub result: Option<String>,
    /// Build definition.
    pub definition: Option<IdName>,
}

/// A pull request.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PullRequest {
    /// Pull request id.
    pub id: Value,
    /// `active`, `completed`, `abandoned`.
    pub status: Option<String>,
    /// Short source branch.
    pub source_branch: Option<String>,
    /// Short target branch.
    pub target_branch: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Merge status, e.g. `succeeded`, `conflicts`.
    pub merge_status: Option<String>,
}

/// A deployment environment.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Environment {
    /// Environment name, e.g. `Production`.
    pub name: Option<String>,
    /// Environment id.
    pub id: Value,
    /// Deployment status where the event carries one.
    pub status: Option<String>,
}

/// An approval.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Approval {
    /// Approval id: an int for classic releases, a GUID for pipeline checks.
    pub id: Value,
    /// `pending`, `approved`, `rejected` ...
    pub status: Option<String>,
    /// `preDeploy` / `postDeploy` for classic releases.
    #[serde(rename = "type")]
    pub approval_type: Option<String>,
}

/// A YAML pipeline run.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Run {
    /// Run id (equal to the build id).
    pub id: Value,
    /// `inProgress`, `canceling`, `completed`.
    pub state: Option<String>,
    /// `succeeded`, `failed`, `canceled`.
    pub result: Option<String>,
}

/// A YAML pipeline stage.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Stage {
    /// Stage name, e.g. `deploy_prod`.
    pub name: Option<String>,
    /// `notStarted`, `waiting`, `running`, `completed`.
    pub state: Option<String>,
    /// `succeeded`, `failed`, `rejected`, `skipped`, `canceled`.
    pub result: Option<String>,
}

/// A person or service identity.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    /// Display name.
    pub name: Option<String>,
    /// Unique name (usually an e-mail).
    pub unique_name: Option<String>,
}

/// Reads a string at a path of object keys.
pub(crate) fn str_at(v: &Value, path: &[&str]) -> Option<String> {
    at(v, path)?.as_str().map(str::to_owned)
}

/// Reads any non-null value at a path of object keys (or array indexes).
pub(crate) fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = match cur {
            Value::Array(items) => items.get(key.parse::<usize>().ok()?)?,
            _ => cur.get(*key)?,
        };
    }
    (!cur.is_null()).then_some(cur)
}

/// An id at `path`, or `Null`.
pub(crate) fn id_at(v: &Value, path: &[&str]) -> Value {
    at(v, path).cloned().unwrap_or(Value::Null)
}

/// `{id, name}` from an object at `path` when it has either.
pub(crate) fn id_name_at(v: &Value, path: &[&str]) -> Option<IdName> {
    let obj = at(v, path)?;
    let id = id_at(obj, &["id"]);
    let name = str_at(obj, &["name"]);
    (!id.is_null() || name.is_some()).then_some(IdName { id, name })
}

/// An identity object (`displayName`, `uniqueName`).
pub(crate) fn actor_at(v: &Value, path: &[&str]) -> Option<Actor> {
    let obj = at(v, path)?;
    let name = str_at(obj, &["displayName"]);
    let unique_name = str_at(obj, &["uniqueName"]);
    (name.is_some() || unique_name.is_some()).then_some(Actor { name, unique_name })
}

/// `release/2.1` from `refs/heads/release/2.1`; `None` for tags and other refs.
pub(crate) fn short_branch(full_ref: &str) -> Option<String> {
    full_ref.strip_prefix("refs/heads/").map(str::to_owned)
}
