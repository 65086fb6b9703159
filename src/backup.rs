//! Backup and restore of the SQLite database: a consistent copy taken while the service runs,
//! and a copy put back in its place while no instance runs, the database before kept aside.
//! Postgres is backed up with its own tools (`pg_dump`); see docs/backup.md.

use std::io;
use std::path::{Path, PathBuf};

use crate::service::{SoleInstance, sqlite_file};
use crate::store::schema::SchemaState;
use crate::store::{SqliteStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Nothing was changed; the message says why.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> BackupError {
    let what = what.into();
    move |source| BackupError::Io { what, source }
}

/// The recipe for a Postgres database, which Amtsbote does not back up itself: `pg_dump` must
/// be of the server's major version or newer, and its format and destination are the city's
/// backup policy, not ours. The URL is not shown: it may hold a password.
pub fn postgres_recipe(file: &Path) -> String {
    let file = file.display();
    format!(
        "The database is Postgres: back it up with pg_dump, while the service runs:\n\
         \n  umask 077\n  pg_dump --format=custom --file={file} \"$AMTSBOTE_DATABASE_URL\"\n\
         \nRestore with every instance stopped, into the empty database the service is configured with:\n\
         \n  pg_restore --no-owner --dbname=\"$AMTSBOTE_DATABASE_URL\" {file}\n\
         \nThen start the service; `amtsbote doctor` checks the migrations. See docs/backup.md.\n"
    )
}

/// A backup that was written.
#[derive(Debug)]
pub struct Written {
    pub database: PathBuf,
    pub bytes: u64,
    pub schema: SchemaState,
}

/// `amtsbote backup FILE` on SQLite: a consistent copy in `file`, which must not exist. The
/// copy is written beside it under a temporary name and renamed when complete, so `file` is
/// either the whole backup or absent.
pub async fn backup(url: &str, file: &Path) -> Result<Written, BackupError> {
    let Some(database) = sqlite_file(url) else {
        return Err(BackupError::Refused(
            "backup writes SQLite databases only; for Postgres use pg_dump as shown".into(),
        ));
    };
    if !database.is_file() {
        return Err(BackupError::Refused(format!(
            "there is no database at {}",
            database.display()
        )));
    }
    if file.exists() {
        return Err(BackupError::Refused(format!(
            "{} exists: a backup never overwrites a file; choose a new name",
            file.display()
        )));
    }
    let dir = directory_of(file);
    // Created empty and 0600 (it holds chat ids and phone numbers); VACUUM INTO accepts an
    // empty file.
    let partial = tempfile::Builder::new()
        .prefix(".amtsbote-backup-")
        .tempfile_in(&dir)
        .map_err(io_error(format!("creating a file in {}", dir.display())))?;
    let store = SqliteStore::connect(url).await?;
    store.backup_into(partial.path()).await?;
    partial
        .as_file()
        .sync_all()
        .map_err(io_error("writing the backup to disk"))?;
    let check = SqliteStore::check_file(partial.path()).await?;
    if check.integrity != "ok" {
        return Err(BackupError::Refused(format!(
            "the copy does not check out ({}); nothing was kept",
            check.integrity
        )));
    }
    let bytes = partial
        .as_file()
        .metadata()
        .map_err(io_error("reading the backup's size"))?
        .len();
    partial
        .persist_noclobber(file)
        .map_err(|e| BackupError::Io {
            what: format!("naming the backup {}", file.display()),
            source: e.error,
        })?;
    sync_directory(&dir)?;
    Ok(Written {
        database,
        bytes,
        schema: check.schema,
    })
}

/// A backup that was put in place.
#[derive(Debug)]
pub struct Restored {
    pub database: PathBuf,
    /// Where the database before it now is (with its `-wal`), if there was one.
    pub aside: Option<PathBuf>,
    pub schema: SchemaState,
}

/// `amtsbote restore FILE` on SQLite: refuses while an instance runs on the database (it holds
/// the instance lock, and this holds it meanwhile, so none starts), and unless `file` is an
/// intact Amtsbote database whose migrations this binary knows; then moves the database (and
/// its `-wal`, `-shm`) aside under `…before-restore-<time>` and puts a copy of `file` in its place.
pub async fn restore(
    url: &str,
    file: &Path,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Restored, BackupError> {
    let Some(database) = sqlite_file(url) else {
        return Err(BackupError::Refused(
            "restore puts back SQLite databases only; restore Postgres with pg_restore (docs/backup.md)"
                .into(),
        ));
    };
    if !file.is_file() {
        return Err(BackupError::Refused(format!(
            "{}: no such file",
            file.display()
        )));
    }
    let _sole = SoleInstance::lock(url).map_err(|e| BackupError::Refused(format!("{e:#}")))?;
    let dir = directory_of(&database);
    // The copy is checked, not `file`: what is put in place is what was checked.
    let mut copy = tempfile::Builder::new()
        .prefix(".amtsbote-restore-")
        .tempfile_in(&dir)
        .map_err(io_error(format!("creating a file in {}", dir.display())))?;
    let mut source =
        std::fs::File::open(file).map_err(io_error(format!("opening {}", file.display())))?;
    io::copy(&mut source, copy.as_file_mut())
        .and_then(|_| copy.as_file().sync_all())
        .map_err(io_error(format!("copying {}", file.display())))?;
    let check = SqliteStore::check_file(copy.path()).await.map_err(|e| {
        BackupError::Refused(format!("{} is no SQLite database: {e}", file.display()))
    })?;
    if check.integrity != "ok" {
        return Err(BackupError::Refused(format!(
            "{} is damaged ({}); nothing was changed",
            file.display(),
            check.integrity
        )));
    }
    if !check.schema.is_ours() {
        return Err(BackupError::Refused(format!(
            "{} is no Amtsbote database this version can run on: {}; nothing was changed",
            file.display(),
            check.schema.summary()
        )));
    }
    let aside = put_aside(&database, now)?;
    copy.persist(&database).map_err(|e| BackupError::Io {
        what: format!("putting the backup in place at {}", database.display()),
        source: e.error,
    })?;
    sync_directory(&dir)?;
    Ok(Restored {
        database,
        aside,
        schema: check.schema,
    })
}

/// SQLite's files beside a database: a `-wal` holds committed pages not yet in the file, so it
/// moves with it; `-shm` is rebuilt from them.
const SIDE_FILES: [&str; 3] = ["", "-wal", "-shm"];

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Renames the database and its side files to `<database>.before-restore-<UTC time>` (and
/// `-wal`, `-shm`), the database first: `None` when there was none.
fn put_aside(
    database: &Path,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<PathBuf>, BackupError> {
    if !SIDE_FILES.iter().any(|s| with_suffix(database, s).exists()) {
        return Ok(None);
    }
    let stamp = now.format("%Y%m%dT%H%M%SZ");
    let mut aside = with_suffix(database, &format!(".before-restore-{stamp}"));
    let mut n = 1;
    while SIDE_FILES.iter().any(|s| with_suffix(&aside, s).exists()) {
        n += 1;
        aside = with_suffix(database, &format!(".before-restore-{stamp}-{n}"));
    }
    for suffix in SIDE_FILES {
        let from = with_suffix(database, suffix);
        if from.exists() {
            let to = with_suffix(&aside, suffix);
            std::fs::rename(&from, &to).map_err(io_error(format!(
                "moving {} aside to {}",
                from.display(),
                to.display()
            )))?;
        }
    }
    Ok(Some(aside))
}

fn directory_of(file: &Path) -> PathBuf {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Makes the renames in `dir` durable.
fn sync_directory(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(format!("syncing {}", dir.display())))
}
