//! What every HTTP component shares: the request context, configuration,
//! JSON responses, paging, and the one mapping from [`CoreError`] to HTTP.

use http::{header, HeaderValue, StatusCode};
use serde_json::{json, Value as Json};

use crate::error::CoreError;
use crate::params::Params;
use crate::store::{Clock, Kv, Sql, StoreError};

pub type Request = http::Request<Vec<u8>>;
pub type Response = http::Response<Vec<u8>>;

/// Largest JSON/form body the admin API reads; larger ones get a 413.
pub const MAX_API_BODY: usize = 1024 * 1024;

/// Settings from Spin variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// The bootstrap admin token; no admin token is accepted when unset.
    pub admin_token: Option<String>,
    /// Key material for encrypting upstream passwords.
    pub secret_key: String,
    /// Size of the chunks blobs are split into in the key-value store.
    pub blob_chunk_bytes: usize,
    /// Whether upstream URLs may point at loopback or private networks.
    pub allow_local_upstreams: bool,
    /// How long a 404 from a remote upstream is remembered.
    pub negative_cache_seconds: i64,
    /// The largest file accepted or proxied.
    pub max_file_bytes: u64,
    /// How long one upstream request may take.
    pub upstream_timeout_seconds: u64,
    /// Redis address and channel of sync triggers.
    pub redis_url: String,
    pub sync_channel: String,
    /// How long a sync lease is held.
    pub lease_seconds: i64,
    /// How long a merged Go version list is cached.
    pub list_cache_seconds: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            admin_token: None,
            secret_key: String::new(),
            blob_chunk_bytes: crate::blobs::DEFAULT_CHUNK_BYTES,
            allow_local_upstreams: false,
            negative_cache_seconds: 60,
            max_file_bytes: 1 << 30,
            upstream_timeout_seconds: 30,
            redis_url: "redis://127.0.0.1:6379".into(),
            sync_channel: "vreg-sync".into(),
            lease_seconds: 3600,
            list_cache_seconds: 60,
        }
    }
}

impl Config {
    /// Builds the configuration from a variable lookup (Spin variables in a
    /// component, a map in tests). Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let number = |name: &str| get(name).and_then(|v| v.trim().parse::<u64>().ok());
        let defaults = Config::default();
        Config {
            admin_token: get("admin_token"),
            secret_key: get("secret_key").unwrap_or_default(),
            blob_chunk_bytes: number("blob_chunk_bytes")
                .map_or(defaults.blob_chunk_bytes, |n| n as usize),
            allow_local_upstreams: get("allow_local_upstreams").is_some_and(|v| v.trim() == "true"),
            negative_cache_seconds: number("negative_cache_seconds")
                .map_or(defaults.negative_cache_seconds, |n| n as i64),
            max_file_bytes: number("max_file_bytes").unwrap_or(defaults.max_file_bytes),
            upstream_timeout_seconds: number("upstream_timeout_seconds")
                .unwrap_or(defaults.upstream_timeout_seconds),
            redis_url: get("redis_url").unwrap_or(defaults.redis_url),
            sync_channel: get("sync_channel").unwrap_or(defaults.sync_channel),
            lease_seconds: number("lease_seconds").map_or(defaults.lease_seconds, |n| n as i64),
            list_cache_seconds: number("list_cache_seconds")
                .map_or(defaults.list_cache_seconds, |n| n as i64),
        }
    }
}

/// The stores, clock and settings a request is handled with.
pub struct Context<'a> {
    pub sql: &'a dyn Sql,
    pub kv: &'a dyn Kv,
    pub clock: &'a dyn Clock,
    pub config: &'a Config,
}

impl Context<'_> {
    pub fn now(&self) -> i64 {
        self.clock.now_millis()
    }
}

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

/// The one place errors become responses: GitLab's `{"message": ...}`.
pub fn error_response(error: &CoreError) -> Response {
    let status = status_of(error);
    let message = match error {
        CoreError::Store(StoreError::Constraint(_)) => {
            "409 Conflict: a concurrent request changed the same record".to_owned()
        }
        // Internal details stay in the logs, not in responses.
        CoreError::Store(StoreError::Busy) => {
            "503 Service Unavailable: database is busy".to_owned()
        }
        CoreError::Store(_) => "500 Internal Server Error".to_owned(),
        other => other.to_string(),
    };
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
