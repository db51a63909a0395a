//! Rules of a bulk creation that hold before anything is stored.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::NewTask;

/// Why an item of a bulk request was not created.
// Also the `reason` label of the `tasks_skipped_total` metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum SkipReason {
    /// The project already held this external_id before the request.
    DuplicateExternalId,
    /// The external_id appeared earlier in the same request; the first occurrence won.
    DuplicateInRequest,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// For each item, the index of the earlier item with the same external_id, if any: only the
/// first occurrence of a key is written; later ones are answered with its task.
pub fn earlier_duplicates(tasks: &[NewTask]) -> Vec<Option<usize>> {
    let mut first_with_key = HashMap::with_capacity(tasks.len());
    tasks
        .iter()
        .enumerate()
        .map(|(index, task)| {
            let key = task.external_id.as_ref()?.as_str();
            match first_with_key.get(key) {
                Some(&first) => Some(first),
                None => {
                    first_with_key.insert(key, index);
                    None
                }
            }
        })
        .collect()
}

/// A batch's items in request order, with why each was skipped: `stored` holds the outcomes of
/// the first occurrences, in order; each repeat (see [`earlier_duplicates`]) answers with its
/// first occurrence's item, skipped as `repeated`.
pub fn in_request_order<T: Clone, R: Copy>(
    stored: impl IntoIterator<Item = (T, Option<R>)>,
    repeats: &[Option<usize>],
    repeated: R,
) -> Vec<(T, Option<R>)> {
    let mut stored = stored.into_iter();
    let mut outcomes: Vec<(T, Option<R>)> = Vec::with_capacity(repeats.len());
    for &repeat in repeats {
        outcomes.push(match repeat {
            None => stored.next().expect("one outcome per first occurrence"),
            Some(first) => (outcomes[first].0.clone(), Some(repeated)),
        });
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{TaskInput, Validate};

    fn task(external_id: Option<&str>) -> NewTask {
        TaskInput {
            title: Some("t".into()),
            description: None,
            status: None,
            priority_score: None,
            external_id: external_id.map(str::to_owned),
            milestone_id: None,
            parent_task_id: None,
            run_id: None,
            labels: None,
            depends_on: None,
            depends_on_external_ids: None,
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn repeated_keys_point_at_their_first_occurrence_and_keyless_items_never_repeat() {
        let tasks = [
            task(Some("a")),
            task(None),
            task(Some("b")),
            task(Some("a")),
            task(None),
            task(Some("b")),
            task(Some("a")),
        ];
        assert_eq!(
            earlier_duplicates(&tasks),
            [None, None, None, Some(0), None, Some(2), Some(0)]
        );
    }

    #[test]
    fn a_request_without_repeats_writes_every_item() {
        let tasks = [task(Some("a")), task(Some("A")), task(None)];
        assert_eq!(earlier_duplicates(&tasks), [None, None, None]);
    }
}
