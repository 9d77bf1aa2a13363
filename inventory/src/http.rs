//! The inventory over HTTP (axum): commands are `POST`s that answer once the
//! command got as far as `?wait=` asks (`none`, `processed` (the default),
//! `durable`, `visible`); views are `GET`s; `/metrics` serves Prometheus text.
//!
//! | request | command or view |
//! |---|---|
//! | `POST /items` `{"id": 1, "name": "widget"}` | create |
//! | `POST /items/{id}/rename` `{"name": "sprocket", "expected_version": 1}` | rename |
//! | `POST /items/{id}/check-in` `{"count": 40}` | check in |
//! | `POST /items/{id}/remove` `{"count": 5}` | remove |
//! | `POST /items/{id}/deactivate` (header `x-actor: manager`) | deactivate |
//! | `GET /items` | the list view: names of active items |
//! | `GET /items/{id}` | the details view of one item |
//!
//! Any command may name its actor (`x-actor`) and a correlation id
//! (`x-correlation-id`, decimal): both are journaled with it (`seqlane records DIR`
//! shows them) and the details view says who changed an item last.
//!
//! An accepted command answers `200` with its version and journal records (`202`
//! for `wait=none`); a rejection answers `4xx` with `{"error": ..., "refusal":
//! ...}`: 404 no such item, 409 exists, deactivated or a version conflict, 422
//! invalid, 403 not allowed, 429 over the rate limit (with `retry-after`).

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use seqlane::middleware::{
    Authorize, CallError, Guarded, RateLimit, Refusal as LayerRefusal, Request, Timeout, Validate,
};
use seqlane::{Accepted, Command, Gateway, Metadata, Rejection, Until, WaitError};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::{Inventory, InventoryCommand, InventoryEvent, ItemId, Refusal};
use crate::Views;

/// The Prometheus recorder, installed as the process's `metrics` recorder once.
fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .expect("no other metrics recorder is installed in this process")
    })
}

#[derive(Clone)]
struct App {
    guarded: Guarded<Inventory>,
    views: Views,
    timeout: Duration,
}

/// How the service guards its gateway.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Commands a second (bursts of as many), or none.
    pub rate: Option<NonZeroU32>,
    /// How long a request waits at most.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            rate: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// The service's routes over `gateway` and `views`, behind validation (names of
/// at most 100 bytes), authorisation (only `manager` deactivates), the rate
/// limit and the timeout.
pub fn router(gateway: Gateway<Inventory>, views: Views, limits: &Limits) -> Router {
    let mut guarded = Guarded::builder(gateway)
        .layer(Validate::new(|command: &InventoryCommand| match command {
            InventoryCommand::Create { name, .. } | InventoryCommand::Rename { name, .. }
                if name.len() > 100 =>
            {
                Err(format!("a name of {} bytes is longer than 100", name.len()))
            }
            _ => Ok(()),
        }))
        .layer(Authorize::new(|actor, command: &InventoryCommand| {
            !matches!(command, InventoryCommand::Deactivate { .. }) || actor == Some("manager")
        }));
    if let Some(rate) = limits.rate {
        guarded = guarded.layer(RateLimit::new(rate, rate));
    }
    let guarded = guarded.layer(Timeout::new(limits.timeout)).build();
    prometheus();
    Router::new()
        .route("/items", post(create).get(list))
        .route("/items/{id}", get(details))
        .route("/items/{id}/rename", post(rename))
        .route("/items/{id}/check-in", post(check_in))
        .route("/items/{id}/remove", post(remove))
        .route("/items/{id}/deactivate", post(deactivate))
        .route("/metrics", get(metrics))
        .with_state(App {
            guarded,
            views,
            timeout: limits.timeout,
        })
}

/// How far a command must get before its request answers.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Wait {
    /// Answer `202` once it is in the ring.
    None,
    #[default]
    Processed,
    Durable,
    /// Both views show it (read your writes).
    Visible,
}

#[derive(Debug, Deserialize)]
struct WaitQuery {
    #[serde(default)]
    wait: Wait,
}

#[derive(Debug, Deserialize)]
struct Create {
    id: ItemId,
    name: String,
}

#[derive(Debug, Deserialize)]
struct Rename {
    name: String,
    expected_version: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct Count {
    count: u32,
}

/// What an accepted command answers.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Answer {
    /// The engine's version after it.
    pub version: u64,
    /// The journal records holding its events.
    pub records: Option<(u64, u64)>,
    /// Its events.
    pub events: Vec<InventoryEvent>,
    /// A resubmission of an accepted command id.
    pub duplicate: bool,
}

impl From<Accepted<InventoryEvent>> for Answer {
    fn from(accepted: Accepted<InventoryEvent>) -> Self {
        Self {
            version: accepted.version,
            records: accepted.records.map(|range| (*range.start(), *range.end())),
            events: accepted.events,
            duplicate: accepted.duplicate,
        }
    }
}

async fn create(call: Call, Json(body): Json<Create>) -> Response {
    let command = InventoryCommand::Create {
        id: body.id,
        name: body.name,
    };
    call.run(command.into()).await
}

async fn rename(call: Call, Path(id): Path<ItemId>, Json(body): Json<Rename>) -> Response {
    let mut command = Command::new(InventoryCommand::Rename {
        id,
        name: body.name,
    });
    if let Some(version) = body.expected_version {
        command = command.expect_version(version);
    }
    call.run(command).await
}

