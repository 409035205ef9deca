//! The subset of Spin's application manifest (`spin.toml`, manifest version 2)
//! that devhost runs: application, variables, HTTP and Redis triggers, and
//! components with their grants.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub spin_manifest_version: u32,
    pub application: Application,
    #[serde(default)]
    pub variables: BTreeMap<String, VariableSpec>,
    #[serde(default)]
    pub trigger: Triggers,
    #[serde(default)]
    pub component: BTreeMap<String, ComponentSpec>,
}

#[derive(Debug, Deserialize)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub trigger: ApplicationTriggers,
}

/// `[application.trigger.redis]`: the default Redis address for Redis triggers.
#[derive(Debug, Default, Deserialize)]
pub struct ApplicationTriggers {
    pub redis: Option<ApplicationRedis>,
}

#[derive(Debug, Deserialize)]
pub struct ApplicationRedis {
    pub address: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableSpec {
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    /// Spin keeps secret values out of its logs; devhost logs no values at all.
    #[serde(default)]
    #[allow(dead_code)]
    pub secret: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct Triggers {
    #[serde(default)]
    pub http: Vec<HttpTrigger>,
    #[serde(default)]
    pub redis: Vec<RedisTrigger>,
}

#[derive(Debug, Deserialize)]
pub struct HttpTrigger {
    pub route: RouteSpec,
    pub component: String,
}

/// A route pattern, or `{ private = true }` for a component only reachable
/// through service chaining (not served).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RouteSpec {
    Route(String),
    Private { private: bool },
}

#[derive(Debug, Deserialize)]
pub struct RedisTrigger {
    pub address: Option<String>,
    pub channel: String,
    pub component: String,
}

#[derive(Debug, Deserialize)]
pub struct ComponentSpec {
    pub source: String,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub files: Vec<toml::Value>,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        let manifest: Manifest = toml::from_str(&text)
            .with_context(|| format!("invalid manifest {}", path.display()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<()> {
        if self.spin_manifest_version != 2 {
            bail!(
                "spin_manifest_version {} is not supported (devhost reads version 2)",
                self.spin_manifest_version
            );
        }
        for name in self.variables.keys() {
            if !is_variable_name(name) {
                bail!("invalid variable name {name:?}: lower-case letters, digits and '_', starting with a letter");
            }
        }
        for (name, spec) in &self.variables {
            if spec.required && spec.default.is_some() {
                bail!("variable {name:?} is required and cannot have a default");
            }
        }
        let referenced = self
            .trigger
            .http
            .iter()
            .map(|t| &t.component)
            .chain(self.trigger.redis.iter().map(|t| &t.component));
        for id in referenced {
            if !self.component.contains_key(id) {
                bail!("a trigger names component {id:?}, which is not defined");
            }
        }
        for trigger in &self.trigger.http {
            if let RouteSpec::Private { private: false } = trigger.route {
                bail!(
                    "route must be a string pattern or '{{ private = true }}': component {:?} has {{ private = false }}",
                    trigger.component
                );
            }
        }
        for (id, component) in &self.component {
            if !component.files.is_empty() {
                bail!("component {id:?}: `files` are not supported by devhost");
            }
            for name in component.variables.keys() {
                if !is_variable_name(name) {
                    bail!("component {id:?}: invalid variable name {name:?}");
                }
            }
        }
        Ok(())
    }
}

/// Spin's rule for variable names.
pub fn is_variable_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
