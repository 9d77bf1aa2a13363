//! The PostgreSQL read model: fed from the exported stream by a process killed
//! again and again mid-batch, its tables still equal the ledger read from the
//! journal; fed beside a running engine, a writer reads its own writes from it.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::bank::{self, Bank};
use common::postgres::{self, postgres_bin, Postgres};
use common::{connect, nats_server, runtime, Rng, Server};
use seqlane::{Committed, EngineBuilder, EventDecoder, Until};
use seqlane_export::{
    ExportOptions, Exporter, LocalProjection, PgProjection, PgReadModel, RemoteProjection,
};
use tokio_postgres::Transaction;

/// Balances and every event, in two tables.
struct PgLedger;

impl PgProjection<bank::Event> for PgLedger {
    fn schema(&self) -> String {
        "CREATE TABLE IF NOT EXISTS balances (account int PRIMARY KEY, balance bigint NOT NULL);
         CREATE TABLE IF NOT EXISTS events (sequence bigint PRIMARY KEY, account int NOT NULL,
             delta bigint NOT NULL)"
            .into()
    }

    async fn apply(
        &mut self,
        transaction: &Transaction<'_>,
        batch: &[Committed<bank::Event>],
    ) -> Result<(), tokio_postgres::Error> {
        let (mut sequences, mut accounts, mut deltas) = (Vec::new(), Vec::new(), Vec::new());
        for (sequence, event) in batch.iter().flat_map(|command| &command.events) {
            let (account, delta) = match *event {
                bank::Event::Deposited { account, amount } => (account, amount),
                bank::Event::Withdrew { account, amount } => (account, -amount),
            };
            sequences.push(*sequence as i64);
            accounts.push(account as i32);
            deltas.push(delta);
        }
        // No ON CONFLICT for events: an event applied twice fails the batch.
        transaction
            .execute(
                "INSERT INTO events SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[])",
                &[&sequences, &accounts, &deltas],
            )
            .await?;
        transaction
            .execute(
                "INSERT INTO balances SELECT account, sum(delta) FROM
                     unnest($1::int[], $2::bigint[]) AS e(account, delta) GROUP BY account
                 ON CONFLICT (account) DO UPDATE SET balance = balances.balance + excluded.balance",
                &[&accounts, &deltas],
            )
            .await?;
        Ok(())
    }
}

/// The tables as read back: balances, the number of events, the last sequence.
async fn tables(client: &tokio_postgres::Client) -> (BTreeMap<u32, i64>, u64, Option<u64>) {
    let balances = client
        .query("SELECT account, balance FROM balances", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get::<_, i32>(0) as u32, row.get::<_, i64>(1)))
        .collect();
    let row = client
        .query_one("SELECT count(*), max(sequence) FROM events", &[])
        .await
        .unwrap();
    let last: Option<i64> = row.get(1);
    (
        balances,
        row.get::<_, i64>(0) as u64,
        last.map(|l| l as u64),
    )
}

/// Set in a child process: `nats_url postgres_port`.
const CHILD: &str = "SEQLANE_TEST_PG_CHILD";

async fn pg_model(url: &str) -> PgReadModel<bank::Event, PgLedger> {
    PgReadModel::open(postgres::connect(url).await, "ledger", PgLedger)
        .await
        .unwrap()
}

/// The child's body: projects the stream into PostgreSQL until killed.
#[test]
fn postgres_projection_child() {
    let Ok(args) = std::env::var(CHILD) else {
        return; // run by the parent below only
    };
    let (nats, pg) = args.split_once(' ').unwrap();
    runtime().block_on(async {
        let model = pg_model(pg).await;
        let client = connect(&[nats.to_owned()]).await;
        let mut remote =
            RemoteProjection::new(client, "bank", model, EventDecoder::new()).batch(256);
        remote.run(std::future::pending()).await.unwrap();
    });
}

#[test]
fn killed_twenty_times_mid_batch_the_tables_equal_the_journal() {
    let Some(nats_binary) = nats_server() else {
        return;
    };
    let Some(pg_bin) = postgres_bin() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&nats_binary, &dir.path().join("nats"));
    let database = Postgres::start(&pg_bin);
    let journal = dir.path().join("journal");
    let mut rng = Rng::from_time();
    let mut written = 0;
    let mut next = 0;
    // PostgreSQL logs each connection lost inside a transaction: the kills go on
    // until 20 have landed mid-batch. About one kill in ten does on the 2-core
    // VM (20 of 197 in one run), so up to 400 are tried: 200 left the test
    // failing about as often as passing there.
    let torn = || {
        let log = std::fs::read_to_string(database.log()).unwrap();
        log.matches("unexpected EOF on client connection with an open transaction")
            .count()
    };
    let mut kills = 0;
    while torn() < 20 && kills < 400 {
        kills += 1;
        next = bank::write_commands(&journal, written, 800);
        written += 800;
        runtime().block_on(async {
            let client = connect(&[server.url()]).await;
            let mut exporter = Exporter::new(&journal, client, ExportOptions::new("bank"))
                .await
                .unwrap();
            exporter.export_until(next).await.unwrap();
        });
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["postgres_projection_child", "--exact", "--nocapture"])
            .env(CHILD, format!("{} {}", server.url(), database.url()))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20 + rng.below(150)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let torn = torn();
    eprintln!("{torn} of {kills} kills landed inside a transaction; journal ends at {next}");
    assert!(torn >= 20, "20 kills land mid-batch");

    let oracle = bank::oracle(&journal);
    runtime().block_on(async {
        let model = pg_model(&database.url()).await;
        let client = connect(&[server.url()]).await;
        let mut remote = RemoteProjection::new(client, "bank", model, EventDecoder::new());
        let views = remote.handle();
        let done = async {
            views
                .wait_for(next - 1, Duration::from_secs(120))
                .await
                .unwrap();
        };
        remote.run(done).await.unwrap();
        let (balances, events, last) = tables(remote.model().client()).await;
        assert_eq!(balances, oracle.balances);
        assert_eq!((events, last), (oracle.events, oracle.last_sequence));
    });
}

#[test]
fn beside_the_engine_a_writer_reads_its_own_writes_from_postgres() {
    let Some(pg_bin) = postgres_bin() else { return };
    let database = Postgres::start(&pg_bin);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let engine = EngineBuilder::new(&journal, Bank::default())
        .start()
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let model = pg_model(&database.url()).await;
        let mut local = LocalProjection::new(&journal, model, EventDecoder::new());
        let views = local.handle();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let projecting = tokio::spawn(async move {
            local
                .run(async {
                    let _ = stop_rx.await;
                })
                .await
        });
        let reader = postgres::connect(&database.url()).await;
        let mut expected: BTreeMap<u32, i64> = BTreeMap::new();
        for i in 0..200 {
            let mut receipt = engine.gateway().submit(bank::command(i)).unwrap();
            let Ok(accepted) = receipt.wait_async(Until::Durable).await else {
                continue;
            };
            for event in &accepted.events {
                let (account, delta) = match *event {
                    bank::Event::Deposited { account, amount } => (account, amount),
                    bank::Event::Withdrew { account, amount } => (account, -amount),
                };
                *expected.entry(account).or_default() += delta;
            }
            let last = *accepted.records.clone().unwrap().end();
            views.wait_for(last, Duration::from_secs(30)).await.unwrap();
            let (balances, _, read_last) = tables(&reader).await;
            assert_eq!(balances, expected, "command {i}");
            assert_eq!(read_last, Some(last));
        }
        stop_tx.send(()).unwrap();
        projecting.await.unwrap().unwrap();
    });
    engine.shutdown().unwrap();
}
