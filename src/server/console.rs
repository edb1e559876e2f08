//! The web console: `web/` (plain HTML, JS and CSS) compiled into the
//! binary and served at `/`, so the server needs no files at run time.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

const INDEX: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const STYLE_CSS: &str = include_str!("../../web/style.css");

/// `GET /`: the console page.
pub async fn index() -> Html<&'static str> {
    Html(INDEX)
}

/// `GET /console/{file}`: the console's script and style sheet.
pub async fn asset(Path(file): Path<String>) -> Response {
    match file.as_str() {
        "app.js" => (
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
            APP_JS,
        )
            .into_response(),
        "style.css" => (
            [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
            STYLE_CSS,
        )
            .into_response(),
        _ => (StatusCode::NOT_FOUND, format!("no console file '{file}'")).into_response(),
    }
}
