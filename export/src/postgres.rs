//! A read model in PostgreSQL: each batch of events applied as upserts in one
//! transaction with the checkpoint, so that the tables always hold a prefix of
//! the journal, whatever stops the process and wherever.

use std::future::Future;
use std::marker::PhantomData;

use seqlane::Committed;
use tokio_postgres::{Client, Transaction};

use crate::error::Result;
use crate::follow::{Checkpoint, ReadModel};

/// The table that holds every PostgreSQL read model's checkpoint, one row each.
pub const CHECKPOINT_TABLE: &str = "seqlane_checkpoint";

/// What a PostgreSQL read model does with its events: its tables, and the writes
/// of a batch.
///
/// # Examples
///
/// ```
/// use seqlane::Committed;
/// use seqlane_export::PgProjection;
/// use tokio_postgres::Transaction;
///
/// /// Totals per account, from events `(account, amount)`.
/// struct Totals;
///
/// impl PgProjection<(i32, i64)> for Totals {
///     fn schema(&self) -> String {
///         "CREATE TABLE IF NOT EXISTS totals (account int PRIMARY KEY, total bigint NOT NULL)".into()
///     }
///
///     async fn apply(
///         &mut self,
///         transaction: &Transaction<'_>,
///         batch: &[Committed<(i32, i64)>],
///     ) -> Result<(), tokio_postgres::Error> {
///         let (accounts, amounts): (Vec<i32>, Vec<i64>) =
///             batch.iter().flat_map(|c| c.events.iter().map(|(_, e)| *e)).unzip();
///         // One statement for the batch: summed per account, then upserted.
///         transaction
///             .execute(
///                 "INSERT INTO totals SELECT account, sum(amount) FROM
///                      unnest($1::int[], $2::bigint[]) AS e(account, amount) GROUP BY account
///                  ON CONFLICT (account) DO UPDATE SET total = totals.total + excluded.total",
///                 &[&accounts, &amounts],
///             )
///             .await?;
///         Ok(())
///     }
/// }
/// ```
pub trait PgProjection<E>: Send {
    /// SQL that creates the model's tables if they are missing (`CREATE TABLE IF
    /// NOT EXISTS`), run once when the read model is opened.
    fn schema(&self) -> String;

    /// Writes a batch of whole commands (in journal order) inside `transaction`;
    /// the checkpoint is written after it in the same transaction.
    fn apply(
        &mut self,
        transaction: &Transaction<'_>,
        batch: &[Committed<E>],
    ) -> impl Future<Output = std::result::Result<(), tokio_postgres::Error>> + Send;
}

/// A [`ReadModel`] kept in PostgreSQL: a [`PgProjection`]'s tables and its row in
/// [`CHECKPOINT_TABLE`], written in one transaction per batch.
///
/// Feed it from a stream ([`RemoteProjection`](crate::RemoteProjection)) or from
/// the journal beside the engine ([`LocalProjection`](crate::LocalProjection)).
/// Readers query the tables; the [`ViewHandle`](crate::ViewHandle) tells them how
/// far the tables have got (its view is `()`).
pub struct PgReadModel<E, P> {
    client: Client,
    name: String,
    projection: P,
    _events: PhantomData<fn(&E)>,
}

impl<E, P: PgProjection<E>> PgReadModel<E, P> {
    /// The read model `name` (its row in [`CHECKPOINT_TABLE`]) on the database
    /// `client` is connected to; creates the checkpoint table and the
    /// projection's tables if they are missing.
    ///
    /// # Errors
    ///
    /// The database's.
    pub async fn open(mut client: Client, name: impl Into<String>, projection: P) -> Result<Self> {
        let transaction = client.transaction().await?;
        transaction
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} (
                     name text PRIMARY KEY,
                     identity text NOT NULL,
                     journal bigint NOT NULL,
                     stream bigint NOT NULL
                 )"
            ))
            .await?;
        transaction.batch_execute(&projection.schema()).await?;
        transaction.commit().await?;
        Ok(PgReadModel {
            client,
            name: name.into(),
            projection,
            _events: PhantomData,
        })
    }

    /// The database client, for queries.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// Sequences in PostgreSQL's `bigint`.
fn to_sql(value: u64) -> i64 {
    i64::try_from(value).expect("a journal sequence fits a bigint")
}

fn from_sql(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl<E, P> ReadModel<E> for PgReadModel<E, P>
where
    E: Send + Sync + 'static,
    P: PgProjection<E>,
{
    type View = ();

    async fn load(&mut self) -> Result<Option<Checkpoint>> {
        let row = self
            .client
            .query_opt(
                &format!(
                    "SELECT identity, journal, stream FROM {CHECKPOINT_TABLE} WHERE name = $1"
                ),
                &[&self.name],
            )
            .await?;
        Ok(row.map(|row| Checkpoint {
            identity: row.get(0),
            journal: from_sql(row.get(1)),
            stream: from_sql(row.get(2)),
        }))
    }

    async fn apply(&mut self, batch: &[Committed<E>], to: &Checkpoint) -> Result<()> {
        let transaction = self.client.transaction().await?;
        self.projection.apply(&transaction, batch).await?;
        transaction
            .execute(
                &format!(
                    "INSERT INTO {CHECKPOINT_TABLE} (name, identity, journal, stream)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (name) DO UPDATE SET identity = excluded.identity,
                         journal = excluded.journal, stream = excluded.stream"
                ),
                &[
                    &self.name,
                    &to.identity,
                    &to_sql(to.journal),
                    &to_sql(to.stream),
                ],
            )
            .await?;
        transaction.commit().await?;
        Ok(())
    }

    fn view(&self) {}
}
