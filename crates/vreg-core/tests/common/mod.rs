//! A native admin API: the real request handler over real SQLite (rusqlite),
//! driven with HTTP requests as a client would send them.

#![allow(dead_code)]

pub mod maven;

use http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value as Json};
use vreg_core::storage::Publisher;
use vreg_core::{Config, Context, LazyConfig};
use vreg_testkit::{HttpFetch, ManualClock, MemoryKv, NativeSql, RecordingPublisher};

pub const ADMIN: &str = "admin-secret-token";
/// 2026-01-15T10:00:00Z
pub const START: i64 = 1_768_471_200_000;

pub struct App {
    pub sql: NativeSql,
    pub kv: MemoryKv,
    /// The `counters` store: a map of its own.
    pub tally: MemoryKv,
    pub clock: ManualClock,
    pub config: LazyConfig<'static>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Json,
    pub raw: Vec<u8>,
}

impl Reply {
    pub fn message(&self) -> String {
        match &self.body["message"] {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    pub fn id(&self) -> i64 {
        self.body["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no id in {}", self.body))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl App {
    pub fn new() -> Self {
        App {
            sql: NativeSql::open_in_memory().unwrap(),
            kv: MemoryKv::default(),
            tally: MemoryKv::default(),
            clock: ManualClock::at(START),
            config: LazyConfig::ready(Config {
                admin_token: Some(ADMIN.into()),
                secret_key: "test-secret-key".into(),
                ..Config::default()
            }),
        }
    }

    pub fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let mut builder = http::Request::builder().method(method).uri(path);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let request = builder.body(body).unwrap();
        let publisher = RecordingPublisher::default();
        let response = vreg_core::http::admin::handle(&self.context(&publisher), &request);
        let (parts, raw) = response.into_parts();
        let body = if raw.is_empty() {
            Json::Null
        } else {
            serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("non-JSON body ({e}): {raw:?}"))
        };
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
            raw,
        }
    }

    /// A JSON request with a token (`None`: anonymous).
    pub fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Json>,
    ) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        let body = body
            .map(|b| serde_json::to_vec(&b).unwrap())
            .unwrap_or_default();
        self.send(method, &format!("/api/v4{path}"), &headers, body)
    }

    pub fn admin(&self, method: Method, path: &str, body: Option<Json>) -> Reply {
        self.call(method, path, Some(ADMIN), body)
    }

    /// Like [`App::admin`], but the request must succeed.
    pub fn ok(&self, method: Method, path: &str, body: Option<Json>) -> Json {
        let reply = self.admin(method.clone(), path, body);
        assert!(
            reply.status.is_success(),
            "{method} {path} -> {} {}",
            reply.status,
            reply.body
        );
        reply.body
    }

    pub fn group(&self, name: &str, parent: Option<i64>) -> i64 {
        self.ok(
            Method::POST,
            "/groups",
            Some(json!({"name": name, "path": name, "parent_id": parent})),
        )["id"]
            .as_i64()
            .unwrap()
    }

    pub fn public_group(&self, name: &str) -> i64 {
        let group = json!({"name": name, "visibility": "public"});
        self.ok(Method::POST, "/groups", Some(group))["id"]
            .as_i64()
            .unwrap()
    }

    pub fn public_project(&self, name: &str, group: i64) -> i64 {
        let project = json!({"name": name, "namespace_id": group, "visibility": "public"});
        self.ok(Method::POST, "/projects", Some(project))["id"]
            .as_i64()
            .unwrap()
    }

    pub fn project(&self, name: &str, group: i64) -> i64 {
        self.ok(
            Method::POST,
            "/projects",
            Some(json!({"name": name, "namespace_id": group})),
        )["id"]
            .as_i64()
            .unwrap()
    }

    pub fn registry(&self, group: i64, kind: &str, name: &str) -> i64 {
        self.ok(
            Method::POST,
            &format!("/groups/{group}/-/virtual_registries/packages/{kind}/registries"),
            Some(json!({"name": name})),
        )["id"]
            .as_i64()
            .unwrap()
    }

    /// Creates an upstream in a group without linking it.
    pub fn create_upstream(&self, group: i64, kind: &str, body: Json) -> Reply {
        self.admin(
            Method::POST,
            &format!("/groups/{group}/-/virtual_registries/packages/{kind}/upstreams"),
            Some(body),
        )
    }

    pub fn link(&self, kind: &str, registry: i64, upstream: i64) -> Reply {
        self.admin(
            Method::POST,
            &format!("/virtual_registries/packages/{kind}/registry_upstreams"),
            Some(json!({"registry_id": registry, "upstream_id": upstream})),
        )
    }

    pub fn token(&self, body: Json) -> String {
        let reply = self.admin(Method::POST, "/personal_access_tokens", Some(body));
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["token"].as_str().unwrap().to_owned()
    }

    pub fn count(&self, table: &str) -> i64 {
        use vreg_core::storage::Sql;
        self.sql
            .execute(&format!("SELECT COUNT(*) FROM {table}"), &[])
            .unwrap()
            .scalar_i64()
            .unwrap()
    }

    /// How many rows SQL statements have changed so far (the app has one
    /// connection, as a Spin component has per request).
    pub fn sql_changes(&self) -> i64 {
        use vreg_core::storage::Sql;
        self.sql
            .execute("SELECT total_changes()", &[])
            .unwrap()
            .scalar_i64()
            .unwrap()
    }
}