async fn check_in(call: Call, Path(id): Path<ItemId>, Json(body): Json<Count>) -> Response {
    let count = body.count;
    call.run(InventoryCommand::CheckIn { id, count }.into())
        .await
}

async fn remove(call: Call, Path(id): Path<ItemId>, Json(body): Json<Count>) -> Response {
    let count = body.count;
    call.run(InventoryCommand::Remove { id, count }.into())
        .await
}

async fn deactivate(call: Call, Path(id): Path<ItemId>) -> Response {
    call.run(InventoryCommand::Deactivate { id }.into()).await
}

async fn list(State(app): State<App>) -> Json<BTreeMap<ItemId, String>> {
    Json(BTreeMap::clone(&app.views.list.get()))
}

async fn details(State(app): State<App>, Path(id): Path<ItemId>) -> Response {
    match app.views.details.get().get(&id) {
        Some(details) => Json(details.clone()).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no item {id}"), None),
    }
}

async fn metrics(State(app): State<App>) -> String {
    app.guarded.gateway().metrics().publish();
    prometheus().render()
}

/// What every command request brings besides its command: the app, how long to
/// wait (`?wait=`), the actor the `x-actor` header names, and the
/// `x-correlation-id` header (a decimal `u128`) as the correlation id. The layers
/// put the actor in the command's metadata, so the journal and the details view
/// (`changed_by`) record it.
struct Call {
    app: App,
    wait: Wait,
    actor: Option<String>,
    correlation: Option<u128>,
}

impl FromRequestParts<App> for Call {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let Query(query) = Query::<WaitQuery>::from_request_parts(parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let header = |name| {
            parts
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
        };
        Ok(Self {
            app: app.clone(),
            wait: query.wait,
            actor: header("x-actor").map(str::to_owned),
            correlation: header("x-correlation-id").and_then(|id| id.parse().ok()),
        })
    }
}

impl Call {
    /// Submits `command` through the layers and waits as asked.
    async fn run(self, command: Command<InventoryCommand>) -> Response {
        let Call {
            app,
            wait,
            actor,
            correlation,
        } = self;
        let command = match correlation {
            Some(id) => command.with_metadata(Metadata::new().correlation(id)),
            None => command,
        };
        let request = Request::new(command);
        let request = match actor {
            Some(actor) => request.actor(actor),
            None => request,
        };
        let mut receipt = match app.guarded.submit_async(request).await {
            Ok(receipt) => receipt,
            Err(failed) => return failure(failed),
        };
        let (until, also) = match wait {
            Wait::None => return StatusCode::ACCEPTED.into_response(),
            Wait::Processed => (Until::Processed, None),
            Wait::Durable => (Until::Durable, None),
            Wait::Visible => (
                Until::Visible(app.views.details.id()),
                Some(Until::Visible(app.views.list.id())),
            ),
        };
        let waited = tokio::time::timeout(app.timeout, async {
            let accepted = receipt.wait_async(until).await?;
            if let Some(until) = also {
                // The same receipt answers for the second view.
                receipt.reach_async(until).await?;
            }
            Ok(accepted)
        });
        match waited.await {
            Ok(Ok(accepted)) => Json(Answer::from(accepted)).into_response(),
            Ok(Err(failed)) => failure(CallError::Wait(failed)),
            Err(_) => failure(CallError::Wait(WaitError::TimedOut)),
        }
    }
}

fn failure(failed: CallError<Refusal>) -> Response {
    let message = failed.to_string();
    match failed {
        CallError::Refused { refusal, .. } => match refusal {
            LayerRefusal::Invalid(_) => error(StatusCode::UNPROCESSABLE_ENTITY, message, None),
            LayerRefusal::Unauthorized(_) => error(StatusCode::FORBIDDEN, message, None),
            LayerRefusal::RateLimited { retry_after } => {
                let mut response = error(StatusCode::TOO_MANY_REQUESTS, message, None);
                let seconds = retry_after.as_secs_f64().ceil().max(1.0).to_string();
                response
                    .headers_mut()
                    .insert("retry-after", seconds.parse().expect("digits"));
                response
            }
            _ => error(StatusCode::BAD_REQUEST, message, None),
        },
        CallError::Wait(WaitError::Rejected(rejection)) => match rejection {
            Rejection::Domain(refusal) => {
                let status = match refusal {
                    Refusal::NoItem(_) => StatusCode::NOT_FOUND,
                    Refusal::AlreadyExists(_) | Refusal::Deactivated(_) => StatusCode::CONFLICT,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                error(status, message, Some(json!(refusal)))
            }
            Rejection::Conflict { .. } => error(StatusCode::CONFLICT, message, None),
            _ => error(StatusCode::INTERNAL_SERVER_ERROR, message, None),
        },
        CallError::Wait(WaitError::TimedOut) => error(StatusCode::GATEWAY_TIMEOUT, message, None),
        _ => error(StatusCode::SERVICE_UNAVAILABLE, message, None),
    }
}

fn error(status: StatusCode, message: String, refusal: Option<serde_json::Value>) -> Response {
    (
        status,
        Json(json!({ "error": message, "refusal": refusal })),
    )
        .into_response()
}
