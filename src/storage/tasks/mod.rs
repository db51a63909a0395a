//! Task SQL, by subject: idempotent creation (`creation`; `batch`, the INSERT of many; and
//! `planned` for tasks with dependencies; `keyed`, a creation under an Idempotency-Key), conditional writes (`write`), claims (`claims`), the dependency and parent
//! graph (`graph`) and listing (`listing`). Every statement names the columns of [`Task`] with [`task_columns!`] and
//! reads them from an unaliased `tasks` relation (or a CTE returning them), so the list exists
//! once.

mod batch;
mod binary;
mod claims;
mod creation;
mod graph;
mod keyed;
mod listing;
mod planned;
mod write;

pub use claims::{claim, heartbeat, release};
pub use creation::{CreateError, Created, create, create_many};
pub use keyed::{KeyedCreate, create_keyed};
pub use listing::{After, Page, TaskFilter, TaskOrder, list};
pub use write::{Preconditions, Refusal, delete, update};

use sqlx::postgres::{PgRow, PgTypeInfo};
use sqlx::{Column as _, Postgres, Row, Type};

use crate::domain::{Task, TaskView};
use crate::pool::{Connection, Pool};
use binary::binary;

/// The columns of [`Task`], as a literal for `concat!` (in the order [`task_at`] reads them,
/// which is not the field order: `run_id` and the claim and dependency columns came later).
macro_rules! task_columns {
    () => {
        "id, project_id, milestone_id, parent_task_id, title, description, status, \
         priority_score, external_id, labels, version, created_at, updated_at, completed_at, \
         run_id, claimed_by, claimed_at, claim_expires_at, depends_on, blocked_by"
    };
}
use task_columns;

/// Where each field of [`Task`] is among the columns of [`task_columns!`], handed to `$then`
/// (so that decoding and the type check share one table).
macro_rules! task_layout {
    ($then:ident!($($args:tt)*)) => {
        $then!($($args)*;
            id 0, project_id 1, milestone_id 2, parent_task_id 3, title 4, description 5,
            status 6, priority_score 7, external_id 8, labels 9, version 10, created_at 11,
            updated_at 12, completed_at 13, run_id 14, claimed_by 15, claimed_at 16,
            claim_expires_at 17, depends_on 18, blocked_by 19)
    };
}

/// A `$task` ([`Task`] or [`TaskView`]) from the row's columns by position from `at`, each
/// read with `$get(row, index)`. By position, not by name: a name lookup per field and row cost
/// a list a tenth of its CPU.
macro_rules! task_from {
    ($task:ident, $row:expr, $at:expr, $get:path; $($field:ident $offset:literal),*) => {{
        let (row, at): (&PgRow, usize) = ($row, $at);
        $task { $($field: $get(row, at + $offset)?),* }
    }};
}

/// Reads a task from [`task_columns!`] at column `at`, checking each value's type.
fn task_at(row: &PgRow, at: usize) -> sqlx::Result<Task> {
    Ok(task_layout!(task_from!(Task, row, at, Row::try_get)))
}

/// Reads the tasks of a page's rows one by one, as they arrive, from column `at`. The column
/// types are checked once, on the first row, against the statement's columns (value by value,
/// the check cost a list a sixteenth of its CPU).
#[derive(Default)]
struct PageReader {
    columns_checked: bool,
}

impl PageReader {
    /// The row's task, its strings borrowed from the row; `None` for a row whose `id` is NULL
    /// (a project without matching tasks). The view's types decode the same columns as
    /// [`Task`]'s, which the check holds the statement's columns to.
    fn read<'r>(&mut self, row: &'r PgRow, at: usize) -> sqlx::Result<Option<TaskView<'r>>> {
        macro_rules! check_columns {
            ($row:expr, $at:expr; $($field:ident $offset:literal),*) => {
                $(column_holds($row, $at + $offset, |task: &Task| &task.$field)?;)*
            };
        }
        if !self.columns_checked {
            task_layout!(check_columns!(row, at));
            self.columns_checked = true;
        }
        if binary::<Option<i64>>(row, at)?.is_none() {
            return Ok(None);
        }
        Ok(Some(task_layout!(task_from!(TaskView, row, at, binary))))
    }
}

/// Whether column `index` can be decoded into the type of a [`Task`]'s field (`_field` only
/// names the type).
fn column_holds<T: Type<Postgres>>(
    row: &PgRow,
    index: usize,
    _field: fn(&Task) -> &T,
) -> sqlx::Result<()> {
    holds::<T>(row.try_column(index)?.type_info(), index)
}

fn holds<T: Type<Postgres>>(column: &PgTypeInfo, index: usize) -> sqlx::Result<()> {
    if T::compatible(column) {
        return Ok(());
    }
    Err(sqlx::Error::ColumnDecode {
        index: index.to_string(),
        source: format!("{column} cannot be read as {}", T::type_info()).into(),
    })
}

#[tracing::instrument(skip(pool))]
pub async fn get(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    id: i64,
) -> sqlx::Result<Option<Task>> {
    get_on(&mut *pool.acquire().await?, tenant_id, project_id, id).await
}

/// [`get`] on a connection already held.
async fn get_on(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: i64,
    id: i64,
) -> sqlx::Result<Option<Task>> {
    sqlx::query(concat!(
        "SELECT ",
        task_columns!(),
        " FROM tasks
         WHERE project_id = $1 AND id = $3
           AND EXISTS (SELECT 1 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2)"
    ))
    .bind(project_id)
    .bind(tenant_id)
    .bind(id)
    .try_map(|row| task_at(&row, 0))
    .fetch_optional(&mut *connection)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TaskStatus;

    #[test]
    fn a_column_of_another_type_than_the_field_is_refused_naming_both() {
        assert!(holds::<i64>(&PgTypeInfo::with_name("int8"), 0).is_ok());
        assert!(holds::<Option<String>>(&PgTypeInfo::with_name("text"), 5).is_ok());
        assert!(holds::<TaskStatus>(&PgTypeInfo::with_name("text"), 6).is_ok());
        let error = holds::<i64>(&PgTypeInfo::with_name("text"), 7).unwrap_err();
        assert_eq!(
            error.to_string(),
            "error occurred while decoding column 7: text cannot be read as INT8"
        );
        assert!(holds::<i32>(&PgTypeInfo::with_name("int8"), 0).is_err());
    }
}
