//! What a GOPROXY request asks for: `<module>/@v/list`, `<module>/@latest`
//! or `<module>/@v/<version>.{info,mod,zip}`, decoded and checked.

use super::module::{check_module_path, unescape};
use crate::error::{CoreError, Result};

/// What a request asks for.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Query {
    List,
    Latest,
    File { version: String, ext: &'static str },
}

/// Where a Go registry's GOPROXY paths start (then `<id>/<module>/...`).
pub(super) const REGISTRY_PATH: &str = "/api/v4/virtual_registries/packages/go/";
/// Where a project's start (then `<project>/packages/go/<module>/...`).
pub(super) const PROJECT_PATH: &str = "/api/v4/projects/";

pub(super) fn parse(rest: &str) -> Result<(String, Query)> {
    let decoded = percent_encoding::percent_decode_str(rest)
        .decode_utf8()
        .map_err(|_| CoreError::BadRequest("invalid path".into()))?
        .into_owned();
    let (module, query) = if let Some(module) = decoded.strip_suffix("/@latest") {
        (module.to_owned(), Query::Latest)
    } else if let Some((module, tail)) = decoded.split_once("/@v/") {
        let query = if tail == "list" {
            Query::List
        } else {
            let (version, ext) = [".info", ".mod", ".zip"]
                .into_iter()
                .find_map(|ext| tail.strip_suffix(ext).map(|v| (v, ext)))
                .ok_or(CoreError::NotFound(""))?;
            let version = unescape(version).ok_or_else(|| {
                CoreError::BadRequest(format!("invalid escaped version {version:?}"))
            })?;
            Query::File { version, ext }
        };
        (module.to_owned(), query)
    } else {
        return Err(CoreError::NotFound(""));
    };
    let module = unescape(&module)
        .ok_or_else(|| CoreError::BadRequest(format!("invalid escaped module path {module:?}")))?;
    check_module_path(&module)?;
    Ok((module, query))
}
