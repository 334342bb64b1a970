//! What both SQL backends check of their migrations before serving without applying them.

use sqlx::migrate::Migrator;

/// `Err` naming what is missing unless every migration `migrator` knows is among `applied`
/// (the versions recorded as successful). Versions applied that it does not know, a newer
/// release's, are no reason to refuse.
pub(crate) fn all_applied(migrator: &Migrator, applied: &[i64]) -> Result<(), String> {
    let missing: Vec<_> = migrator
        .iter()
        .filter(|migration| migration.migration_type.is_up_migration())
        .filter(|migration| !applied.contains(&migration.version))
        .collect();
    match missing.last() {
        None => Ok(()),
        Some(newest) => Err(format!(
            "{} of this release's migrations are not applied (the newest: {} {}); apply them \
             first (`reference-shop migrate`), or let start-up apply them (AUTO_MIGRATE=true)",
            missing.len(),
            newest.version,
            newest.description
        )),
    }
}
