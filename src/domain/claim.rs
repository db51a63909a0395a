//! Claims: an agent takes the most urgent claimable task for a lease, keeps it with heartbeats
//! and gives it back (or finishes it with a PATCH).

use std::time::Duration;

use serde::Deserialize;
use utoipa::ToSchema;

use super::text::{labels_schema, worker_id_schema};
use super::{JsonInteger, Label, TaskStatus, Validate, Validator, WorkerId, parse_id};

/// How long a claim lasts without a heartbeat: 1 s to 24 h, default 300 s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease(Duration);

impl Lease {
    pub const DEFAULT_SECS: u64 = 300;
    pub const MAX_SECS: i64 = 86_400;

    pub fn parse(secs: i64) -> Result<Self, String> {
        if (1..=Self::MAX_SECS).contains(&secs) {
            Ok(Self(Duration::from_secs(secs as u64)))
        } else {
            Err(format!("must be between 1 and {} seconds", Self::MAX_SECS))
        }
    }

    pub fn secs(self) -> f64 {
        self.0.as_secs_f64()
    }
}

impl Default for Lease {
    fn default() -> Self {
        Self(Duration::from_secs(Self::DEFAULT_SECS))
    }
}

fn lease(v: &mut Validator, secs: Option<JsonInteger>) -> Option<Lease> {
    v.check_optional("lease_secs", secs, |s| Lease::parse(s.0))
        .map(Option::unwrap_or_default)
}

/// Body of `POST /projects/{project_id}/tasks:claim`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"worker_id": "agent-7", "lease_secs": 300, "labels": ["backend"]}))]
pub struct ClaimInput {
    /// Who claims: 1 to 255 characters, one line. Heartbeats, releases and PATCHes with
    /// `worker_id` must name the same worker.
    #[schema(required = true, schema_with = worker_id_schema)]
    pub worker_id: Option<String>,
    /// The lease, 1 to 86 400 seconds (default 300): unless extended by a heartbeat, the task
    /// is claimable again after it.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 86400)]
    pub lease_secs: Option<JsonInteger>,
    /// Statuses a task may have to be claimed (default `["open"]`). A task whose lease lapsed
    /// counts as `open`.
    #[schema(min_items = 1)]
    pub statuses: Option<Vec<TaskStatus>>,
    /// Only tasks carrying every one of these labels.
    #[schema(schema_with = labels_schema)]
    pub labels: Option<Vec<String>>,
    /// Only tasks of this milestone.
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub milestone_id: Option<JsonInteger>,
    /// Only tasks of this workflow run.
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub run_id: Option<JsonInteger>,
}

/// A validated claim request.
#[derive(Clone, Debug)]
pub struct Claim {
    pub worker: WorkerId,
    pub lease: Lease,
    pub statuses: Vec<TaskStatus>,
    pub labels: Vec<Label>,
    pub milestone_id: Option<i64>,
    pub run_id: Option<i64>,
}

impl Claim {
    /// Whether the default claim (open tasks only) is asked for: that one is served by the
    /// index of claimable tasks.
    pub fn open_only(&self) -> bool {
        self.statuses == [TaskStatus::Open]
    }
}

impl Validate for ClaimInput {
    type Valid = Claim;
    fn validate_into(self, v: &mut Validator) -> Option<Claim> {
        let worker = v
            .required("worker_id", self.worker_id)
            .and_then(|w| v.check("worker_id", WorkerId::parse(w)));
        let lease = lease(v, self.lease_secs);
        let mut statuses = self.statuses.unwrap_or_else(|| vec![TaskStatus::Open]);
        if statuses.is_empty() {
            v.fail("statuses", "must name at least one status");
        }
        statuses.dedup();
        let labels = match self.labels {
            Some(raw) => super::task::validate_labels(v, raw),
            None => Some(Vec::new()),
        };
        let milestone_id = v.check_optional("milestone_id", self.milestone_id, |id| parse_id(id.0));
        let run_id = v.check_optional("run_id", self.run_id, |id| parse_id(id.0));
        Some(Claim {
            worker: worker?,
            lease: lease?,
            statuses,
            labels: labels?,
            milestone_id: milestone_id?,
            run_id: run_id?,
        })
    }
}

/// Body of `POST …/tasks/{task_id}:heartbeat`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"worker_id": "agent-7", "lease_secs": 300}))]
pub struct HeartbeatInput {
    /// The worker holding the claim.
    #[schema(required = true, schema_with = worker_id_schema)]
    pub worker_id: Option<String>,
    /// The new lease from now, 1 to 86 400 seconds (default 300).
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 86400)]
    pub lease_secs: Option<JsonInteger>,
}

/// A validated heartbeat: who, and the lease from now.
#[derive(Clone, Debug)]
pub struct Heartbeat {
    pub worker: WorkerId,
    pub lease: Lease,
}

impl Validate for HeartbeatInput {
    type Valid = Heartbeat;
    fn validate_into(self, v: &mut Validator) -> Option<Heartbeat> {
        let worker = v
            .required("worker_id", self.worker_id)
            .and_then(|w| v.check("worker_id", WorkerId::parse(w)));
        let lease = lease(v, self.lease_secs);
        Some(Heartbeat {
            worker: worker?,
            lease: lease?,
        })
    }
}

/// Body of `POST …/tasks/{task_id}:release`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"worker_id": "agent-7"}))]
pub struct ReleaseInput {
    /// The worker holding the claim.
    #[schema(required = true, schema_with = worker_id_schema)]
    pub worker_id: Option<String>,
}

impl Validate for ReleaseInput {
    type Valid = WorkerId;
    fn validate_into(self, v: &mut Validator) -> Option<WorkerId> {
        v.required("worker_id", self.worker_id)
            .and_then(|w| v.check("worker_id", WorkerId::parse(w)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_one_second_to_one_day() {
        assert!(Lease::parse(0).is_err());
        assert!(Lease::parse(1).is_ok());
        assert!(Lease::parse(86_400).is_ok());
        assert!(Lease::parse(86_401).is_err());
        assert_eq!(Lease::default().secs(), 300.0);
    }

    #[test]
    fn a_claim_defaults_to_open_tasks_and_a_five_minute_lease() {
        let input: ClaimInput = serde_json::from_str(r#"{"worker_id": "a"}"#).unwrap();
        let claim = input.validate().unwrap();
        assert!(claim.open_only());
        assert_eq!(claim.lease, Lease::default());
    }

    #[test]
    fn a_claim_without_a_worker_or_with_no_statuses_is_refused() {
        let input: ClaimInput = serde_json::from_str(r#"{"statuses": []}"#).unwrap();
        let error = input.validate().unwrap_err().to_string();
        assert_eq!(error, "2 fields are invalid");
    }
}
