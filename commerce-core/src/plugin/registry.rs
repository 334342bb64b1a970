//! Plugin factories, discovered with `inventory` and chosen by URL scheme.
//!
//! A backend crate registers a factory with [`inventory::submit!`]. `inventory` collects only
//! from crates that are linked into the binary, and the linker drops a crate nothing names:
//! a binary relying on the registry must name the crate, e.g. `use commerce_plugins as _;`.
//! [`PluginFactory::all`] is empty otherwise, and assembly then fails with
//! [`BuildError::UnknownScheme`] listing no known schemes, rather than silently running
//! without backends.

use super::{BuildError, Plugin};
use crate::config::Config;
use crate::error::Result;

/// What a plugin is chosen for; each role has its own URL setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// The system of record, chosen by `DATABASE_URL`.
    Database,
    /// The cache, chosen by `REDIS_URL` (`memory://` when unset).
    Cache,
    /// Outgoing mail, chosen by `SMTP_URL` (`log://` when unset).
    Mail,
    /// Product search, chosen by `SEARCH_BACKEND` (`tantivy` when unset); its URL is
    /// `BACKEND://SEARCH_INDEX_PATH`.
    Search,
}

impl Role {
    /// The environment variable that chooses the plugin for this role.
    pub fn variable(self) -> &'static str {
        match self {
            Self::Database => "DATABASE_URL",
            Self::Cache => "REDIS_URL",
            Self::Mail => "SMTP_URL",
            Self::Search => "SEARCH_BACKEND",
        }
    }

    /// The URL for this role in `config`, with its default.
    fn url(self, config: &Config) -> String {
        match self {
            Self::Database => config.database_url.clone(),
            Self::Cache => config
                .redis_url
                .clone()
                .unwrap_or_else(|| "memory://".into()),
            Self::Mail => config.smtp_url.clone().unwrap_or_else(|| "log://".into()),
            Self::Search => format!("{}://{}", config.search_backend, config.search_index_path),
        }
    }
}

/// Creates a plugin for a URL: the unit of discovery.
pub struct PluginFactory {
    /// The plugin's name.
    pub name: &'static str,
    /// The role it fills.
    pub role: Role,
    /// The URL schemes it accepts, e.g. `["postgres", "postgresql"]`.
    pub schemes: &'static [&'static str],
    /// Makes the plugin for `url` and the rest of the configuration. Should not do I/O; that
    /// belongs in [`Plugin::build`].
    pub create: fn(url: &str, config: &Config) -> Result<Box<dyn Plugin>>,
}

inventory::collect!(PluginFactory);

impl PluginFactory {
    /// Every factory linked into this program.
    pub fn all() -> impl Iterator<Item = &'static PluginFactory> {
        inventory::iter::<PluginFactory>.into_iter()
    }

    /// Creates the plugin for each role from the configured URLs.
    pub fn plugins_for(config: &Config) -> Result<Vec<Box<dyn Plugin>>, BuildError> {
        check_unique_schemes()?;
        [Role::Database, Role::Cache, Role::Mail, Role::Search]
            .into_iter()
            .map(|role| {
                let url = role.url(config);
                let Some(scheme) = scheme_of(&url) else {
                    return Err(BuildError::NotAUrl {
                        variable: role.variable(),
                        known: known_schemes(role),
                    });
                };
                let factory = Self::all()
                    .find(|f| f.role == role && f.schemes.contains(&scheme))
                    .ok_or_else(|| BuildError::UnknownScheme {
                        variable: role.variable(),
                        scheme: scheme.to_owned(),
                        known: known_schemes(role),
                    })?;
                (factory.create)(&url, config).map_err(|source| BuildError::Plugin {
                    plugin: factory.name,
                    source,
                })
            })
            .collect()
    }
}

/// The scheme of `url` when it starts with one followed by `://`: a letter, then letters,
/// digits, `+`, `-` or `.` as RFC 3986 has it, or `_`, which search backends' names (the
/// scheme of `SEARCH_BACKEND://…`) may hold. Anything else, such as `user:secret@host`, is no
/// scheme to name in an error.
fn scheme_of(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once("://")?;
    let mut characters = scheme.chars();
    let starts_with_letter = characters.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_allowed =
        characters.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_'));
    (starts_with_letter && rest_allowed).then_some(scheme)
}

fn known_schemes(role: Role) -> String {
    let mut schemes: Vec<&str> = PluginFactory::all()
        .filter(|f| f.role == role)
        .flat_map(|f| f.schemes.iter().copied())
        .collect();
    schemes.sort_unstable();
    if schemes.is_empty() {
        "none: is the crate providing them linked? see commerce_core::plugin::registry".into()
    } else {
        schemes.join(", ")
    }
}

fn check_unique_schemes() -> Result<(), BuildError> {
    let factories: Vec<_> = PluginFactory::all().collect();
    for (i, first) in factories.iter().enumerate() {
        for second in &factories[i + 1..] {
            if first.role != second.role {
                continue;
            }
            if let Some(scheme) = first.schemes.iter().find(|s| second.schemes.contains(s)) {
                return Err(BuildError::DuplicateFactory {
                    scheme: (*scheme).to_owned(),
                    first: first.name,
                    second: second.name,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheme_is_a_name_before_colon_slash_slash() {
        for (url, scheme) in [
            ("sqlite://data/shop.db", Some("sqlite")),
            ("rediss://:pw@cache:6380", Some("rediss")),
            ("my_search://data/search", Some("my_search")),
            ("svn+ssh://host", Some("svn+ssh")),
            ("shop:secret@mail.example.com:587", None),
            ("user:secret@host://path", None),
            ("://host", None),
            ("1db://host", None),
        ] {
            assert_eq!(scheme_of(url), scheme, "{url}");
        }
    }
}
