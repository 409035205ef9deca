//! Variables: application variables (`[variables]`, overridden by
//! `SPIN_VARIABLE_<NAME>` in the environment) and the component variables
//! templated from them, served through `fermyon:spin/variables` and
//! `wasi:config/store`.

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, bail, Result};

use crate::bindings::fermyon::spin2_0_0::variables as spin_variables;
use crate::bindings::wasi::config::store as wasi_config;
use crate::manifest::{is_variable_name, VariableSpec};
use crate::state::InstanceState;

/// Resolved application variables.
#[derive(Debug, Clone, Default)]
pub struct AppVariables {
    values: HashMap<String, Option<String>>,
}

impl AppVariables {
    /// Resolves each variable from the environment, else its default.
    /// Required variables without a value are an error, as in Spin.
    pub fn resolve(
        specs: &BTreeMap<String, VariableSpec>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let mut values = HashMap::new();
        let mut missing = Vec::new();
        for (name, spec) in specs {
            let value = env(&format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()))
                .or_else(|| spec.default.clone());
            if spec.required && value.is_none() {
                missing.push(name.as_str());
            }
            values.insert(name.clone(), value);
        }
        if !missing.is_empty() {
            bail!(
                "required variable(s) not set: {} (set SPIN_VARIABLE_{} in the environment)",
                missing.join(", "),
                missing[0].to_ascii_uppercase()
            );
        }
        Ok(AppVariables { values })
    }

    /// Expands `{{ name }}` references to application variables.
    pub fn expand(&self, template: &str) -> Result<String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find("}}")
                .ok_or_else(|| anyhow!("unclosed '{{{{' in {template:?}"))?
                + start;
            let name = rest[start + 2..end].trim();
            match self.values.get(name) {
                Some(Some(value)) => out.push_str(value),
                Some(None) => bail!("variable {name:?} (used in {template:?}) has no value"),
                None => bail!("{template:?} refers to undeclared variable {name:?}"),
            }
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// A component's variables, expanded at load time.
#[derive(Debug, Clone, Default)]
pub struct ComponentVariables {
    values: BTreeMap<String, String>,
}

impl ComponentVariables {
    pub fn resolve(templates: &BTreeMap<String, String>, app: &AppVariables) -> Result<Self> {
        let values = templates
            .iter()
            .map(|(name, template)| Ok((name.clone(), app.expand(template)?)))
            .collect::<Result<_>>()?;
        Ok(ComponentVariables { values })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

impl spin_variables::Host for InstanceState {
    fn get(&mut self, name: String) -> wasmtime::Result<Result<String, spin_variables::Error>> {
        if !is_variable_name(&name) {
            return Ok(Err(spin_variables::Error::InvalidName(name)));
        }
        Ok(self
            .component
            .variables
            .get(&name)
            .map(str::to_owned)
            .ok_or_else(|| spin_variables::Error::Undefined(format!("no variable for {name:?}"))))
    }
}

impl wasi_config::Host for InstanceState {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, wasi_config::Error>> {
        Ok(Ok(self.component.variables.get(&key).map(str::to_owned)))
    }

    fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, wasi_config::Error>> {
        Ok(Ok(self
            .component
            .variables
            .values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(default: Option<&str>, required: bool) -> VariableSpec {
        VariableSpec {
            default: default.map(str::to_owned),
            required,
            secret: false,
        }
    }

    #[test]
    fn environment_overrides_defaults() {
        let specs = BTreeMap::from([
            ("channel".to_owned(), spec(Some("vreg-sync"), false)),
            ("token".to_owned(), spec(None, true)),
        ]);
        let env = |k: &str| (k == "SPIN_VARIABLE_TOKEN").then(|| "t0k".to_owned());
        let app = AppVariables::resolve(&specs, env).unwrap();
        assert_eq!(
            app.expand("{{ channel }}/{{token}}").unwrap(),
            "vreg-sync/t0k"
        );
        let env = |k: &str| (k == "SPIN_VARIABLE_CHANNEL").then(|| "other".to_owned());
        let specs_optional =
            BTreeMap::from([("channel".to_owned(), spec(Some("vreg-sync"), false))]);
        assert_eq!(
            AppVariables::resolve(&specs_optional, env)
                .unwrap()
                .expand("{{channel}}")
                .unwrap(),
            "other"
        );
    }

    #[test]
    fn missing_required_and_undeclared_are_errors() {
        let specs = BTreeMap::from([("token".to_owned(), spec(None, true))]);
        assert!(AppVariables::resolve(&specs, |_| None).is_err());
        let app = AppVariables::resolve(&BTreeMap::new(), |_| None).unwrap();
        assert!(app.expand("{{ nope }}").is_err());
        assert!(app.expand("{{ open").is_err());
        assert_eq!(app.expand("plain").unwrap(), "plain");
    }
}
