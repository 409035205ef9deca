//! Small enums shared by the domain, with their stored and API spellings.

use crate::error::{CoreError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageType {
    Maven,
    Golang,
}

impl PackageType {
    /// The value stored in `package_type` columns.
    pub fn as_str(self) -> &'static str {
        match self {
            PackageType::Maven => "maven",
            PackageType::Golang => "golang",
        }
    }

    /// The API path segment: `/virtual_registries/packages/{maven,go}/...`.
    pub fn from_path_segment(segment: &str) -> Option<Self> {
        match segment {
            "maven" => Some(PackageType::Maven),
            "go" => Some(PackageType::Golang),
            _ => None,
        }
    }

    pub fn parse_stored(value: &str) -> Result<Self> {
        match value {
            "maven" => Ok(PackageType::Maven),
            "golang" => Ok(PackageType::Golang),
            other => Err(stored_value_error("package_type", other)),
        }
    }
}

/// GitLab's visibility levels, ordered from most to least restricted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Visibility {
    Private,
    Internal,
    Public,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Internal => "internal",
            Visibility::Public => "public",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "private" => Some(Visibility::Private),
            "internal" => Some(Visibility::Internal),
            "public" => Some(Visibility::Public),
            _ => None,
        }
    }

    pub fn parse_stored(value: &str) -> Result<Self> {
        Self::parse(value).ok_or_else(|| stored_value_error("visibility", value))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamMode {
    Remote,
    Local,
}

impl UpstreamMode {
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamMode::Remote => "remote",
            UpstreamMode::Local => "local",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "remote" => Some(UpstreamMode::Remote),
            "local" => Some(UpstreamMode::Local),
            _ => None,
        }
    }

    pub fn parse_stored(value: &str) -> Result<Self> {
        Self::parse(value).ok_or_else(|| stored_value_error("mode", value))
    }
}

fn stored_value_error(column: &str, value: &str) -> CoreError {
    CoreError::Store(crate::storage::StoreError::Decode(format!(
        "unknown {column} {value:?} in database"
    )))
}
