//! The admin API (`upstream-admin` component): groups, projects, registries,
//! upstreams, registry links and tokens, under GitLab's `/api/v4` paths.

mod cache_routes;
mod namespaces;
mod storage_routes;
mod sync_job_routes;
mod token_routes;
mod views;
mod virtual_registries;

use http::{Method, StatusCode};
use serde_json::json;

use crate::context::Context;
use crate::domain::auth::{authenticate, Principal};
use crate::domain::model::PackageType;
use crate::error::{CoreError, Result};
use crate::http::params::Params;
use crate::http::{error_response, header_str, json_response, Request, Response, MAX_API_BODY};
use crate::storage::generation;
use crate::storage::schema::ensure_schema;

/// Handles one admin API request. Never panics on input; every failure is a
/// JSON `{"message": ...}` response.
pub fn handle(ctx: &Context, request: &Request) -> Response {
    let mut response = route(ctx, request).unwrap_or_else(|e| error_response(&e));
    // A committed change may alter how reads resolve: records made before it
    // (resolved reads) must no longer be trusted.
    let changed = !matches!(*request.method(), Method::GET | Method::HEAD);
    if changed && response.status().is_success() {
        if let Err(e) = generation::advance(ctx.kv) {
            eprintln!("vreg: configuration generation not advanced ({e})");
        }
    }
    // A HEAD is answered as its GET would be, errors included, without the
    // body (a host may close the body's stream at once: writing one fails).
    if request.method() == Method::HEAD {
        response.body_mut().clear();
    }
    response
}

