//! What a tag statement is: the statements of the dialect as data, built by the parser and
//! the HTTP routes alike, printed back as SQL by `display.rs`.

use dyntag_core::Modality;
use dyntag_core::model::access::DatasetRole;
use dyntag_core::model::tags::Visibility;
use dyntag_core::scoring::scan::PreviewMode;
use dyntag_core::service::evaluate::metrics::Metric;
use dyntag_core::service::evaluate::supg::Target;
use dyntag_core::service::tags::GroupEdit;

/// A tag statement.
#[derive(Debug, Clone, PartialEq)]
pub enum TagStatement {
    CreateGroup {
        name: String,
        dataset: String,
        tags: Vec<String>,
        options: Vec<(String, String)>,
    },
    Edit {
        group: String,
        edit: GroupEdit,
        /// `AT REVISION n`: refuse the edit if the group moved past revision `n`.
        expected_revision: Option<u64>,
    },
    Publish {
        group: String,
        visibility: Option<Visibility>,
    },
    DropGroup {
        group: String,
    },
    ShowGroups {
        dataset: Option<String>,
    },
    ShowTags {
        group: String,
    },
    Use {
        dataset: String,
    },
    Preview {
        group: String,
        tag: String,
        modality: Modality,
        published: bool,
        mode: Option<PreviewMode>,
        threshold: Option<f64>,
        limit: Option<usize>,
    },
    Apply {
        group: String,
        dataset: String,
    },
    Update {
        group: String,
        dataset: String,
    },
    Remove {
        group: String,
        dataset: String,
    },
    ShowShareable {
        pattern: Option<String>,
    },
    ShowLabels {
        group: String,
    },
    ShowVersions {
        group: String,
    },
    ShowDatasetAccess {
        group: String,
    },
    ShowJobs,
    CreateUser {
        name: String,
        org_admin: bool,
        /// The user's token may only read (a login for BI tools).
        read_only: bool,
    },
    /// A further token for an existing user.
    CreateToken {
        user: String,
        read_only: bool,
    },
    DropUser {
        name: String,
    },
    Grant {
        role: DatasetRole,
        dataset: String,
        user: String,
    },
    Revoke {
        dataset: String,
        user: String,
    },
    ShowUsers,
    ShowRoles {
        dataset: Option<String>,
    },
    /// Act as another user (organisation admins only), or as oneself again (`None`).
    SetAuthorization {
        user: Option<String>,
    },
    Evaluate {
        group: String,
        tag: String,
        sample: Option<usize>,
    },
    Suggest {
        group: String,
        tag: String,
        modality: Modality,
    },
    LabelEvaluation {
        group: String,
        tag: String,
        labels: EvaluationLabels,
    },
    RemoveEvaluationItems {
        group: String,
        tag: String,
        asset_ids: Vec<String>,
    },
    ShowEvaluation {
        group: String,
        tag: String,
    },
    SaveThreshold {
        group: String,
        tag: String,
        metric: Metric,
    },
    SetTarget {
        group: String,
        tag: String,
        target: Target,
    },
}

/// Ground truth for an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum EvaluationLabels {
    Items {
        asset_ids: Vec<String>,
        positive: bool,
    },
    /// A labels file named in the statement: a path of the machine running `dyntag` from
    /// the command line, a file under the data root's `files/` folder from a remote caller.
    File { path: String },
    /// A labels file sent with the request (the HTTP API).
    Sent {
        file: dyntag_core::service::evaluate::LabelsFile,
    },
    /// The configured LLM looks at each item's image.
    Llm,
}
