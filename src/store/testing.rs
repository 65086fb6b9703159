//! Helpers for tests, benchmarks and demos that need a database of their own: a fresh Postgres
//! database per test, created from an admin URL and dropped afterwards.

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// Creates an empty database next to the one `admin_url` names and returns its URL.
pub async fn fresh_postgres_database(admin_url: &str) -> Result<String, sqlx::Error> {
    let name = format!("amtsbote_t_{:016x}", rand::random::<u64>());
    let mut conn = PgConnection::connect(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    let mut url =
        url::Url::parse(admin_url).map_err(|e| sqlx::Error::Configuration(Box::new(e)))?;
    url.set_path(&name);
    Ok(url.to_string())
}

/// Drops a database made by [`fresh_postgres_database`], closing its other connections.
pub async fn drop_postgres_database(admin_url: &str, url: &str) -> Result<(), sqlx::Error> {
    let parsed = url::Url::parse(url).map_err(|e| sqlx::Error::Configuration(Box::new(e)))?;
    let name = parsed.path().trim_start_matches('/');
    if !name.starts_with("amtsbote_t_")
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(sqlx::Error::Configuration(
            format!("not a test database: {name}").into(),
        ));
    }
    let mut conn = PgConnection::connect(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    Ok(())
}
