//! Which of this binary's migrations a database holds: for `doctor` (all applied?) and
//! `restore` (is a backup one of ours, from a schema this binary knows?). Read only: nothing
//! here migrates.

use serde::Serialize;
use sqlx::migrate::Migrator;

/// A database's migrations held against the ones this binary carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaState {
    /// How many migrations this binary carries.
    pub known: usize,
    /// Applied, known and unchanged.
    pub applied: usize,
    /// The newest applied version (0 when none is).
    pub version: i64,
    /// Known to this binary, not applied yet (`migrate` or `run` applies them).
    pub pending: Vec<i64>,
    /// Applied but unknown to this binary: written by a newer Amtsbote, or not ours.
    pub unknown: Vec<i64>,
    /// Applied with another checksum than this binary's file, or left failed.
    pub changed: Vec<i64>,
}

impl SchemaState {
    /// Compares the rows of `_sqlx_migrations` (version, checksum, success) with `migrator`;
    /// `None` when the table does not exist.
    pub(super) fn of(migrator: &Migrator, rows: Option<Vec<(i64, Vec<u8>, bool)>>) -> SchemaState {
        let rows = rows.unwrap_or_default();
        let mut state = SchemaState {
            known: migrator.iter().count(),
            applied: 0,
            version: 0,
            pending: Vec::new(),
            unknown: Vec::new(),
            changed: Vec::new(),
        };
        for migration in migrator.iter() {
            match rows.iter().find(|(v, _, _)| *v == migration.version) {
                None => state.pending.push(migration.version),
                Some((_, checksum, success)) if *success && **checksum == *migration.checksum => {
                    state.applied += 1;
                }
                Some(_) => state.changed.push(migration.version),
            }
        }
        for (version, _, _) in &rows {
            if !migrator.iter().any(|m| m.version == *version) {
                state.unknown.push(*version);
            }
        }
        state.version = rows.iter().map(|(v, _, _)| *v).max().unwrap_or(0);
        state
    }

    /// Holds an Amtsbote schema this binary can run on, as is or after `migrate`: its first
    /// migration is ours, nothing is unknown or changed.
    pub fn is_ours(&self) -> bool {
        self.applied > 0 && self.unknown.is_empty() && self.changed.is_empty()
    }

    /// Every migration applied, none unknown or changed.
    pub fn is_current(&self) -> bool {
        self.is_ours() && self.pending.is_empty()
    }

    /// One line for an operator: "42 of 42 migrations applied (version 20261201…)".
    pub fn summary(&self) -> String {
        let mut line = format!(
            "{} of {} migrations applied (version {})",
            self.applied, self.known, self.version
        );
        for (what, versions) in [
            ("pending", &self.pending),
            ("unknown to this binary", &self.unknown),
            ("changed or failed", &self.changed),
        ] {
            if !versions.is_empty() {
                let list: Vec<String> = versions.iter().map(i64::to_string).collect();
                line.push_str(&format!("; {what}: {}", list.join(", ")));
            }
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");

    fn rows_of(m: &Migrator) -> Vec<(i64, Vec<u8>, bool)> {
        m.iter()
            .map(|m| (m.version, m.checksum.to_vec(), true))
            .collect()
    }

    #[test]
    fn a_database_with_every_migration_is_current() {
        let state = SchemaState::of(&SQLITE, Some(rows_of(&SQLITE)));
        assert!(state.is_current(), "{state:?}");
        assert_eq!(state.applied, state.known);
    }

    #[test]
    fn an_older_schema_is_ours_with_pending_migrations() {
        let mut rows = rows_of(&SQLITE);
        let last = rows.pop().map(|r| r.0);
        let state = SchemaState::of(&SQLITE, Some(rows));
        assert!(state.is_ours() && !state.is_current());
        assert_eq!(state.pending, last.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn a_newer_or_foreign_schema_is_not_ours() {
        let mut rows = rows_of(&SQLITE);
        rows.push((99_999_999_999_999, vec![1, 2, 3], true));
        let newer = SchemaState::of(&SQLITE, Some(rows.clone()));
        assert!(!newer.is_ours());
        assert!(
            newer
                .summary()
                .contains("unknown to this binary: 99999999999999")
        );
        rows[0].1 = vec![0];
        assert!(!SchemaState::of(&SQLITE, Some(rows)).is_ours());
        assert!(!SchemaState::of(&SQLITE, None).is_ours());
    }
}
