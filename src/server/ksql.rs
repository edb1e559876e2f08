//! `POST /ksql`: statements other than queries, answered with one ksqlDB
//! entity per statement.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::entities::{command_id, current_status, has_no_entity, listing};
use super::error::{ApiError, QUERY_ENDPOINT};
use super::request::{self, negotiate, parse_body, required, KsqlRequest, JSON, KSQL_V1_JSON};
use super::ServerState;
use crate::engine::{with_statement, Outcome};
use crate::sql::ast::Statement;

/// `POST /ksql` with a `KsqlRequest` body.
pub async fn ksql(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: KsqlRequest = parse_body(&body, "/ksql")?;
    let sql = required(req.ksql, "ksql", "/ksql")?;
    if state.shutdown_token().is_cancelled() {
        return Err(state.shutting_down());
    }
    let mut session = request::session(
        req.streams_properties.as_ref(),
        req.session_variables.as_ref(),
    );
    let engine = state.engine();
    let statements = engine
        .parse(&session, &sql)
        .await
        .map_err(|e| ApiError::statement(&e, &sql, Vec::new()))?;
    if let Some(query) = statements
        .iter()
        .find(|s| matches!(s.statement, Statement::Query(_) | Statement::Print(_)))
    {
        return Err(ApiError::statement_with_code(
            StatusCode::BAD_REQUEST,
            QUERY_ENDPOINT,
            "The following statement types should be issued to the streaming endpoints \
             '/query' or '/query-stream':\n\t* PRINT\n\t* SELECT",
            &query.text,
            Vec::new(),
        ));
    }
    let mut entities: Vec<Value> = Vec::new();
    for stmt in &statements {
        let outcome = engine
            .execute_statement(&mut session, stmt)
            .await
            .map_err(|e| {
                ApiError::statement(&with_statement(e, stmt), &stmt.text, entities.clone())
            })?;
        if has_no_entity(&stmt.statement) {
            continue;
        }
        let text = stmt.text.trim();
        let entity = match (&outcome, command_id(&stmt.statement)) {
            (Outcome::Message { message }, Some(id)) => {
                let command = state.record_command(id, message);
                current_status(text, Some(&command), message, None)
            }
            (Outcome::QueryStarted { message, query_id }, Some(id)) => {
                let command = state.record_command(id, message);
                current_status(text, Some(&command), message, Some(query_id))
            }
            (Outcome::Description(_) | Outcome::Explain { .. }, _) => {
                listing(text, &outcome, &state.running_queries().await)
            }
            _ => listing(text, &outcome, &[]),
        };
        entities.push(entity);
    }
    let content_type = negotiate(&headers, &[KSQL_V1_JSON, JSON], KSQL_V1_JSON);
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        Value::Array(entities).to_string(),
    )
        .into_response())
}
