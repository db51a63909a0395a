//! Transactions on a pooled connection, nested ones as savepoints.

use super::Connection;

impl Connection {
    /// Runs `work` so that its failure leaves an enclosing transaction usable (a statement that
    /// fails aborts the whole transaction otherwise): inside a transaction, under a savepoint
    /// that a failure rolls back to; outside one, as it is. For statements whose failure is
    /// followed by a cold-path query that says why.
    pub async fn recoverable<T>(
        &mut self,
        work: impl AsyncFnOnce(&mut Connection) -> sqlx::Result<T>,
    ) -> sqlx::Result<T> {
        if self.depth == 0 {
            return work(self).await;
        }
        let mut tx = Transaction::begin(self).await?;
        match work(&mut tx).await {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(error) => {
                tx.rollback().await?;
                Err(error)
            }
        }
    }
}

/// A transaction on a pooled connection: `BEGIN` now, `COMMIT` with [`Transaction::commit`],
/// `ROLLBACK` with [`Transaction::rollback`]. Begun inside another one (a storage function
/// that needs a transaction, called inside an idempotent request's), it is a savepoint of the
/// outer one, so everything still commits or rolls back together. Dropped without either (the
/// request was cancelled mid-way), the connection is discarded instead of reused, which makes
/// PostgreSQL roll the transaction back. Statements run through it (`&mut *tx`) are noted like
/// any other.
pub struct Transaction<'c> {
    connection: &'c mut Connection,
    open: bool,
}

impl<'c> Transaction<'c> {
    pub async fn begin(connection: &'c mut Connection) -> sqlx::Result<Self> {
        let statement = match connection.depth {
            0 => "BEGIN".to_owned(),
            depth => format!("SAVEPOINT nested_{depth}"),
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut *connection)
            .await?;
        connection.depth += 1;
        Ok(Self {
            connection,
            open: true,
        })
    }

    pub async fn commit(mut self) -> sqlx::Result<()> {
        self.finish(true).await
    }

    pub async fn rollback(mut self) -> sqlx::Result<()> {
        self.finish(false).await
    }

    async fn finish(&mut self, commit: bool) -> sqlx::Result<()> {
        let depth = self.connection.depth - 1;
        let statement = match (depth, commit) {
            (0, true) => "COMMIT".to_owned(),
            (0, false) => "ROLLBACK".to_owned(),
            (depth, true) => format!("RELEASE SAVEPOINT nested_{depth}"),
            (depth, false) => format!("ROLLBACK TO SAVEPOINT nested_{depth}"),
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut *self.connection)
            .await?;
        self.connection.depth = depth;
        self.open = false;
        Ok(())
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.connection
    }
}

impl std::ops::DerefMut for Transaction<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.connection
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.open {
            self.connection.broken = true;
        }
    }
}