fn route(ctx: &Context, request: &Request) -> Result<Response> {
    let segments = path_segments(request.uri().path())?;
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    if segs == ["version"] {
        return only(request, &Method::GET, || {
            Ok(json_response(
                StatusCode::OK,
                &json!({ "version": env!("CARGO_PKG_VERSION"), "name": "vreg" }),
            ))
        });
    }
    ensure_schema(ctx.sql, ctx.now())?;
    let principal = authenticate(ctx, request.headers())?;
    let who = principal.as_ref();
    let m = request.method();
    let call = Call { ctx, request, who };
    match segs.as_slice() {
        ["storage"] => dispatch(m, &[(Method::GET, &|| storage_routes::report(&call))]),
        ["storage", "gc"] => dispatch(m, &[(Method::POST, &|| storage_routes::collect(&call))]),
        ["groups"] => dispatch(
            m,
            &[
                (Method::GET, &|| namespaces::list_groups(&call)),
                (Method::POST, &|| namespaces::create_group(&call)),
            ],
        ),
        ["groups", id] => dispatch(
            m,
            &[
                (Method::GET, &|| namespaces::get_group(&call, id)),
                (Method::PUT, &|| namespaces::update_group(&call, id)),
                (Method::PATCH, &|| namespaces::update_group(&call, id)),
                (Method::DELETE, &|| namespaces::delete_group(&call, id)),
            ],
        ),
        ["projects"] => dispatch(
            m,
            &[
                (Method::GET, &|| namespaces::list_projects(&call)),
                (Method::POST, &|| namespaces::create_project(&call)),
            ],
        ),
        ["projects", id] => dispatch(
            m,
            &[
                (Method::GET, &|| namespaces::get_project(&call, id)),
                (Method::PUT, &|| namespaces::update_project(&call, id)),
                (Method::PATCH, &|| namespaces::update_project(&call, id)),
                (Method::DELETE, &|| namespaces::delete_project(&call, id)),
            ],
        ),
        ["groups", id, "-", "virtual_registries", "packages", kind, "registries"] => {
            let kind = package_type(kind)?;
            dispatch(
                m,
                &[
                    (Method::GET, &|| {
                        virtual_registries::list_registries(&call, id, kind)
                    }),
                    (Method::POST, &|| {
                        virtual_registries::create_registry(&call, id, kind)
                    }),
                ],
            )
        }
        ["groups", id, "-", "virtual_registries", "packages", kind, "upstreams"] => {
            let kind = package_type(kind)?;
            dispatch(
                m,
                &[
                    (Method::GET, &|| {
                        virtual_registries::list_group_upstreams(&call, id, kind)
                    }),
                    (Method::POST, &|| {
                        virtual_registries::create_group_upstream(&call, id, kind)
                    }),
                ],
            )
        }
        ["virtual_registries", "packages", kind, "registries", id] => {
            let (kind, id) = (package_type(kind)?, numeric_id(id, "Registry")?);
            dispatch(
                m,
                &[
                    (Method::GET, &|| {
                        virtual_registries::get_registry(&call, kind, id)
                    }),
                    (Method::PUT, &|| {
                        virtual_registries::update_registry(&call, kind, id)
                    }),
                    (Method::PATCH, &|| {
                        virtual_registries::update_registry(&call, kind, id)
                    }),
                    (Method::DELETE, &|| {
                        virtual_registries::delete_registry(&call, kind, id)
                    }),
                ],
            )
        }
        ["virtual_registries", "packages", "go", "registries", id, "sync_jobs"] => {
            let id = numeric_id(id, "Registry")?;
            dispatch(m, &[(Method::GET, &|| sync_job_routes::list(&call, id))])
        }
        ["virtual_registries", "packages", "go", "registries", id, "sync_jobs", job, "retry"] => {
            let (id, job) = (numeric_id(id, "Registry")?, numeric_id(job, "Sync job")?);
            dispatch(
                m,
                &[(Method::POST, &|| sync_job_routes::retry(&call, id, job))],
            )
        }
        ["virtual_registries", "packages", kind, "registries", id, "upstreams"] => {
            let (kind, id) = (package_type(kind)?, numeric_id(id, "Registry")?);
            dispatch(
                m,
                &[
                    (Method::GET, &|| {
                        virtual_registries::list_registry_upstreams(&call, kind, id)
                    }),
                    (Method::POST, &|| {
                        virtual_registries::create_registry_upstream(&call, kind, id)
                    }),
                ],
            )
        }
        ["virtual_registries", "packages", kind, "upstreams", id] => {
            let (kind, id) = (package_type(kind)?, numeric_id(id, "Upstream")?);
            dispatch(
                m,
                &[
                    (Method::GET, &|| {
                        virtual_registries::get_upstream(&call, kind, id)
                    }),
                    (Method::PUT, &|| {
                        virtual_registries::update_upstream(&call, kind, id)
                    }),
                    (Method::PATCH, &|| {
                        virtual_registries::update_upstream(&call, kind, id)
                    }),
                    (Method::DELETE, &|| {
                        virtual_registries::delete_upstream(&call, kind, id)
                    }),
                ],
            )
        }
        ["virtual_registries", "packages", kind, "upstreams", id, "cache_entries"] => {
            let (kind, id) = (package_type(kind)?, numeric_id(id, "Upstream")?);
            dispatch(m, &[(Method::GET, &|| cache_routes::list(&call, kind, id))])
        }
        ["virtual_registries", "packages", kind, "cache_entries", entry] => {
            let kind = package_type(kind)?;
            dispatch(
                m,
                &[(Method::DELETE, &|| {
                    cache_routes::delete_entry(&call, kind, entry)
                })],
            )
        }
        ["virtual_registries", "packages", kind, "upstreams", id, "cache"] => {
            let (kind, id) = (package_type(kind)?, numeric_id(id, "Upstream")?);
            dispatch(
                m,
                &[(Method::DELETE, &|| {
                    cache_routes::clear_upstream(&call, kind, id)
                })],
            )
        }
        ["virtual_registries", "packages", kind, "registries", id, "cache"] => {
            let (kind, id) = (package_type(kind)?, numeric_id(id, "Registry")?);
            dispatch(
                m,
                &[(Method::DELETE, &|| {
                    cache_routes::clear_registry(&call, kind, id)
                })],
            )
        }
        ["virtual_registries", "packages", kind, "upstreams", id, "test"] => {
            let (kind, id) = (package_type(kind)?, numeric_id(id, "Upstream")?);
            dispatch(
                m,
                &[
                    (Method::GET, &|| {
                        cache_routes::test_upstream(&call, kind, id)
                    }),
                    (Method::POST, &|| {
                        cache_routes::test_upstream(&call, kind, id)
                    }),
                ],
            )
        }
        ["virtual_registries", "packages", kind, "registry_upstreams"] => {
            let kind = package_type(kind)?;
            dispatch(
                m,
                &[(Method::POST, &|| {
                    virtual_registries::create_link(&call, kind)
                })],
            )
        }
        ["virtual_registries", "packages", kind, "registry_upstreams", id] => {
            let (kind, id) = (package_type(kind)?, numeric_id(id, "Registry Upstream")?);
            dispatch(
                m,
                &[
                    (Method::GET, &|| {
                        virtual_registries::get_link(&call, kind, id)
                    }),
                    (Method::PUT, &|| {
                        virtual_registries::move_link(&call, kind, id)
                    }),
                    (Method::PATCH, &|| {
                        virtual_registries::move_link(&call, kind, id)
                    }),
                    (Method::DELETE, &|| {
                        virtual_registries::delete_link(&call, kind, id)
                    }),
                ],
            )
        }
        ["personal_access_tokens"] => dispatch(
            m,
            &[
                (Method::GET, &|| token_routes::list(&call)),
                (Method::POST, &|| token_routes::create(&call)),
            ],
        ),
        ["personal_access_tokens", "self"] => {
            dispatch(m, &[(Method::GET, &|| token_routes::get_self(&call))])
        }
        ["personal_access_tokens", id] => {
            let id = numeric_id(id, "Token")?;
            dispatch(
                m,
                &[
                    (Method::GET, &|| token_routes::get(&call, id)),
                    (Method::DELETE, &|| token_routes::revoke(&call, id)),
                ],
            )
        }
        _ => Err(CoreError::NotFound("")),
    }
}

