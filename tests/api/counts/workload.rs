//! The random concurrent workload the drift test runs: workers creating (single and bulk, with
//! and without external ids), patching and deleting tasks, and creating and deleting milestones,
//! in two projects at once. Deterministic per `COUNTS_SEED`.

use std::sync::Mutex;

use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestApp;

pub(super) const STATUSES: [&str; 6] = [
    "open",
    "in_progress",
    "in_review",
    "blocked",
    "done",
    "archived",
];

/// xorshift64*: deterministic per seed, no crate needed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// 0..n
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.below(items.len())].clone())
    }

    fn status(&mut self) -> &'static str {
        STATUSES[self.below(STATUSES.len())]
    }
}

/// What the workers know of one project; races make it approximate (a task listed here may
/// already be deleted by another worker), which the allowed answers account for.
#[derive(Default)]
pub(super) struct Known {
    pub(super) tasks: Vec<i64>,
    pub(super) milestones: Vec<i64>,
    pub(super) external_ids: Vec<String>,
}

/// Sends a request and asserts that its status is one of `allowed` (never a 5xx).
pub(super) async fn send(
    request: RequestBuilder,
    what: &str,
    allowed: &[StatusCode],
) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(
        !status.is_server_error() && allowed.contains(&status),
        "{what}: unexpected {status}: {text}"
    );
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, value)
}

/// A random milestone of the project (`null` a third of the time).
fn some_milestone(rng: &mut Rng, known: &Mutex<Known>) -> Value {
    if rng.chance(33) {
        return Value::Null;
    }
    rng.pick(&known.lock().unwrap().milestones)
        .map_or(Value::Null, Value::from)
}

/// An external_id: often none, sometimes a new one, sometimes one already stored (the
/// idempotent path).
fn some_external_id(rng: &mut Rng, known: &Mutex<Known>, fresh: String) -> Option<String> {
    match rng.below(3) {
        0 => None,
        1 => Some(fresh),
        _ => rng
            .pick(&known.lock().unwrap().external_ids)
            .or(Some(fresh)),
    }
}

fn task_input(rng: &mut Rng, known: &Mutex<Known>, external_id: Option<String>) -> Value {
    let mut task = json!({"title": "random", "status": rng.status()});
    let milestone = some_milestone(rng, known);
    if !milestone.is_null() {
        task["milestone_id"] = milestone;
    }
    if let Some(external_id) = external_id {
        task["external_id"] = json!(external_id);
    }
    task
}

fn remember_task(known: &Mutex<Known>, task: &Value) {
    let mut known = known.lock().unwrap();
    known.tasks.push(task["id"].as_i64().unwrap());
    if let Some(external_id) = task["external_id"].as_str() {
        known.external_ids.push(external_id.to_owned());
    }
}

/// One worker's random operations on the two projects.
pub(super) async fn random_operations(
    app: &TestApp,
    worker: u64,
    projects: &[(i64, Mutex<Known>)],
    deleted_milestones: &Mutex<Vec<(i64, i64)>>,
) {
    use StatusCode as S;
    // COUNTS_SEED varies the workload (to explore); the default keeps it reproducible.
    let seed: u64 = std::env::var("COUNTS_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(0);
    let mut rng = Rng::new(seed * 1000 + worker + 1);
    for step in 0..40 {
        let (project, known) = &projects[rng.below(projects.len())];
        let project = *project;
        let tasks_path = format!("/projects/{project}/tasks");
        let roll = rng.below(100);
        if roll < 25 {
            let external_id = some_external_id(&mut rng, known, format!("w{worker}-s{step}"));
            let task = task_input(&mut rng, known, external_id);
            // 409: the milestone was deleted meanwhile.
            let (status, task) = send(
                app.post(&tasks_path, &task),
                &format!("worker {worker} step {step}: create"),
                &[S::CREATED, S::OK, S::CONFLICT],
            )
            .await;
            if status == S::CREATED {
                remember_task(known, &task);
            }
        } else if roll < 45 {
            let count = 1 + rng.below(20);
            let mut items: Vec<Value> = Vec::with_capacity(count);
            for k in 0..count {
                let external_id = if k > 0 && rng.chance(15) {
                    // Repeated within the request.
                    items[rng.below(k)]["external_id"]
                        .as_str()
                        .map(str::to_owned)
                } else {
                    some_external_id(&mut rng, known, format!("w{worker}-b{step}-{k}"))
                };
                items.push(task_input(&mut rng, known, external_id));
            }
            let (status, result) = send(
                app.post(&format!("{tasks_path}:bulk"), &json!({ "tasks": items })),
                &format!("worker {worker} step {step}: bulk"),
                &[S::CREATED, S::OK, S::CONFLICT],
            )
            .await;
            if status != S::CONFLICT {
                for task in result["created"].as_array().unwrap() {
                    remember_task(known, task);
                }
            }
        } else if roll < 70 {
            let Some(task) = rng.pick(&known.lock().unwrap().tasks) else {
                continue;
            };
            let patch = match rng.below(3) {
                0 => json!({"status": rng.status()}),
                1 => json!({"milestone_id": some_milestone(&mut rng, known)}),
                _ => {
                    json!({"status": rng.status(), "milestone_id": some_milestone(&mut rng, known)})
                }
            };
            // 404: the task was deleted meanwhile; 409: the milestone was.
            send(
                app.patch(&format!("{tasks_path}/{task}"), &patch),
                &format!("worker {worker} step {step}: patch"),
                &[S::OK, S::NOT_FOUND, S::CONFLICT],
            )
            .await;
        } else if roll < 82 {
            let task = {
                let mut known = known.lock().unwrap();
                if known.tasks.is_empty() {
                    continue;
                }
                let index = rng.below(known.tasks.len());
                known.tasks.swap_remove(index)
            };
            send(
                app.delete(&format!("{tasks_path}/{task}")),
                &format!("worker {worker} step {step}: delete task"),
                &[S::NO_CONTENT, S::NOT_FOUND],
            )
            .await;
        } else if roll < 90 {
            let slug = format!("w{worker}-m{step}");
            let (_, milestone) = send(
                app.post(
                    &format!("/projects/{project}/milestones"),
                    &json!({"name": slug, "slug": slug}),
                ),
                &format!("worker {worker} step {step}: create milestone"),
                &[S::CREATED],
            )
            .await;
            known
                .lock()
                .unwrap()
                .milestones
                .push(milestone["id"].as_i64().unwrap());
        } else if roll < 95 {
            let milestone = {
                let mut known = known.lock().unwrap();
                if known.milestones.len() < 2 {
                    continue;
                }
                let index = rng.below(known.milestones.len());
                known.milestones.swap_remove(index)
            };
            deleted_milestones
                .lock()
                .unwrap()
                .push((project, milestone));
            send(
                app.delete(&format!("/projects/{project}/milestones/{milestone}")),
                &format!("worker {worker} step {step}: delete milestone"),
                &[S::NO_CONTENT],
            )
            .await;
        } else {
            send(
                app.get(&format!("/projects/{project}/summary")),
                &format!("worker {worker} step {step}: summary"),
                &[S::OK],
            )
            .await;
        }
    }
}
