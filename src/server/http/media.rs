//! Media over HTTP: the JPEG thumbnail of an image or keyframe, for whoever sees its dataset
//! (the console's grids, the Python client's `show`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use dyntag_core::model::access::View;
use dyntag_core::service::import::thumbnail_path;

use super::{AppState, caller};
use crate::server::errors::ServeError;

/// An image's thumbnail (routed from the lifecycle table, `lifecycle::ROUTES`).
pub(super) async fn thumbnail(
    State(state): State<AppState>,
    Path((dataset, image_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ServeError> {
    let caller = caller(&state, &headers)?;
    let snapshot = state.server.catalog().refresh().await?;
    View::new(&snapshot, &caller.principal).dataset(&dataset)?;
    let no_such = || {
        ServeError::not_found(format!(
            "no thumbnail of image '{image_id}' in dataset '{dataset}'"
        ))
    };
    // Ids are file stems: never a path.
    if image_id.is_empty() || image_id.contains(['/', '\\']) || image_id.starts_with('.') {
        return Err(no_such());
    }
    let bytes = state
        .server
        .catalog()
        .store()
        .get(&thumbnail_path(&dataset, &image_id))
        .await?
        .ok_or_else(no_such)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        bytes,
    )
        .into_response())
}
