//! The inventory service over real HTTP on a loopback port: every command, each
//! `wait=` mode, rejections as 4xx with a body, the layers' refusals, and
//! `/metrics` parsed as Prometheus text.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use reqwest::StatusCode;
use seqlane_inventory::domain::{Details, InventoryEvent};
use seqlane_inventory::http::{router, Answer, Limits};
use seqlane_inventory::start;
use serde_json::{json, Value};

struct Server {
    base: String,
    client: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
    engine: seqlane::Engine<seqlane_inventory::domain::Inventory>,
    dir: tempfile::TempDir,
}

async fn serve(limits: Limits) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let (engine, views) = start(dir.path()).unwrap();
    let app = router(engine.gateway(), views, &limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        base,
        client: reqwest::Client::new(),
        task,
        engine,
        dir,
    }
}

impl Server {
    async fn post(&self, path: &str, body: Value, actor: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(actor) = actor {
            request = request.header("x-actor", actor);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn details(&self, id: u32) -> Details {
        let (status, body) = self.get(&format!("/items/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    async fn stop(self) -> u64 {
        self.task.abort();
        let engine = self.engine;
        let stopped = tokio::task::spawn_blocking(move || engine.shutdown())
            .await
            .unwrap()
            .unwrap();
        stopped.version
    }
}

fn answer(body: Value) -> Answer {
    serde_json::from_value(body).unwrap()
}

/// Prometheus text as (name, labels, value) lines.
fn samples(text: &str) -> Vec<(String, String, f64)> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            (
                name.to_owned(),
                labels.to_owned(),
                value.parse().expect("a number"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_over_http_in_each_wait_mode() {
    let server = serve(Limits::default()).await;

    // Create, visible: both views show it when the response arrives.
    let (status, body) = server
        .post(
            "/items?wait=visible",
            json!({"id": 1, "name": "widget"}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let created = answer(body);
    assert_eq!(
        created.events,
        [InventoryEvent::Created {
            id: 1,
            name: "widget".into()
        }]
    );
    assert_eq!(server.details(1).await.name, "widget");
    let (_, list) = server.get("/items").await;
    let list: BTreeMap<u32, String> = serde_json::from_str(&list).unwrap();
    assert_eq!(list[&1], "widget");

    // Rename, durable, with the version it expects; a stale version conflicts.
    let (status, body) = server
        .post(
            "/items/1/rename?wait=durable",
            json!({"name": "sprocket", "expected_version": 1}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(answer(body).records.is_some());
    let (status, body) = server
        .post(
            "/items/1/rename",
            json!({"name": "cog", "expected_version": 1}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"].as_str().unwrap().contains("version conflict"));

    // Check in, processed (the default); remove more than in stock: 422 with the
    // refusal in the body; remove some.
    let (status, body) = server
        .post("/items/1/check-in", json!({"count": 40}), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server
        .post("/items/1/remove?wait=durable", json!({"count": 100}), None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["refusal"],
        json!({"NotEnough": {"id": 1, "in_stock": 40, "asked": 100}})
    );
    let (status, body) = server
        .post("/items/1/remove?wait=visible", json!({"count": 5}), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(server.details(1).await.in_stock, 35);

    // Fire and forget: 202 at once, visible soon.
    let (status, _) = server
        .post("/items?wait=none", json!({"id": 2, "name": "gear"}), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while server.get("/items/2").await.0 != StatusCode::OK {
        assert!(
            tokio::time::Instant::now() < deadline,
            "item 2 never showed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Deactivate: only a manager may.
    let (status, body) = server.post("/items/2/deactivate", json!(null), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = server
        .post(
            "/items/2/deactivate?wait=visible",
            json!(null),
            Some("manager"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let details = server.details(2).await;
    assert!(!details.active);
    // The actor the layers let through is in the command's metadata.
    assert_eq!(details.changed_by.as_deref(), Some("manager"));
    let (_, list) = server.get("/items").await;
    assert!(!list.contains("gear"), "{list}");
    let (status, _) = server
        .post("/items/2/check-in", json!({"count": 1}), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "a deactivated item");

    // Missing items, an existing id, invalid input.
    assert_eq!(server.get("/items/99").await.0, StatusCode::NOT_FOUND);
    let (status, body) = server
        .post("/items/99/check-in", json!({"count": 1}), None)
        .await;
    assert_eq!(
        (status, &body["refusal"]),
        (StatusCode::NOT_FOUND, &json!({"NoItem": 99}))
    );
    let (status, _) = server
        .post("/items", json!({"id": 1, "name": "again"}), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let long = "x".repeat(101);
    let (status, body) = server
        .post("/items", json!({"id": 3, "name": long}), None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("refused by validate"));

    // /metrics: the counters and the wait histograms, as Prometheus text.
    let (status, text) = server.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let samples = samples(&text);
    let value = |name: &str, label: &str| {
        samples
            .iter()
            .find(|(n, labels, _)| n == name && labels.contains(label))
            .unwrap_or_else(|| panic!("no {name}{{{label}}} in\n{text}"))
            .2
    };
    assert_eq!(value("seqlane_commands_total", "outcome=\"accepted\""), 6.0);
    assert_eq!(value("seqlane_commands_total", "outcome=\"rejected\""), 5.0);
    assert!(value("seqlane_wait_seconds_count", "until=\"visible\"") >= 3.0);
    assert!(value("seqlane_journal_sync_seconds_count", "") >= 1.0);
    assert_eq!(
        value("seqlane_projection_lag", "projection=\"item-list\""),
        0.0
    );

    assert_eq!(server.stop().await, 6, "six events accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_rate_limit_answers_429_with_retry_after() {
    let server = serve(Limits {
        rate: Some(NonZeroU32::new(2).unwrap()),
        timeout: Duration::from_secs(10),
    })
    .await;
    let mut statuses = Vec::new();
    for id in 0..5 {
        let response = server
            .client
            .post(format!("{}/items", server.base))
            .json(&json!({"id": id, "name": "widget"}))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
        }
        statuses.push(response.status());
    }
    assert_eq!(
        statuses[..2],
        [StatusCode::OK, StatusCode::OK],
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actor_and_correlation_id_are_journaled() {
    let server = serve(Limits::default()).await;
    let response = server
        .client
        // Visible: the details view shows it, and the journal holds it before.
        .post(format!("{}/items?wait=visible", server.base))
        .header("x-actor", "clerk")
        .header("x-correlation-id", "42")
        .json(&json!({"id": 7, "name": "bolt"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.details(7).await.changed_by.as_deref(), Some("clerk"));
    // The journal (read while the engine runs) holds both with the event.
    let mut reader = seqlane_journal::Reader::open(server.dir.path(), 0).unwrap();
    let mut found = Vec::new();
    while let Some(record) = reader.next_record().unwrap() {
        let view = seqlane::RecordView::parse(record.tag, record.payload).unwrap();
        if let Some(metadata) = view.metadata {
            found.push((metadata.actor, metadata.correlation));
            assert!(metadata.accepted_at.is_some());
        }
    }
    assert_eq!(found, [(Some("clerk".to_string()), Some(42))]);
    server.stop().await;
}