/// What every handler gets: the context, the request and the caller.
pub(crate) struct Call<'a> {
    pub ctx: &'a Context<'a>,
    pub request: &'a Request,
    pub who: Option<&'a Principal>,
}

impl Call<'_> {
    pub fn now(&self) -> i64 {
        self.ctx.now()
    }

    /// The request body's parameters, refusing any the endpoint does not know.
    pub fn body(&self, allowed: &[&str]) -> Result<Params> {
        let body = self.request.body();
        if body.len() > MAX_API_BODY {
            return Err(CoreError::PayloadTooLarge(MAX_API_BODY));
        }
        let params = Params::from_body(header_str(self.request, "content-type"), body)?;
        params.reject_unknown(allowed)?;
        Ok(params)
    }
}

type Handler<'a> = &'a dyn Fn() -> Result<Response>;

fn dispatch(method: &Method, routes: &[(Method, Handler)]) -> Result<Response> {
    let head = *method == Method::HEAD;
    for (m, handler) in routes {
        if m == method || (head && *m == Method::GET) {
            return handler();
        }
    }
    Err(CoreError::MethodNotAllowed)
}

fn only(request: &Request, method: &Method, f: impl Fn() -> Result<Response>) -> Result<Response> {
    dispatch(request.method(), &[(method.clone(), &f)])
}

/// `/api/v4/a/b%2Fc` → `["a", "b/c"]`. Empty segments (a trailing `/`
/// aside) do not match any route; NUL and invalid UTF-8 are bad requests.
fn path_segments(path: &str) -> Result<Vec<String>> {
    let Some(rest) = path.strip_prefix("/api/v4/") else {
        return Err(CoreError::NotFound(""));
    };
    rest.strip_suffix('/')
        .unwrap_or(rest)
        .split('/')
        .map(|segment| {
            let decoded = percent_encoding::percent_decode_str(segment)
                .decode_utf8()
                .map_err(|_| CoreError::BadRequest("Path is not valid UTF-8".into()))?;
            if decoded.contains('\0') {
                return Err(CoreError::BadRequest("Path contains NUL".into()));
            }
            Ok(decoded.into_owned())
        })
        .collect()
}

fn package_type(segment: &str) -> Result<PackageType> {
    PackageType::from_path_segment(segment).ok_or(CoreError::NotFound(""))
}

/// A numeric id in a path; anything else names nothing.
pub(crate) fn numeric_id(segment: &str, what: &'static str) -> Result<i64> {
    segment
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(CoreError::NotFound(what))
}
