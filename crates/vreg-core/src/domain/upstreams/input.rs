//! From API fields to a valid upstream: defaults, GitLab's validation in
//! its wording and field order, and the password sealed at rest.

use super::{Upstream, CREDENTIAL_MAX};
use crate::crypto::PasswordSealer;
use crate::domain::groups;
use crate::domain::model::UpstreamMode;
use crate::domain::projects;
use crate::domain::validate::{normalize_upstream_url, Errors, DESCRIPTION_MAX, NAME_MAX};
use crate::error::{CoreError, Result};
use crate::http::params::Field;
use crate::storage::{Sql, Value};

/// The fields a create or update request may set. Blank strings arrive as
/// `Some(None)` (cleared), absent fields as `None` (kept or defaulted).
#[derive(Debug, Default)]
pub struct UpstreamInput {
    pub mode: Option<UpstreamMode>,
    pub name: Field<String>,
    pub description: Field<String>,
    pub url: Field<String>,
    pub username: Field<String>,
    pub password: Field<String>,
    pub target_project_id: Field<i64>,
    pub target_group_id: Field<i64>,
    pub cache_validity_hours: Field<i64>,
    pub metadata_cache_validity_hours: Field<i64>,
    pub keep_n_days_after_download: Field<i64>,
}

/// The longest cleanup policy, in days.
pub const KEEP_DAYS_MAX: i64 = 3650;

pub const MUTUALLY_EXCLUSIVE: &str =
    "target_project_id and target_group_id are mutually exclusive. Set only one of these.";

enum Password {
    None,
    Kept(Vec<u8>),
    New(String),
}

/// The upstream as it would be after the input is applied.
pub(super) struct Draft {
    upstream: Upstream,
    password: Password,
}

pub(super) fn apply(mut upstream: Upstream, input: UpstreamInput) -> Result<Draft> {
    if matches!(
        (&input.target_project_id, &input.target_group_id),
        (Some(Some(_)), Some(Some(_)))
    ) {
        return Err(CoreError::BadRequest(MUTUALLY_EXCLUSIVE.into()));
    }
    fn set<T>(slot: &mut Option<T>, field: Field<T>) {
        if let Some(value) = field {
            *slot = value;
        }
    }
    if let Some(mode) = input.mode {
        upstream.mode = mode;
    }
    if let Some(name) = input.name {
        upstream.name = name.unwrap_or_default();
    }
    if let Some(description) = input.description {
        upstream.description = description.unwrap_or_default();
    }
    // Choosing one kind of target replaces the other.
    if matches!(input.target_project_id, Some(Some(_))) && input.target_group_id.is_none() {
        upstream.target_group_id = None;
    }
    if matches!(input.target_group_id, Some(Some(_))) && input.target_project_id.is_none() {
        upstream.target_project_id = None;
    }
    set(&mut upstream.url, input.url);
    set(&mut upstream.username, input.username);
    set(&mut upstream.target_project_id, input.target_project_id);
    set(&mut upstream.target_group_id, input.target_group_id);
    if let Some(Some(hours)) = input.cache_validity_hours {
        upstream.cache_validity_hours = hours;
    }
    if let Some(Some(hours)) = input.metadata_cache_validity_hours {
        upstream.metadata_cache_validity_hours = hours;
    }
    set(
        &mut upstream.keep_n_days_after_download,
        input.keep_n_days_after_download,
    );
    let password = match input.password {
        Some(Some(p)) => Password::New(p),
        Some(None) => Password::None,
        None => match upstream.password_encrypted.take() {
            Some(sealed) => Password::Kept(sealed),
            None => Password::None,
        },
    };
    Ok(Draft { upstream, password })
}

/// Validates the draft in GitLab's wording and field order, normalising its URL.
pub(super) fn validate(sql: &dyn Sql, draft: &mut Draft, allow_local: bool) -> Result<()> {
    let u = &mut draft.upstream;
    let has_password = !matches!(draft.password, Password::None);
    let mut errors = Errors::default();
    match u.mode {
        UpstreamMode::Local => {
            if u.target_group_id.is_none() && u.target_project_id.is_none() {
                errors.add("Target group can't be blank");
                errors.add("Target project can't be blank");
            }
            if let Some(id) = u.target_group_id {
                match groups::find(sql, id)? {
                    None => errors.add("Target group must exist"),
                    Some(_) if groups::root_of(sql, id)?.id != u.group_id => {
                        errors.add("Target group must be within the upstream's top-level group")
                    }
                    Some(_) => {}
                }
            }
            if let Some(id) = u.target_project_id {
                match projects::find(sql, id)? {
                    None => errors.add("Target project must exist"),
                    Some(p) if groups::root_of(sql, p.group_id)?.id != u.group_id => {
                        errors.add("Target project must be within the upstream's top-level group")
                    }
                    Some(_) => {}
                }
            }
            errors.must_be_blank("Url", u.url.is_some());
            errors.must_be_blank("Username", u.username.is_some());
            errors.must_be_blank("Password", has_password);
        }
        UpstreamMode::Remote => {
            errors.must_be_blank("Target group", u.target_group_id.is_some());
            errors.must_be_blank("Target project", u.target_project_id.is_some());
            match u.url.as_deref().map(normalize_upstream_url) {
                None => errors.add("Url can't be blank"),
                Some(Err(message)) => errors.add(message),
                Some(Ok(normalized)) => {
                    if !allow_local && crate::domain::network::is_local_url(&normalized) {
                        errors.add(crate::domain::validate::LOCAL_NETWORK_BLOCKED);
                    }
                    u.url = Some(normalized)
                }
            }
            if u.username.is_some() && !has_password {
                errors.add("Password can't be blank");
            }
            if u.username.is_none() && has_password {
                errors.add("Username can't be blank");
            }
            errors.max_len("Username", u.username.as_deref(), CREDENTIAL_MAX);
            if let Password::New(p) = &draft.password {
                errors.max_len("Password", Some(p), CREDENTIAL_MAX);
            }
        }
    }
    if errors.required("Name", Some(&u.name)) {
        errors.max_len("Name", Some(&u.name), NAME_MAX);
    }
    errors.max_len("Description", Some(&u.description), DESCRIPTION_MAX);
    if u.cache_validity_hours < 0 {
        errors.add("Cache validity hours must be greater than or equal to 0");
    }
    if u.metadata_cache_validity_hours <= 0 {
        errors.add("Metadata cache validity hours must be greater than 0");
    }
    if u.keep_n_days_after_download
        .is_some_and(|d| !(1..=KEEP_DAYS_MAX).contains(&d))
    {
        errors.add(format!(
            "Keep n days after download must be between 1 and {KEEP_DAYS_MAX}"
        ));
    }
    errors.finish()
}

pub(super) fn seal(draft: Draft, sealer: &PasswordSealer) -> Upstream {
    let mut upstream = draft.upstream;
    upstream.password_encrypted = match draft.password {
        Password::None => None,
        Password::Kept(sealed) => Some(sealed),
        Password::New(plain) => Some(sealer.seal(&plain)),
    };
    upstream
}

pub(super) fn upstream_params(u: &Upstream) -> Vec<Value> {
    vec![
        u.mode.as_str().into(),
        u.name.as_str().into(),
        u.description.as_str().into(),
        u.url.clone().into(),
        u.username.clone().into(),
        u.password_encrypted.clone().into(),
        u.target_project_id.into(),
        u.target_group_id.into(),
        u.cache_validity_hours.into(),
        u.metadata_cache_validity_hours.into(),
        u.keep_n_days_after_download.into(),
        u.updated_at.into(),
    ]
}
