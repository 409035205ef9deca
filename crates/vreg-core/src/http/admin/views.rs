//! JSON shapes of the admin API, with GitLab's field names. Secrets never
//! appear here: upstream passwords are not part of any view.

use serde_json::{json, Value as Json};

use crate::domain::groups::{self, Group};
use crate::domain::projects::Project;
use crate::domain::registries::Registry;
use crate::domain::tokens::{Reach, Token};
use crate::domain::upstreams::{self, RegistryUpstream, Upstream};
use crate::error::Result;
use crate::storage::Sql;
use crate::timefmt::{date, iso8601};

pub fn group(sql: &dyn Sql, g: &Group) -> Result<Json> {
    let lineage = groups::lineage(sql, g.id)?;
    Ok(json!({
        "id": g.id,
        "name": g.name,
        "path": g.path,
        "description": g.description,
        "visibility": g.visibility.as_str(),
        "parent_id": g.parent_id,
        "full_name": groups::full_name(&lineage),
        "full_path": groups::full_path(&lineage),
        "created_at": iso8601(g.created_at),
        "updated_at": iso8601(g.updated_at),
    }))
}

pub fn project(sql: &dyn Sql, p: &Project) -> Result<Json> {
    let lineage = groups::lineage(sql, p.group_id)?;
    let namespace = lineage.last();
    let full_path = groups::full_path(&lineage);
    let full_name = groups::full_name(&lineage);
    Ok(json!({
        "id": p.id,
        "name": p.name,
        "path": p.path,
        "description": p.description,
        "visibility": p.visibility.as_str(),
        "namespace": {
            "id": p.group_id,
            "name": namespace.map(|g| g.name.as_str()),
            "path": namespace.map(|g| g.path.as_str()),
            "kind": "group",
            "full_path": full_path,
            "parent_id": namespace.and_then(|g| g.parent_id),
        },
        "path_with_namespace": format!("{full_path}/{}", p.path),
        "name_with_namespace": format!("{full_name} / {}", p.name),
        "created_at": iso8601(p.created_at),
        "updated_at": iso8601(p.updated_at),
    }))
}

pub fn registry(r: &Registry) -> Json {
    let mut view = json!({
        "id": r.id,
        "group_id": r.group_id,
        "name": r.name,
        "description": r.description,
        "namespace_protection": r.namespace_protection,
        "protected_namespaces": r.protected_namespaces,
        "remote_filters": r.remote_filters,
        "created_at": iso8601(r.created_at),
        "updated_at": iso8601(r.updated_at),
    });
    if r.package_type == crate::domain::model::PackageType::Golang {
        view["checksum_database_name"] = json!(r.checksum_database_name);
        view["checksum_database_url"] = json!(r.checksum_database_url);
        view["nosum_patterns"] = json!(r.nosum_patterns);
    }
    view
}

pub fn link(l: &RegistryUpstream) -> Json {
    json!({
        "id": l.id,
        "registry_id": l.registry_id,
        "upstream_id": l.upstream_id,
        "position": l.position,
    })
}

/// An upstream with every registry link it has.
pub fn upstream(sql: &dyn Sql, u: &Upstream) -> Result<Json> {
    let links = upstreams::links_of_upstream(sql, u.id)?;
    Ok(upstream_with_links(u, &links))
}

pub fn upstream_with_links(u: &Upstream, links: &[RegistryUpstream]) -> Json {
    json!({
        "id": u.id,
        "group_id": u.group_id,
        "name": u.name,
        "description": u.description,
        "mode": u.mode.as_str(),
        "url": u.url,
        "username": u.username,
        "target_project_id": u.target_project_id,
        "target_group_id": u.target_group_id,
        "cache_validity_hours": u.cache_validity_hours,
        "metadata_cache_validity_hours": u.metadata_cache_validity_hours,
        "keep_n_days_after_download": u.keep_n_days_after_download,
        "created_at": iso8601(u.created_at),
        "updated_at": iso8601(u.updated_at),
        "registry_upstreams": links.iter().map(|l| json!({
            "id": l.id,
            "registry_id": l.registry_id,
            "position": l.position,
        })).collect::<Vec<_>>(),
    })
}

/// A token; `secret` only in the response that creates it.
pub fn token(t: &Token, now: i64, secret: Option<&str>) -> Json {
    let (group_id, project_id) = match t.reach {
        Reach::All => (None, None),
        Reach::Group(g) => (Some(g), None),
        Reach::Project(p) => (None, Some(p)),
    };
    let mut view = json!({
        "id": t.id,
        "name": t.name,
        "revoked": t.revoked,
        "active": t.is_active(now),
        "scopes": t.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "group_id": group_id,
        "project_id": project_id,
        "created_at": iso8601(t.created_at),
        "last_used_at": t.last_used_at.map(iso8601),
        // Stored as the instant it stops working; shown as its date, as GitLab does.
        "expires_at": date(t.expires_at),
    });
    if let Some(secret) = secret {
        view["token"] = json!(secret);
    }
    view
}

/// An upstream's circuit breaker (`domain::upstreams::health`).
pub fn health(h: &crate::domain::upstreams::health::Health, now: i64) -> Json {
    json!({
        "state": h.state(now),
        "failures": h.failures,
        "last_error": h.last_error,
        "last_error_at": h.last_error_at.map(iso8601),
        "set_aside_until": (h.open_until > now).then(|| iso8601(h.open_until)),
    })
}
