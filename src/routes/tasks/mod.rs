//! Task handlers, by subject: creation (`creation`: one and bulk, idempotent by external_id),
//! reading (`listing`: the list and one task), conditional writes (`write`: PATCH, DELETE) and
//! claims (`claims`: claim, heartbeat, release).

mod claims;
mod creation;
mod listing;
mod write;

pub use claims::{claim, heartbeat, release};
pub use creation::{create, create_bulk, creation_answer};
pub use listing::{get, list};
pub use write::{delete, update};

use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder};

use crate::domain::Task;
use crate::error::ApiError;
use crate::storage::tasks::CreateError;

/// A task answer with its `ETag`.
fn with_etag(mut response: HttpResponseBuilder, task: &Task) -> HttpResponse {
    response
        .insert_header((header::ETAG, task.etag()))
        .json(task)
}

/// A failed creation as an answer; `item` gives the JSON pointer of the item at an index
/// (`""` for a single creation, `/tasks/3` in a bulk).
fn create_error(error: CreateError, item: impl Fn(usize) -> String) -> ApiError {
    match error {
        CreateError::ProjectNotFound => ApiError::NotFound("project"),
        CreateError::Contended => ApiError::Conflict(error.to_string()),
        CreateError::Cycle(index) => ApiError::Conflict(format!(
            "{}/depends_on_external_ids: the item would wait for itself through other items",
            item(index)
        )),
        CreateError::UnknownReferences(references) => ApiError::UnknownReference(
            references
                .into_iter()
                .map(|(index, reference)| reference.unknown_at(&item(index)))
                .collect(),
        ),
        CreateError::Database(error) => error.into(),
    }
}
