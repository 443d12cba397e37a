//! The web dashboard: static files under `examples/gateway/dashboard/`, embedded in the
//! binary at build time and served at `/` and `/assets/...`. The page itself needs no token;
//! the API calls it makes do. Nothing is fetched from anywhere but this gateway.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::api::ApiError;

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!("../dashboard/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// Every file of the dashboard; a test checks this list against the folder.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", CSS),
    asset!("js/main.js", JS),
    asset!("js/api.js", JS),
    asset!("js/stream.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/format.js", JS),
    asset!("js/charts.js", JS),
    asset!("js/live.js", JS),
    asset!("js/history.js", JS),
    asset!("js/detail.js", JS),
    asset!("js/sources.js", JS),
    asset!("vendor/uplot/uPlot.iife.min.js", JS),
    asset!("vendor/uplot/uPlot.min.css", CSS),
    asset!("vendor/uplot/LICENSE", TEXT),
    asset!("vendor/uplot/VERSION", TEXT),
];

/// Only this gateway may be reached from the page: no CDN, no remote fonts, no inline script.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{*path}", get(asset))
}

async fn index() -> Response {
    serve(find("index.html"))
}

async fn asset(Path(path): Path<String>) -> Response {
    match find(&path) {
        Some(asset) if asset.path != "index.html" => serve(Some(asset)),
        _ => ApiError::new(StatusCode::NOT_FOUND, format!("no dashboard file '{path}'"))
            .into_response(),
    }
}

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

fn serve(asset: Option<&'static Asset>) -> Response {
    let Some(asset) = asset else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    // Files change only with the binary; revalidating is cheap on a fab LAN and means an
    // upgraded gateway is never shown with an old script.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path as FsPath, PathBuf};

    fn files_under(dir: &FsPath, root: &FsPath, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path: PathBuf = entry.unwrap().path();
            if path.is_dir() {
                files_under(&path, root, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_string_lossy().into());
            }
        }
    }

    #[test]
    fn every_dashboard_file_is_embedded_once() {
        let root = FsPath::new(env!("CARGO_MANIFEST_DIR")).join("dashboard");
        let mut on_disk = Vec::new();
        files_under(&root, &root, &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
    }

    /// The targets of `marker...` up to the closing quote, in `text`.
    fn references<'a>(text: &'a str, marker: &str) -> Vec<&'a str> {
        text.match_indices(marker)
            .map(|(i, _)| {
                let rest = &text[i + marker.len()..];
                &rest[..rest.find(['"', '\'']).unwrap()]
            })
            .collect()
    }

    #[test]
    fn every_file_the_page_and_scripts_refer_to_is_embedded() {
        let page = std::str::from_utf8(find("index.html").unwrap().body).unwrap();
        let mut missing = Vec::new();
        for target in references(page, "\"/assets/") {
            if find(target).is_none() {
                missing.push(format!("index.html -> /assets/{target}"));
            }
        }
        for script in ASSETS.iter().filter(|a| a.path.starts_with("js/")) {
            let text = std::str::from_utf8(script.body).unwrap();
            for target in references(text, "from './") {
                if find(&format!("js/{target}")).is_none() {
                    missing.push(format!("{} -> ./{target}", script.path));
                }
            }
        }
        assert!(missing.is_empty(), "not embedded: {missing:?}");
    }
}
