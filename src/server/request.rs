//! Request bodies and content negotiation: bodies are parsed here into
//! typed requests, so that a malformed body is a 400 that says what was
//! wrong, never a 500.

use axum::http::{header, HeaderMap};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::config::Session;

/// `application/vnd.ksql.v1+json`: the versioned JSON type of `/ksql` and
/// `/query`.
pub const KSQL_V1_JSON: &str = "application/vnd.ksql.v1+json";
/// The longest statement text a request may hold.
pub const MAX_STATEMENT_BYTES: usize = 1 << 20;
/// The largest request body (except the streamed rows of
/// `/inserts-stream`).
pub const MAX_BODY_BYTES: usize = 2 * MAX_STATEMENT_BYTES;

/// `application/json`.
pub const JSON: &str = "application/json";
/// `application/vnd.ksqlapi.delimited.v1`: one JSON document per line
/// (the default of `/query-stream` and `/inserts-stream`).
pub const DELIMITED: &str = "application/vnd.ksqlapi.delimited.v1";

/// The body of `/ksql` and `/query` (ksqlDB's `KsqlRequest`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KsqlRequest {
    /// The statements.
    pub ksql: Option<String>,
    /// Per-request property overrides.
    pub streams_properties: Option<Map<String, Value>>,
    /// Values of `${name}` references.
    pub session_variables: Option<Map<String, Value>>,
}

/// The body of `/query-stream` (ksqlDB's `QueryStreamArgs`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryStreamArgs {
    /// The query.
    pub sql: Option<String>,
    /// Per-request property overrides.
    pub properties: Option<Map<String, Value>>,
    /// Values of `${name}` references.
    pub session_variables: Option<Map<String, Value>>,
}

/// The body of `/close-query`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloseQueryArgs {
    /// The push query to close.
    pub query_id: Option<String>,
}

/// The first line of `/inserts-stream` (ksqlDB's `InsertsStreamArgs`).
#[derive(Debug, Deserialize)]
pub struct InsertsStreamArgs {
    /// The stream to insert into.
    pub target: Option<String>,
}

/// Parses a JSON request body into `T`; a 400 naming the problem if it
/// is not JSON or not an object of the expected shape.
pub fn parse_body<T: DeserializeOwned>(body: &[u8], endpoint: &str) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(format!(
            "The request body of {endpoint} is empty; expected a JSON object"
        )));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "The request body of {endpoint} is not valid JSON: {e}"
        ))
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(format!(
            "The request body of {endpoint} must be a JSON object"
        )));
    }
    serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("Invalid request body of {endpoint}: {e}")))
}

/// A required string field, or a 400 naming it.
pub fn required(value: Option<String>, field: &str, endpoint: &str) -> Result<String, ApiError> {
    if let Some(v) = &value {
        if v.len() > MAX_STATEMENT_BYTES {
            return Err(ApiError::bad_request(format!(
                "The field '{field}' of the request body of {endpoint} holds {} bytes; sluice \
                 takes statements of at most {} bytes",
                v.len(),
                MAX_STATEMENT_BYTES
            )));
        }
    }
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        Some(_) => Err(ApiError::bad_request(format!(
            "The field '{field}' of the request body of {endpoint} is empty"
        ))),
        None => Err(ApiError::bad_request(format!(
            "The request body of {endpoint} has no '{field}' field"
        ))),
    }
}

/// A session for one request: its property overrides and variables.
pub fn session(
    properties: Option<&Map<String, Value>>,
    variables: Option<&Map<String, Value>>,
) -> Session {
    let mut session = Session::default();
    for (name, value) in properties.into_iter().flatten() {
        session.properties.insert(name.clone(), text(value));
    }
    for (name, value) in variables.into_iter().flatten() {
        session.variables.insert(name.to_uppercase(), text(value));
    }
    session
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The media types of the `Accept` header, best first (by `q`, then by
/// order); empty when there is none.
pub fn accepted(headers: &HeaderMap) -> Vec<String> {
    let mut types: Vec<(f32, usize, String)> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .enumerate()
        .filter_map(|(i, item)| {
            let mut parts = item.split(';');
            let media = parts.next()?.trim().to_ascii_lowercase();
            if media.is_empty() {
                return None;
            }
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((q, i, media))
        })
        .collect();
    types.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    types.into_iter().map(|(_, _, m)| m).collect()
}

/// The first of `offered` the client accepts, else `default` (also for
/// `*/*` or no `Accept` header).
pub fn negotiate(
    headers: &HeaderMap,
    offered: &[&'static str],
    default: &'static str,
) -> &'static str {
    for media in accepted(headers) {
        if media == "*/*" || media == "application/*" {
            return default;
        }
        if let Some(found) = offered.iter().find(|o| **o == media) {
            return found;
        }
    }
    default
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn negotiates_by_weight() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "application/vnd.ksql.v1+json; q=0.9, application/json; q=0.95",
            ),
        );
        assert_eq!(negotiate(&h, &[KSQL_V1_JSON, JSON], DELIMITED), JSON);
        assert_eq!(
            negotiate(&HeaderMap::new(), &[KSQL_V1_JSON, JSON], DELIMITED),
            DELIMITED
        );
    }

    #[test]
    fn malformed_bodies_are_bad_requests() {
        let e = parse_body::<KsqlRequest>(b"{nope", "/ksql")
            .err()
            .map(|e| e.status());
        assert_eq!(e, Some(axum::http::StatusCode::BAD_REQUEST));
        let e = parse_body::<KsqlRequest>(br#"{"ksql": 3}"#, "/ksql")
            .err()
            .map(|e| e.status());
        assert_eq!(e, Some(axum::http::StatusCode::BAD_REQUEST));
    }
}
