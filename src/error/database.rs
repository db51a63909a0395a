//! How database failures read as API errors: unknown references, constraint violations,
//! unavailability and conflicts between transactions.

use super::{ApiError, FieldError};

/// A resource that a request body names by id (`milestone_id`), which must exist in the same
/// project. Later resources add their references here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    Milestone,
    ParentTask,
    Run,
    /// A task named in `depends_on`.
    Dependency,
    /// A task named in `depends_on_external_ids`.
    DependencyKey,
}

impl Reference {
    /// The body field that holds the id.
    pub fn field(self) -> &'static str {
        match self {
            Self::Milestone => "milestone_id",
            Self::ParentTask => "parent_task_id",
            Self::Run => "run_id",
            Self::Dependency => "depends_on",
            Self::DependencyKey => "depends_on_external_ids",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Milestone => "milestone",
            Self::ParentTask => "task",
            Self::Run => "run",
            Self::Dependency => "task",
            Self::DependencyKey => "task",
        }
    }

    /// The foreign key (named in the migrations) that refuses an unknown id.
    pub fn from_constraint(constraint: &str) -> Option<Self> {
        match constraint {
            "tasks_milestone_fkey" => Some(Self::Milestone),
            "tasks_parent_task_fkey" => Some(Self::ParentTask),
            "tasks_run_fkey" => Some(Self::Run),
            _ => None,
        }
    }

    /// The problem entry for this reference of the item at `item` (`""` for a body,
    /// `/tasks/3` for a bulk item) naming nothing.
    pub fn unknown_at(self, item: &str) -> FieldError {
        FieldError::new(
            format!("{item}/{}", self.field()),
            match self {
                Self::DependencyKey => {
                    "no task with this external_id in the project or the request".to_owned()
                }
                _ => format!("no {} with this id in the project", self.noun()),
            },
        )
    }
}

/// Constraint names from the migrations, mapped to what the client did wrong.
fn constraint_error(constraint: &str) -> Option<ApiError> {
    if let Some(reference) = Reference::from_constraint(constraint) {
        return Some(ApiError::UnknownReference(vec![reference.unknown_at("")]));
    }
    Some(match constraint {
        "projects_tenant_slug_key" => {
            ApiError::Conflict("a project with this slug already exists".into())
        }
        "milestones_project_slug_key" => {
            ApiError::Conflict("a milestone with this slug already exists in the project".into())
        }
        "tasks_not_own_parent_check" => {
            ApiError::Conflict("parent_task_id would make the task its own ancestor".into())
        }
        _ => return None,
    })
}

/// Whether a database error means "not available right now" (a 503 worth retrying): the pool
/// timed out or closed, the connection broke, or the server is shutting down, refusing
/// connections (class 08, 57P01-57P03, 53300), cancelled the statement (57014), or chose this
/// transaction as a deadlock's or serialisation conflict's victim (40P01, 40001).
fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            code.starts_with("08")
                || code.starts_with("57P")
                || ["57014", "53300", "40P01", "40001"].contains(&code.as_ref())
        }
        _ => false,
    }
}

/// A pure translation: logging and metrics happen when the error is answered ([`ApiError::record`]).
impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        let constraint = error.as_database_error().and_then(|db| db.constraint());
        if let Some(mapped) = constraint.and_then(constraint_error) {
            return mapped;
        }
        if is_unavailable(&error) {
            Self::DatabaseUnavailable(error)
        } else {
            Self::Database(error)
        }
    }
}
