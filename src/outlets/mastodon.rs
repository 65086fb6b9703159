//! Mastodon: `POST /api/v1/statuses` with an `Idempotency-Key` (the server keeps it an hour, so
//! a retry after a crash returns the status already made), edits by `PUT /api/v1/statuses/{id}`,
//! the instance's limit from `/api/v2/instance`.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::OnceCell;

use super::text::{MASTODON_DEFAULT_LIMIT, for_outlet};
use super::{Job, Outlet, OutletError, Remote, answer_of};
use crate::domain::outlet::{OutletAction, OutletKind};

pub struct Mastodon {
    name: String,
    client: reqwest::Client,
    base: url::Url,
    token: SecretString,
    /// The instance's limit, once read.
    limit: OnceCell<usize>,
}

#[derive(Deserialize)]
struct Status {
    id: String,
    url: Option<String>,
}

#[derive(Deserialize)]
struct Instance {
    configuration: Option<Configuration>,
}

#[derive(Deserialize)]
struct Configuration {
    statuses: Option<Statuses>,
}

#[derive(Deserialize)]
struct Statuses {
    max_characters: Option<usize>,
}

impl Mastodon {
    pub fn new(name: &str, client: reqwest::Client, base: url::Url, token: SecretString) -> Self {
        Mastodon {
            name: name.to_string(),
            client,
            base,
            token,
            limit: OnceCell::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    /// The instance's limit: read once; 500 while it cannot be read.
    async fn limit(&self) -> usize {
        if let Some(limit) = self.limit.get() {
            return *limit;
        }
        match self.read_limit().await {
            Ok(limit) => *self.limit.get_or_init(|| async { limit }).await,
            Err(e) => {
                tracing::warn!(outlet = %self.name, error = %e, "cannot read the instance's limit; 500 for now");
                MASTODON_DEFAULT_LIMIT
            }
        }
    }

    async fn read_limit(&self) -> Result<usize, OutletError> {
        let body = answer_of(self.client.get(self.url("/api/v2/instance"))).await?;
        let instance: Instance = serde_json::from_str(&body)
            .map_err(|e| OutletError::Permanent(format!("unexpected instance answer: {e}")))?;
        Ok(instance
            .configuration
            .and_then(|c| c.statuses)
            .and_then(|s| s.max_characters)
            .unwrap_or(MASTODON_DEFAULT_LIMIT))
    }

    async fn status(
        &self,
        request: reqwest::RequestBuilder,
        body: serde_json::Value,
    ) -> Result<Status, OutletError> {
        let text = answer_of(request.bearer_auth(self.token.expose_secret()).json(&body)).await?;
        serde_json::from_str(&text)
            .map_err(|e| OutletError::Permanent(format!("unexpected status answer: {e}")))
    }

    async fn post(
        &self,
        text: String,
        key: &str,
        reply_to: Option<&str>,
    ) -> Result<Status, OutletError> {
        let mut body =
            serde_json::json!({ "status": text, "visibility": "public", "language": "de" });
        if let Some(id) = reply_to {
            body["in_reply_to_id"] = id.into();
        }
        self.status(
            self.client
                .post(self.url("/api/v1/statuses"))
                .header("Idempotency-Key", key),
            body,
        )
        .await
    }

    async fn edit(&self, id: &str, text: String) -> Result<Status, OutletError> {
        let path = format!("/api/v1/statuses/{}", urlencode(id));
        self.status(
            self.client.put(self.url(&path)),
            serde_json::json!({ "status": text, "language": "de" }),
        )
        .await
    }
}

/// A status id goes into a path: only what it is made of (digits) stays as it is.
fn urlencode(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

fn remote(status: Status) -> Remote {
    Remote {
        id: status.id,
        url: status.url,
        reference: None,
    }
}

#[async_trait]
impl Outlet for Mastodon {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> OutletKind {
        OutletKind::Mastodon
    }

    async fn publish(&self, job: &Job) -> Result<Remote, OutletError> {
        let limit = self.limit().await;
        let text = for_outlet(
            OutletKind::Mastodon,
            &job.text,
            job.link.as_deref(),
            None,
            limit,
        );
        match (job.action, &job.post) {
            (OutletAction::Post, _) => Ok(remote(self.post(text, &job.key, None).await?)),
            (OutletAction::Correct, Some(post)) => Ok(remote(self.edit(&post.id, text).await?)),
            // The post now says it was retracted, and its followers are told in a reply.
            (OutletAction::Retract, Some(post)) => {
                self.edit(&post.id, text.clone()).await?;
                Ok(remote(self.post(text, &job.key, Some(&post.id)).await?))
            }
            (_, None) => Err(OutletError::Permanent("no post to change".into())),
        }
    }

    async fn check(&self) -> Result<String, OutletError> {
        let body = answer_of(
            self.client
                .get(self.url("/api/v1/accounts/verify_credentials"))
                .bearer_auth(self.token.expose_secret()),
        )
        .await?;
        let account = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("acct").and_then(|a| a.as_str().map(str::to_string)))
            .unwrap_or_default();
        let limit = self.read_limit().await?;
        Ok(format!(
            "signed in as @{account}; {limit} characters per post, a URL counts 23"
        ))
    }
}
