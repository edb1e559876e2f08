//! `GET /info`, `/healthcheck`, `/status` and the container checks.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::request::KSQL_V1_JSON;
use super::{ServerState, KSQLDB_VERSION};

fn answer(body: Value) -> Response {
    ([(header::CONTENT_TYPE, KSQL_V1_JSON)], body.to_string()).into_response()
}

fn server_status(state: &ServerState) -> &'static str {
    if state.shutdown_token().is_cancelled() {
        "SHUTTING_DOWN"
    } else if state.engine().degraded().is_some() {
        // The command topic holds a command this server cannot apply
        // (ksqlDB's DEGRADED): it refuses catalog changes.
        "DEGRADED"
    } else {
        "RUNNING"
    }
}

/// `GET /info`: `{"KsqlServerInfo": {...}}`.
pub async fn info(State(state): State<Arc<ServerState>>) -> Response {
    let engine = state.engine();
    answer(json!({"KsqlServerInfo": {
        "version": KSQLDB_VERSION,
        "kafkaClusterId": format!("sluice-{}", engine.broker().address()),
        "ksqlServiceId": engine.config().service_id,
        "serverStatus": server_status(&state),
    }}))
}

/// `GET /healthcheck`: whether the broker answers.
pub async fn healthcheck(State(state): State<Arc<ServerState>>) -> Response {
    let admin = state.engine().broker().admin();
    let kafka = matches!(
        tokio::time::timeout(Duration::from_secs(5), admin.list_topics()).await,
        Ok(Ok(_))
    );
    // The registry answers a lookup of a subject nobody registers (an
    // external one over HTTP, hence a blocking task and a deadline).
    let registry = match state.engine().schema_registry() {
        None => Value::Null,
        Some(registry) => {
            let url = registry.get().url();
            let ask = tokio::task::spawn_blocking(move || {
                registry.get().latest("_sluice-healthcheck-value").is_ok()
            });
            let reachable = matches!(
                tokio::time::timeout(Duration::from_secs(5), ask).await,
                Ok(Ok(true))
            );
            json!({"isHealthy": reachable, "url": url})
        }
    };
    let queries = state.engine().query_metrics(false).await;
    let failing: Vec<Value> = state
        .engine()
        .failed_queries()
        .await
        .into_iter()
        .map(|(id, error)| json!({"queryId": id, "error": error}))
        .collect();
    let erroring: Vec<&str> = queries
        .iter()
        .filter(|q| q.state == "ERROR")
        .map(|q| q.id.as_str())
        .collect();
    let command_runner = state.engine().degraded().is_none();
    let registry_ok = registry.get("isHealthy").and_then(Value::as_bool) != Some(false);
    let mut details = json!({
        "metastore": {"isHealthy": true},
        "kafka": {"isHealthy": kafka},
        "commandRunner": {"isHealthy": command_runner},
        "queries": {
            "isHealthy": erroring.is_empty() && failing.is_empty(),
            "running": queries.len(),
            "notReady": queries.iter().filter(|q| !q.ready).map(|q| q.id.clone()).collect::<Vec<_>>(),
            "erroring": erroring,
            "failed": failing,
        },
    });
    if !registry.is_null() {
        details["schemaRegistry"] = registry;
    }
    answer(json!({
        // As ksqlDB: the server is healthy when it can serve; queries in
        // error are reported in details.queries.
        "isHealthy": kafka && command_runner && registry_ok,
        "details": details,
        "serverState": server_status(&state),
    }))
}

/// `GET /clusterStatus`: the servers of the service and, for each, the
/// partitions of each persistent query it reads (ksqlDB's layout).
pub async fn cluster_status(State(state): State<Arc<ServerState>>) -> Response {
    let engine = state.engine();
    let mut hosts = Map::new();
    let members = match engine.cluster() {
        Some(c) => c.members(),
        None => Vec::new(),
    };
    for (member, alive) in members {
        let mut per_query = Map::new();
        for (query, partitions) in &member.queries {
            let topic = engine.query_input_topic(query).await.unwrap_or_default();
            per_query.insert(
                query.clone(),
                json!({
                    "activeStores": [],
                    "activePartitions": partitions
                        .iter()
                        .map(|p| json!({"topic": topic, "partition": p}))
                        .collect::<Vec<_>>(),
                    "standByStores": [],
                    "standByPartitions": [],
                }),
            );
        }
        let host = member
            .url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .to_string();
        hosts.insert(
            host,
            json!({
                "hostAlive": alive,
                "lastStatusUpdateMs": member.heartbeat,
                "activeStandbyPerQuery": per_query,
                "hostStoreLags": {"stateStoreLags": {}, "updateTimeMs": member.heartbeat},
            }),
        );
    }
    answer(json!({"@type": "clusterStatus", "clusterStatus": hosts}))
}

/// `GET /status`: every command's status, by command id.
pub async fn statuses(State(state): State<Arc<ServerState>>) -> Response {
    let statuses: Map<String, Value> = state
        .command_statuses()
        .into_iter()
        .map(|(id, status, _)| (id, Value::String(status)))
        .collect();
    answer(json!({"commandStatuses": statuses}))
}

/// `GET /status/{type}/{entity}/{action}`: one command's status. The
/// entity matches with or without backticks.
pub async fn status(
    State(state): State<Arc<ServerState>>,
    Path((kind, entity, action)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let wanted = format!("{kind}/{}/{action}", entity.trim_matches('`'));
    state
        .command_statuses()
        .into_iter()
        .find(|(id, _, _)| id.replace('`', "").eq_ignore_ascii_case(&wanted))
        .map(|(_, status, message)| answer(json!({"status": status, "message": message})))
        .ok_or_else(|| ApiError::not_found(format!("Command not found: {wanted}")))
}

/// `GET /chc/ready` and `/chc/live`: `{}` while the server runs.
pub async fn container_check() -> Response {
    answer(json!({}))
}

/// `GET /is_valid_property/{name}`: every property may be set per request.
pub async fn is_valid_property(Path(_name): Path<String>) -> Response {
    answer(Value::Bool(true))
}
