//! Bluesky: one session (`com.atproto.server.createSession` is limited to a few dozen logins a
//! day), refreshed with `refreshSession` when the access token expires; posts are
//! `com.atproto.repo.createRecord` of `app.bsky.feed.post`, at most 300 graphemes, with the
//! check link as a facet over its UTF-8 bytes. Bluesky has no edits: a correction or
//! retraction is a reply to the post.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::text::for_bluesky;
use super::{Job, Outlet, OutletError, Remote, classify, transport};
use crate::domain::outlet::{OutletAction, OutletKind};

pub struct Bluesky {
    name: String,
    client: reqwest::Client,
    base: url::Url,
    handle: String,
    password: SecretString,
    session: Mutex<Option<Session>>,
}

#[derive(Clone, Deserialize)]
struct Session {
    #[serde(rename = "accessJwt")]
    access: String,
    #[serde(rename = "refreshJwt")]
    refresh: String,
    did: String,
    handle: String,
}

#[derive(Deserialize)]
struct Created {
    uri: String,
    cid: String,
}

/// What a call answered, for deciding whether the session needs renewing.
enum Answer {
    Ok(String),
    Expired,
    Failed(OutletError),
}

impl Bluesky {
    pub fn new(
        name: &str,
        client: reqwest::Client,
        base: url::Url,
        handle: &str,
        password: SecretString,
    ) -> Self {
        Bluesky {
            name: name.to_string(),
            client,
            base,
            handle: handle.to_string(),
            password,
            session: Mutex::new(None),
        }
    }

    fn url(&self, method: &str) -> String {
        format!("{}/xrpc/{method}", self.base.as_str().trim_end_matches('/'))
    }

    async fn call(&self, method: &str, bearer: Option<&str>, body: &Value) -> Answer {
        let mut request = self.client.post(self.url(method)).json(body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let r = match request.send().await {
            Ok(r) => r,
            Err(e) => return Answer::Failed(transport(e)),
        };
        let (status, headers) = (r.status(), r.headers().clone());
        let text = match r.text().await {
            Ok(t) => t,
            Err(e) => return Answer::Failed(transport(e)),
        };
        if status.is_success() {
            return Answer::Ok(text);
        }
        let error = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str().map(str::to_string)));
        if matches!(error.as_deref(), Some("ExpiredToken" | "InvalidToken")) {
            return Answer::Expired;
        }
        Answer::Failed(classify(status, &headers, &text))
    }

    fn parse<T: for<'de> Deserialize<'de>>(text: &str, what: &str) -> Result<T, OutletError> {
        serde_json::from_str(text)
            .map_err(|e| OutletError::Permanent(format!("unexpected {what} answer: {e}")))
    }

    /// Signs in with the app password: only when no session can be refreshed.
    async fn create_session(&self) -> Result<Session, OutletError> {
        let body = json!({ "identifier": self.handle, "password": self.password.expose_secret() });
        match self
            .call("com.atproto.server.createSession", None, &body)
            .await
        {
            Answer::Ok(text) => Self::parse(&text, "createSession"),
            Answer::Expired => Err(OutletError::Permanent(
                "the app password was refused".into(),
            )),
            Answer::Failed(e) => Err(e),
        }
    }

    /// The session kept, renewed by `refreshSession` after `expired`, or a new one.
    async fn session(&self, expired: bool) -> Result<Session, OutletError> {
        let mut kept = self.session.lock().await;
        match (kept.clone(), expired) {
            (Some(s), false) => return Ok(s),
            (Some(s), true) => {
                match self
                    .call(
                        "com.atproto.server.refreshSession",
                        Some(&s.refresh),
                        &json!({}),
                    )
                    .await
                {
                    Answer::Ok(text) => {
                        let fresh: Session = Self::parse(&text, "refreshSession")?;
                        *kept = Some(fresh.clone());
                        return Ok(fresh);
                    }
                    Answer::Failed(OutletError::RateLimited(d)) => {
                        return Err(OutletError::RateLimited(d));
                    }
                    // The refresh token is gone too: sign in again.
                    _ => {}
                }
            }
            (None, _) => {}
        }
        let fresh = self.create_session().await?;
        *kept = Some(fresh.clone());
        Ok(fresh)
    }

    async fn create_record(&self, record: Value) -> Result<(Created, Session), OutletError> {
        let mut expired = false;
        for _ in 0..2 {
            let session = self.session(expired).await?;
            let body = json!({
                "repo": session.did,
                "collection": "app.bsky.feed.post",
                "record": record,
            });
            match self
                .call(
                    "com.atproto.repo.createRecord",
                    Some(&session.access),
                    &body,
                )
                .await
            {
                Answer::Ok(text) => return Ok((Self::parse(&text, "createRecord")?, session)),
                Answer::Expired => expired = true,
                Answer::Failed(e) => return Err(e),
            }
        }
        Err(OutletError::Transient(
            "the session expired again at once".into(),
        ))
    }
}

/// The post's record: text, link facet, and the post it answers.
pub fn record(text: &str, link: Option<&str>, reply_to: Option<&Remote>) -> Value {
    let post = for_bluesky(text, link);
    let mut record = json!({
        "$type": "app.bsky.feed.post",
        "text": post.text,
        "createdAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "langs": ["de"],
    });
    if let (Some((start, end)), Some(uri)) = (post.link, link) {
        record["facets"] = json!([{
            "index": { "byteStart": start, "byteEnd": end },
            "features": [{ "$type": "app.bsky.richtext.facet#link", "uri": uri }]
        }]);
    }
    if let Some(parent) = reply_to {
        let strong = json!({ "uri": parent.id, "cid": parent.reference });
        record["reply"] = json!({ "root": strong, "parent": strong });
    }
    record
}

#[async_trait]
impl Outlet for Bluesky {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> OutletKind {
        OutletKind::Bluesky
    }

    fn can_edit(&self) -> bool {
        false
    }

    async fn publish(&self, job: &Job) -> Result<Remote, OutletError> {
        let reply_to = match job.action {
            OutletAction::Post => None,
            _ => Some(
                job.post
                    .as_ref()
                    .ok_or_else(|| OutletError::Permanent("no post to answer".into()))?,
            ),
        };
        let (created, session) = self
            .create_record(record(&job.text, job.link.as_deref(), reply_to))
            .await?;
        let rkey = created
            .uri
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        Ok(Remote {
            url: Some(format!(
                "https://bsky.app/profile/{}/post/{rkey}",
                session.handle
            )),
            id: created.uri,
            reference: Some(created.cid),
        })
    }

    async fn check(&self) -> Result<String, OutletError> {
        let session = self.session(false).await?;
        Ok(format!(
            "signed in as {} ({}); 300 graphemes per post, no edits",
            session.handle, session.did
        ))
    }
}