impl App {
    /// A Maven request through the streaming handler, with real outbound HTTP.
    pub fn maven(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> vreg_core::http::body::CollectedResponse {
        let publisher = RecordingPublisher::default();
        maven_in(&self.context(&publisher), method, path, token, body)
    }
}

/// A Maven request through the streaming handler, in the context given.
pub fn maven_in(
    ctx: &Context,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> vreg_core::http::body::CollectedResponse {
    use base64::Engine;
    let basic = |t: &str| {
        let login = base64::engine::general_purpose::STANDARD.encode(format!("mvn:{t}"));
        ("authorization", format!("Basic {login}"))
    };
    let request = (method, path, token.map(basic), body);
    stream_in(ctx, vreg_core::maven::handle, request)
}

/// A request (with one credential header) through a streaming handler.
fn stream_in(
    ctx: &Context,
    handler: fn(
        &Context,
        &http::request::Parts,
        &mut dyn vreg_core::http::body::BodyReader,
        &mut dyn vreg_core::http::body::ResponseSink,
    ),
    (method, path, credential, body): (Method, &str, Option<(&str, String)>, &[u8]),
) -> vreg_core::http::body::CollectedResponse {
    let mut builder = http::Request::builder()
        .method(method)
        .uri(format!("/api/v4{path}"));
    if let Some((name, value)) = credential {
        builder = builder.header(name, value);
    }
    let (parts, ()) = builder.body(()).unwrap().into_parts();
    let mut sink = vreg_core::http::body::CollectedResponse::default();
    let mut reader = vreg_core::http::body::BytesReader::new(body.to_vec());
    handler(ctx, &parts, &mut reader, &mut sink);
    sink
}

impl App {
    /// A Go proxy request through the streaming handler.
    pub fn go(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &[u8],
        publisher: &dyn Publisher,
    ) -> vreg_core::http::body::CollectedResponse {
        go_in(&self.context(publisher), method, path, token, body)
    }

    pub fn sync(
        &self,
        payload: &[u8],
        publisher: &dyn Publisher,
    ) -> vreg_core::Result<vreg_core::golang::sync::Outcome> {
        vreg_core::golang::sync::handle_message(&self.context(publisher), payload)
    }

    /// What the worker does on a keyevent announcement of `key`.
    pub fn announce(
        &self,
        key: &str,
        publisher: &dyn Publisher,
    ) -> vreg_core::Result<vreg_core::golang::sync::Outcome> {
        vreg_core::golang::sync::handle_announcement(&self.context(publisher), key.as_bytes())
    }
}

/// A Go proxy request through the streaming handler, in the context given.
pub fn go_in(
    ctx: &Context,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> vreg_core::http::body::CollectedResponse {
    let credential = token.map(|t| ("private-token", t.to_owned()));
    stream_in(
        ctx,
        vreg_core::golang::proxy::handle,
        (method, path, credential, body),
    )
}

impl App {
    /// The request context over this app's stores, with real outbound HTTP.
    pub fn context<'a>(&'a self, publisher: &'a dyn Publisher) -> Context<'a> {
        Context {
            sql: &self.sql,
            kv: &self.kv,
            tally: &self.tally,
            clock: &self.clock,
            config: &self.config,
            fetch: &HttpFetch,
            publisher,
        }
    }

    /// The first column of the first row, as text.
    pub fn sql_text(&self, statement: &str) -> String {
        use vreg_core::storage::{Sql, Value};
        match self
            .sql
            .execute(statement, &[])
            .unwrap()
            .rows
            .first()
            .and_then(|r| r.first().cloned())
        {
            Some(Value::Text(t)) => t,
            other => panic!("{statement}: {other:?}"),
        }
    }
}
