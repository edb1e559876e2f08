//! `POST /query` (ksqlDB's old streaming API), `POST /query-stream` (the
//! new one) and `POST /close-query`.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::entities::schema_string;
use super::error::{ApiError, BAD_STATEMENT};
use super::push::{print_body, push_body, StreamFormat};
use super::request::{
    self, negotiate, parse_body, required, CloseQueryArgs, KsqlRequest, QueryStreamArgs, DELIMITED,
    JSON, KSQL_V1_JSON,
};
use super::values::batch_rows;
use super::ServerState;
use crate::config::Session;
use crate::engine::{with_statement, Outcome, PullResult};
use crate::sql::ast::Statement;

/// `POST /query`: a push query (or PRINT) as a chunked JSON array of
/// `StreamedRow`s.
pub async fn query(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: KsqlRequest = parse_body(&body, "/query")?;
    let sql = required(req.ksql, "ksql", "/query")?;
    let mut session = request::session(
        req.streams_properties.as_ref(),
        req.session_variables.as_ref(),
    );
    session.authorization = authorization(&headers);
    let content_type = negotiate(&headers, &[KSQL_V1_JSON, JSON], KSQL_V1_JSON);
    start(
        &state,
        session,
        &sql,
        StreamFormat::StreamedRows,
        content_type,
    )
    .await
}

/// `POST /internal/pull`: a pull query another server of the service
/// forwards, answered for the partitions it names only, as Arrow IPC.
pub async fn internal_pull(
    State(state): State<Arc<ServerState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Forwarded {
        ksql: Option<String>,
        streams_properties: Option<serde_json::Map<String, serde_json::Value>>,
        partitions: Option<Vec<i32>>,
    }
    let req: Forwarded = parse_body(&body, "/internal/pull")?;
    let sql = required(req.ksql, "ksql", "/internal/pull")?;
    let partitions = req.partitions.ok_or_else(|| {
        ApiError::from(crate::error::Error::user(
            "/internal/pull needs the partitions to answer for",
        ))
    })?;
    let mut session = request::session(req.streams_properties.as_ref(), None);
    session.partitions = Some(partitions);
    let outcomes = state.engine().execute(&mut session, &sql).await?;
    let rows = match outcomes.into_iter().last() {
        Some(crate::engine::Outcome::Pull(p)) => p.rows,
        _ => {
            return Err(ApiError::from(crate::error::Error::user(
                "/internal/pull takes one pull query",
            )))
        }
    };
    let encoded = crate::engine::cluster::encode_rows(&rows)?;
    Ok(axum::Json(serde_json::json!({ "rows": encoded })).into_response())
}

/// `POST /query-stream`: a push query (or PRINT), delimited (the default)
/// or as one JSON array, chosen by `Accept`.
pub async fn query_stream(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let args: QueryStreamArgs = parse_body(&body, "/query-stream")?;
    let sql = required(args.sql, "sql", "/query-stream")?;
    let mut session = request::session(args.properties.as_ref(), args.session_variables.as_ref());
    session.authorization = authorization(&headers);
    let content_type = negotiate(&headers, &[DELIMITED, JSON, KSQL_V1_JSON], DELIMITED);
    let format = match content_type {
        JSON => StreamFormat::JsonArray,
        KSQL_V1_JSON => StreamFormat::StreamedRows,
        _ => StreamFormat::Delimited,
    };
    start(&state, session, &sql, format, content_type).await
}

