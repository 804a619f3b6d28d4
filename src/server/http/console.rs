//! The web console, embedded in the binary: `GET /` answers its page, `/assets/…` its
//! script and stylesheet (bundled from `console/` by `build.rs`). The page loads nothing
//! from anywhere else, and its content security policy says so to the browser.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::server::errors::ServeError;

macro_rules! asset {
    ($name:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/console/", $name))
    };
}

const INDEX: &[u8] = asset!("index.html");
const APP_JS: &[u8] = asset!("app.js");
const APP_CSS: &[u8] = asset!("app.css");
const LICENSES: &[u8] = asset!("licenses.txt");

/// Scripts and styles from this server only; images also as blob URLs (thumbnails fetched
/// with the token); inline styles for the editor and the charts.
const CSP: &str = "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; \
                   script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn answer(content_type: &'static str, body: &'static [u8]) -> Response {
    let mut r = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    r
}

pub(super) async fn index() -> Response {
    answer("text/html; charset=utf-8", INDEX)
}

pub(super) async fn asset(Path(name): Path<String>) -> Result<Response, ServeError> {
    Ok(match name.as_str() {
        "app.js" => answer("text/javascript; charset=utf-8", APP_JS),
        "app.css" => answer("text/css; charset=utf-8", APP_CSS),
        "licenses.txt" => answer("text/plain; charset=utf-8", LICENSES),
        _ => return Err(ServeError::not_found(format!("no console asset '{name}'"))),
    })
}
