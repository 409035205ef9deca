//! The HTTP surface: request and response types, JSON responses, paging,
//! parameters, streaming bodies, outbound fetches, the admin routes, and the
//! one mapping from [`CoreError`] to HTTP.

pub mod admin;
pub mod body;
pub mod fetch;
pub mod params;

use http::{header, HeaderValue, StatusCode};
use serde_json::{json, Value as Json};

use crate::error::CoreError;
use crate::http::params::Params;
use crate::storage::StoreError;

pub type Request = http::Request<Vec<u8>>;
pub type Response = http::Response<Vec<u8>>;

/// Largest JSON/form body the admin API reads; larger ones get a 413.
pub const MAX_API_BODY: usize = 1024 * 1024;

pub fn json_response(status: StatusCode, body: &Json) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = http::Response::new(bytes);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub fn no_content() -> Response {
    let mut response = http::Response::new(Vec::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

pub fn status_of(error: &CoreError) -> StatusCode {
    match error {
        CoreError::BadRequest(_) => StatusCode::BAD_REQUEST,
        CoreError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        CoreError::Forbidden => StatusCode::FORBIDDEN,
        CoreError::NotFound(_) => StatusCode::NOT_FOUND,
        CoreError::Conflict(_) => StatusCode::CONFLICT,
        CoreError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        CoreError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
        CoreError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        CoreError::Upstream(_) => StatusCode::BAD_GATEWAY,
        // Two writers raced for the same unique value: the loser conflicts.
        CoreError::Store(StoreError::Constraint(_)) => StatusCode::CONFLICT,
        CoreError::Store(StoreError::Busy) => StatusCode::SERVICE_UNAVAILABLE,
        CoreError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// What a client is told about an error: its text, except that internal
/// details stay in the logs.
pub fn error_message(error: &CoreError) -> String {
    match error {
        CoreError::Store(StoreError::Constraint(_)) => {
            "409 Conflict: a concurrent request changed the same record".to_owned()
        }
        CoreError::Store(StoreError::Busy) => {
            "503 Service Unavailable: database is busy".to_owned()
        }
        CoreError::Store(_) => "500 Internal Server Error".to_owned(),
        other => other.to_string(),
    }
}

/// The one place errors become responses: GitLab's `{"message": ...}`.
/// (The Go proxy sends the same status and message as plain text.)
pub fn error_response(error: &CoreError) -> Response {
    let status = status_of(error);
    let message = error_message(error);
    let mut response = json_response(status, &json!({ "message": message }));
    match error {
        CoreError::Unauthorized(_) => {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"vreg\""),
            );
        }
        CoreError::Store(StoreError::Busy) => {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        _ => {}
    }
    response
}

pub fn header_str<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

pub fn query_params(request: &Request) -> Params {
    Params::from_form(request.uri().query().unwrap_or("").as_bytes())
}

/// GitLab's offset paging: `page` (from 1) and `per_page` (default 20, at most 100).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Page {
    pub page: i64,
    pub per_page: i64,
}

impl Page {
    pub const DEFAULT_PER_PAGE: i64 = 20;
    pub const MAX_PER_PAGE: i64 = 100;

    pub fn from_query(query: &Params) -> Result<Self, CoreError> {
        let page = query.integer("page")?.flatten().unwrap_or(1);
        let per_page = query
            .integer("per_page")?
            .flatten()
            .unwrap_or(Self::DEFAULT_PER_PAGE);
        if page < 1 {
            return Err(CoreError::BadRequest("page must be at least 1".into()));
        }
        if per_page < 1 {
            return Err(CoreError::BadRequest("per_page must be at least 1".into()));
        }
        Ok(Page {
            // Far-out pages are simply empty; the cap keeps OFFSET arithmetic sane.
            page: page.min(1_000_000),
            per_page: per_page.min(Self::MAX_PER_PAGE),
        })
    }

    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.per_page
    }
}

/// A JSON array response with GitLab's paging headers
/// (`X-Total`, `X-Total-Pages`, `X-Page`, `X-Per-Page`, `X-Next-Page`,
/// `X-Prev-Page`, `Link`).
pub fn paged_response(request: &Request, page: Page, total: i64, items: Vec<Json>) -> Response {
    let mut response = json_response(StatusCode::OK, &Json::Array(items));
    let total_pages = ((total + page.per_page - 1) / page.per_page).max(1);
    let next = (page.page < total_pages).then_some(page.page + 1);
    let prev = (page.page > 1).then(|| (page.page - 1).min(total_pages));
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("x-total", total.to_string());
    set("x-total-pages", total_pages.to_string());
    set("x-page", page.page.to_string());
    set("x-per-page", page.per_page.to_string());
    set(
        "x-next-page",
        next.map(|n| n.to_string()).unwrap_or_default(),
    );
    set(
        "x-prev-page",
        prev.map(|n| n.to_string()).unwrap_or_default(),
    );

    let link =
        |n: i64, rel: &str| format!("<{}>; rel=\"{rel}\"", page_url(request, n, page.per_page));
    let mut links = Vec::new();
    if let Some(p) = prev {
        links.push(link(p, "prev"));
    }
    if let Some(n) = next {
        links.push(link(n, "next"));
    }
    links.push(link(1, "first"));
    links.push(link(total_pages, "last"));
    set("link", links.join(", "));
    response
}

/// The request's own URL with `page`/`per_page` replaced. Absolute when Spin
/// told us the full URL (`spin-full-url`) or a Host header is present.
fn page_url(request: &Request, page: i64, per_page: i64) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes()) {
        if k != "page" && k != "per_page" {
            query.append_pair(&k, &v);
        }
    }
    query.append_pair("page", &page.to_string());
    query.append_pair("per_page", &per_page.to_string());
    let origin = header_str(request, "spin-full-url")
        .and_then(|u| url::Url::parse(u).ok())
        .map(|u| u.origin().ascii_serialization())
        .or_else(|| header_str(request, "host").map(|h| format!("http://{h}")))
        .unwrap_or_default();
    format!("{origin}{}?{}", request.uri().path(), query.finish())
}