/// The request's `Authorization` header, for the pull queries it forwards.
fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Runs the one query of `sql` (after any SET/DEFINE statements before it)
/// and answers with its stream.
async fn start(
    state: &Arc<ServerState>,
    mut session: Session,
    sql: &str,
    format: StreamFormat,
    content_type: &'static str,
) -> Result<Response, ApiError> {
    if state.shutdown_token().is_cancelled() {
        return Err(state.shutting_down());
    }
    let started = std::time::Instant::now();
    let engine = state.engine();
    let statements = engine
        .parse(&session, sql)
        .await
        .map_err(|e| ApiError::statement(&e, sql, Vec::new()))?;
    let Some((last, leading)) = statements.split_last() else {
        return Err(ApiError::bad_request("The request holds no statement"));
    };
    let not_a_query = |text: &str| {
        ApiError::statement_with_code(
            StatusCode::BAD_REQUEST,
            BAD_STATEMENT,
            "Only SELECT … EMIT CHANGES and PRINT statements can be sent to this endpoint; \
             send other statements to /ksql",
            text,
            Vec::new(),
        )
    };
    for stmt in leading {
        if !matches!(
            stmt.statement,
            Statement::SetProperty { .. }
                | Statement::UnsetProperty { .. }
                | Statement::Define { .. }
                | Statement::Undefine { .. }
        ) {
            return Err(not_a_query(&stmt.text));
        }
        engine
            .execute_statement(&mut session, stmt)
            .await
            .map_err(|e| ApiError::statement(&with_statement(e, stmt), &stmt.text, Vec::new()))?;
    }
    if !matches!(last.statement, Statement::Query(_) | Statement::Print(_)) {
        return Err(not_a_query(&last.text));
    }
    let outcome = engine
        .execute_statement(&mut session, last)
        .await
        .map_err(|e| ApiError::statement(&with_statement(e, last), &last.text, Vec::new()))?;
    let body = match outcome {
        Outcome::Push(push) => {
            state.metrics.push_started(started.elapsed());
            push_body(push, format, state.push_queries(), state.shutdown_token())
        }
        Outcome::Print(print) => print_body(print, state.shutdown_token()),
        Outcome::Pull(result) => {
            let body = pull_body(&result, format)
                .map_err(|e| ApiError::statement(&e, &last.text, Vec::new()))?;
            state.metrics.pull_served(started.elapsed());
            Body::from(body)
        }
        _ => return Err(not_a_query(&last.text)),
    };
    Ok(streaming(content_type, body))
}

/// The whole response to a pull query, in the shape of a push query's:
/// for `/query` the header (key columns marked `KEY`), the rows and, for a
/// stream, the final message; for `/query-stream` the metadata and the
/// rows.
fn pull_body(result: &PullResult, format: StreamFormat) -> crate::error::Result<String> {
    let mut rows: Vec<Value> = Vec::with_capacity(result.row_count());
    for batch in &result.rows {
        rows.extend(
            batch_rows(batch, result.columns.len())?
                .into_iter()
                .map(Value::Array),
        );
    }
    let out = match format {
        StreamFormat::StreamedRows => {
            let mut elements = vec![json!({"header": {
                "queryId": result.id,
                "schema": schema_string(&result.columns, true),
            }})];
            elements.extend(rows.into_iter().map(|r| json!({"row": {"columns": r}})));
            elements.extend(result.final_message.map(|m| json!({ "finalMessage": m })));
            let lines: Vec<String> = elements.iter().map(Value::to_string).collect();
            format!("[{}]\n", lines.join(",\n"))
        }
        StreamFormat::Delimited | StreamFormat::JsonArray => {
            let meta = json!({
                "queryId": result.id,
                "columnNames": result.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
                "columnTypes": result
                    .columns
                    .iter()
                    .map(|c| c.sql_type.to_string())
                    .collect::<Vec<_>>(),
            });
            if format == StreamFormat::Delimited {
                let mut out = format!("{meta}\n");
                for r in rows {
                    out.push_str(&r.to_string());
                    out.push('\n');
                }
                out
            } else {
                let mut all = vec![meta];
                all.extend(rows);
                Value::Array(all).to_string()
            }
        }
    };
    Ok(out)
}

fn streaming(content_type: &'static str, body: Body) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `POST /close-query`: ends a running push query; 200 with an empty body.
pub async fn close_query(
    State(state): State<Arc<ServerState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let args: CloseQueryArgs = parse_body(&body, "/close-query")?;
    let id = required(args.query_id, "queryId", "/close-query")?;
    if state.push_queries().close(&id) {
        Ok(StatusCode::OK.into_response())
    } else {
        Err(ApiError::bad_request(format!("No query with id {id}")))
    }
}
