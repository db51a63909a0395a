//! Dependencies between tasks: a task waits for others, named by id or by external_id.

use std::collections::HashMap;

use utoipa::openapi::schema::{ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{Array, RefOr, Schema};

use super::{ExternalId, JsonInteger, NewTask, Validator, parse_id};

/// `depends_on`: up to [`Dependencies::MAX`] task ids.
pub fn dependency_ids_schema() -> Array {
    let id = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1));
    dependencies_schema(id.into())
}

/// `depends_on_external_ids`: up to [`Dependencies::MAX`] external_ids.
pub fn dependency_keys_schema() -> Array {
    let key = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(ExternalId::MAX_CHARS))
        .pattern(Some("^[!-~]+$"));
    dependencies_schema(key.into())
}

fn dependencies_schema(item: RefOr<Schema>) -> Array {
    ArrayBuilder::new()
        .items(item)
        .max_items(Some(Dependencies::MAX))
        .build()
}

/// The tasks a new task waits for, as the request named them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dependencies {
    /// By id (distinct).
    pub ids: Vec<i64>,
    /// By external_id (distinct): items of the same bulk request, or stored tasks.
    pub external_ids: Vec<ExternalId>,
}

impl Dependencies {
    /// At most this many of each kind per task: a plan step rarely waits for more, and the
    /// bound keeps every dependency check a few index probes.
    pub const MAX: usize = 100;

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.external_ids.is_empty()
    }

    pub fn validate(
        v: &mut Validator,
        ids: Option<Vec<JsonInteger>>,
        external_ids: Option<Vec<String>>,
    ) -> Option<Self> {
        let ids = validate_ids(v, "depends_on", ids.unwrap_or_default());
        let external_ids = validate_external_ids(v, external_ids.unwrap_or_default());
        Some(Self {
            ids: ids?,
            external_ids: external_ids?,
        })
    }
}

/// A list of task ids (`depends_on` of a create or a PATCH): positive, at most
/// [`Dependencies::MAX`], duplicates dropped.
pub fn validate_ids(v: &mut Validator, field: &str, raw: Vec<JsonInteger>) -> Option<Vec<i64>> {
    v.check_distinct(field, raw, (Dependencies::MAX, "tasks"), |id| {
        parse_id(id.0)
    })
}

fn validate_external_ids(v: &mut Validator, raw: Vec<String>) -> Option<Vec<ExternalId>> {
    let limit = (Dependencies::MAX, "tasks");
    v.check_distinct("depends_on_external_ids", raw, limit, ExternalId::parse)
}

/// The index of an item that waits, through items of the same request, for itself; `None`
/// when the request's dependencies form no cycle. Items are matched by external_id (the first
/// item holding a key; later ones are skipped as duplicates anyway).
pub fn dependency_cycle(items: &[&NewTask]) -> Option<usize> {
    let mut by_key: HashMap<&str, usize> = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        if let Some(key) = &item.external_id {
            by_key.entry(key.as_str()).or_insert(index);
        }
    }
    // Kahn's algorithm: repeatedly remove items none of whose in-request dependencies remain.
    let edges: Vec<Vec<usize>> = items
        .iter()
        .map(|item| {
            item.depends_on
                .external_ids
                .iter()
                .filter_map(|key| by_key.get(key.as_str()).copied())
                .collect()
        })
        .collect();
    let mut waiting_on: Vec<usize> = edges.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
    for (item, targets) in edges.iter().enumerate() {
        for &target in targets {
            dependents[target].push(item);
        }
    }
    let mut ready: Vec<usize> = (0..items.len()).filter(|&i| waiting_on[i] == 0).collect();
    while let Some(done) = ready.pop() {
        for &dependent in &dependents[done] {
            waiting_on[dependent] -= 1;
            if waiting_on[dependent] == 0 {
                ready.push(dependent);
            }
        }
    }
    waiting_on.iter().position(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{TaskInput, Validate};

    fn task(key: &str, waits_for: &[&str]) -> NewTask {
        let input: TaskInput = serde_json::from_value(serde_json::json!({
            "title": "t", "external_id": key, "depends_on_external_ids": waits_for,
        }))
        .unwrap();
        input.validate().unwrap()
    }

    #[test]
    fn a_plan_without_loops_has_no_cycle() {
        let items = [
            task("a", &[]),
            task("b", &["a"]),
            task("c", &["a", "b", "stored"]),
        ];
        let refs: Vec<&NewTask> = items.iter().collect();
        assert_eq!(dependency_cycle(&refs), None);
    }

    #[test]
    fn a_loop_between_items_or_an_item_waiting_for_itself_is_a_cycle() {
        let items = [task("a", &["c"]), task("b", &["a"]), task("c", &["b"])];
        let refs: Vec<&NewTask> = items.iter().collect();
        assert!(dependency_cycle(&refs).is_some());
        let items = [task("a", &[]), task("b", &["b"])];
        let refs: Vec<&NewTask> = items.iter().collect();
        assert_eq!(dependency_cycle(&refs), Some(1));
    }

    #[test]
    fn dependencies_are_distinct_positive_ids() {
        let input: TaskInput = serde_json::from_value(serde_json::json!({
            "title": "t", "depends_on": [3, 3, 4],
        }))
        .unwrap();
        assert_eq!(input.validate().unwrap().depends_on.ids, vec![3, 4]);
        let input: TaskInput = serde_json::from_value(serde_json::json!({
            "title": "t", "depends_on": [0],
        }))
        .unwrap();
        assert!(input.validate().is_err());
    }
}
