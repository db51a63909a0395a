//! A task borrowed from where it is read (a list's row), written as JSON without building a
//! [`Task`]: lists write 100 to 1000 tasks per answer, and serde's per-field work (escaping each
//! key again, formatting through `fmt`) was a fifth of a list's CPU. The JSON is byte for byte
//! what serde writes for the same [`Task`] (tested below), field order included.

use chrono::{DateTime, Utc};

use super::{Task, TaskStatus, timestamp};

/// A [`Task`]'s fields, its strings borrowed (but the labels: few, and sqlx decodes arrays).
#[derive(Debug)]
pub struct TaskView<'a> {
    pub id: i64,
    pub project_id: i64,
    pub milestone_id: Option<i64>,
    pub parent_task_id: Option<i64>,
    pub run_id: Option<i64>,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub status: TaskStatus,
    pub priority_score: i32,
    pub external_id: Option<&'a str>,
    pub labels: Vec<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub claimed_by: Option<&'a str>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub claim_expires_at: Option<DateTime<Utc>>,
    pub depends_on: Vec<i64>,
    pub blocked_by: i32,
}

/// Writes `{"a":…,"b":…}` for the named fields of `$view`, in the order given: [`Task`]'s
/// field order (a field left out or out of order fails the test below).
macro_rules! write_object {
    ($json:ident, $view:ident; $first:ident $(, $field:ident)*) => {{
        $json.extend_from_slice(concat!("{\"", stringify!($first), "\":").as_bytes());
        $view.$first.write_json($json)?;
        $(
            $json.extend_from_slice(concat!(",\"", stringify!($field), "\":").as_bytes());
            $view.$field.write_json($json)?;
        )*
        $json.push(b'}');
    }};
}

impl TaskView<'_> {
    /// Appends the task's JSON, exactly as serde writes the [`Task`].
    pub fn write_json(&self, json: &mut Vec<u8>) -> std::io::Result<()> {
        write_object!(json, self; id, project_id, milestone_id, parent_task_id, run_id, title,
            description, status, priority_score, external_id, labels, version, created_at,
            updated_at, completed_at, claimed_by, claimed_at, claim_expires_at, depends_on,
            blocked_by);
        Ok(())
    }
}

impl<'a> From<&'a Task> for TaskView<'a> {
    fn from(task: &'a Task) -> Self {
        // Destructured whole: a field added to `Task` does not compile until the view has it.
        let Task {
            id,
            project_id,
            milestone_id,
            parent_task_id,
            run_id,
            title,
            description,
            status,
            priority_score,
            external_id,
            labels,
            version,
            created_at,
            updated_at,
            completed_at,
            claimed_by,
            claimed_at,
            claim_expires_at,
            depends_on,
            blocked_by,
        } = task;
        TaskView {
            id: *id,
            project_id: *project_id,
            milestone_id: *milestone_id,
            parent_task_id: *parent_task_id,
            run_id: *run_id,
            title,
            description: description.as_deref(),
            status: *status,
            priority_score: *priority_score,
            external_id: external_id.as_deref(),
            labels: labels.clone(),
            version: *version,
            created_at: *created_at,
            updated_at: *updated_at,
            completed_at: *completed_at,
            claimed_by: claimed_by.as_deref(),
            claimed_at: *claimed_at,
            claim_expires_at: *claim_expires_at,
            depends_on: depends_on.clone(),
            blocked_by: *blocked_by,
        }
    }
}

/// A value's JSON, as serde_json writes it.
trait WriteJson {
    fn write_json(&self, json: &mut Vec<u8>) -> std::io::Result<()>;
}

/// Numbers and strings, written by serde_json itself.
macro_rules! leaf {
    ($($type:ty),*) => {$(
        impl WriteJson for $type {
            fn write_json(&self, json: &mut Vec<u8>) -> std::io::Result<()> {
                Ok(serde_json::to_writer(json, self)?)
            }
        }
    )*};
}
leaf!(i64, i32, &str, String);

impl WriteJson for TaskStatus {
    fn write_json(&self, json: &mut Vec<u8>) -> std::io::Result<()> {
        self.as_str().write_json(json)
    }
}

impl WriteJson for DateTime<Utc> {
    fn write_json(&self, json: &mut Vec<u8>) -> std::io::Result<()> {
        timestamp::write_json(self, json)
    }
}

impl<T: WriteJson> WriteJson for Option<T> {
    fn write_json(&self, json: &mut Vec<u8>) -> std::io::Result<()> {
        match self {
            Some(value) => value.write_json(json),
            None => {
                json.extend_from_slice(b"null");
                Ok(())
            }
        }
    }
}

impl<T: WriteJson> WriteJson for Vec<T> {
    fn write_json(&self, json: &mut Vec<u8>) -> std::io::Result<()> {
        json.push(b'[');
        for (index, item) in self.iter().enumerate() {
            if index > 0 {
                json.push(b',');
            }
            item.write_json(json)?;
        }
        json.push(b']');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn task() -> Task {
        let at = |seconds, nanos| Utc.timestamp_opt(seconds, nanos).unwrap();
        Task {
            id: i64::MAX,
            project_id: 1,
            milestone_id: Some(-3),
            parent_task_id: Some(4),
            run_id: Some(5),
            title: "quote \" backslash \\ tab \t nul \u{0} é 😀 </script>".into(),
            description: Some("line\nbreak \u{1f} \u{7f}".into()),
            status: TaskStatus::InProgress,
            priority_score: 10_000,
            external_id: Some("wf-1:step:0".into()),
            labels: vec!["a".into(), "b\"c".into(), String::new()],
            version: i32::MIN,
            created_at: at(0, 0),
            updated_at: at(1_700_000_000, 123_456_000),
            completed_at: Some(at(253_402_300_799, 999_999_000)),
            claimed_by: Some("agent-7".into()),
            claimed_at: Some(at(1_700_000_000, 120_000_000)),
            claim_expires_at: Some(at(-62_135_596_800, 1)),
            depends_on: vec![1, -2, i64::MIN],
            blocked_by: 2,
        }
    }

    fn written(task: &Task) -> String {
        let mut json = Vec::new();
        TaskView::from(task).write_json(&mut json).unwrap();
        String::from_utf8(json).unwrap()
    }

    #[test]
    fn a_view_writes_exactly_the_json_serde_writes_for_its_task() {
        let full = task();
        let empty = Task {
            milestone_id: None,
            parent_task_id: None,
            run_id: None,
            description: None,
            external_id: None,
            labels: Vec::new(),
            completed_at: None,
            claimed_by: None,
            claimed_at: None,
            claim_expires_at: None,
            depends_on: Vec::new(),
            ..task()
        };
        let far = Task {
            // Beyond year 9999 the timestamp is left to chrono.
            created_at: Utc.timestamp_opt(300_000_000_000, 5).unwrap(),
            ..task()
        };
        for task in [full, empty, far] {
            assert_eq!(written(&task), serde_json::to_string(&task).unwrap());
        }
    }
}
