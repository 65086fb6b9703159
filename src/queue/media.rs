//! A lane's pictures and documents: each is uploaded to its platform once, and every further
//! send names the platform's id for it. The one upload is claimed through the store, so that
//! neither two sends of this lane nor two instances (after a failover, or a restart) upload it
//! twice; inside the process, the sends that need the medium wait for the one that uploads it.
//! The bytes are read from the database only for the upload and dropped after it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::channels::{Attached, Channel, MediaFile, Outgoing, SendOutcome};
use crate::domain::media::WHATSAPP_MEDIA_TTL_MS;
use crate::domain::{ChannelKind, now_ms};
use crate::store::{MediaInfo, Store, UploadClaim};

/// What this lane knows of one medium.
#[derive(Default)]
struct Known {
    info: Option<MediaInfo>,
    /// The platform's id and when it was uploaded (ms).
    platform_ref: Option<(String, i64)>,
}

pub struct MediaSender {
    store: Arc<dyn Store>,
    channel: Arc<dyn Channel>,
    /// Who claims uploads: this instance (stable across restarts, so a restarted instance
    /// takes its own claim back at once).
    holder: String,
    /// How long an upload may take: also how long its claim holds.
    upload_timeout: Duration,
    known: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<Known>>>>,
}

impl MediaSender {
    pub fn new(
        store: Arc<dyn Store>,
        channel: Arc<dyn Channel>,
        instance: &str,
        upload_timeout: Duration,
    ) -> Self {
        MediaSender {
            store,
            channel,
            holder: instance.to_string(),
            upload_timeout,
            known: Mutex::new(HashMap::new()),
        }
    }

    fn kind(&self) -> ChannelKind {
        self.channel.kind()
    }

    fn cell(&self, media_id: i64) -> Arc<tokio::sync::Mutex<Known>> {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.entry(media_id).or_default().clone()
    }

    /// When an id uploaded at `at` is still good: WhatsApp keeps media 30 days, Telegram's
    /// file ids do not expire.
    fn fresh_since(&self, now: i64) -> i64 {
        match self.kind() {
            ChannelKind::Whatsapp => now - WHATSAPP_MEDIA_TTL_MS,
            ChannelKind::Telegram => i64::MIN,
        }
    }

    /// The medium `media_id` as a message carries it (read from the store once); `Err` with
    /// the outcome for the delivery when it is gone.
    pub async fn attached(&self, media_id: i64) -> Result<Attached, SendOutcome> {
        let cell = self.cell(media_id);
        let mut known = cell.lock().await;
        if known.info.is_none() {
            known.info =
                self.store.media_info(media_id).await.map_err(|e| {
                    SendOutcome::Transient(format!("reading medium {media_id}: {e}"))
                })?;
        }
        let Some(info) = &known.info else {
            return Err(SendOutcome::Permanent(format!(
                "medium {media_id} was deleted (media.keep_days)"
            )));
        };
        Ok(Attached {
            media_id,
            kind: info.kind,
            mime: info.mime.clone(),
            file_name: info.file_name.clone(),
            platform_ref: None,
        })
    }

    /// Sends `message`, which carries a medium: by the platform's id when it has one, else
    /// after the one upload (which, on Telegram, is this send).
    pub async fn send(&self, message: &Outgoing) -> SendOutcome {
        let Some(media) = &message.media else {
            return self.channel.send(message).await;
        };
        let media_id = media.media_id;
        let cell = self.cell(media_id);
        let mut known = cell.lock().await;
        let now = now_ms();
        if let Some((platform_ref, at)) = &known.platform_ref
            && *at >= self.fresh_since(now)
        {
            let by_id = with_ref(message, platform_ref.clone());
            drop(known);
            return self.channel.send(&by_id).await;
        }
        // Not known here: stored by an earlier process or instance, being uploaded elsewhere,
        // or ours to upload.
        let deadline = now + i64::try_from(self.upload_timeout.as_millis()).unwrap_or(60_000);
        loop {
            let now = now_ms();
            let claim = self
                .store
                .claim_media_upload(
                    media_id,
                    self.kind(),
                    &self.holder,
                    now,
                    deadline.max(now + 1000),
                    self.fresh_since(now),
                )
                .await;
            match claim {
                Err(e) => return SendOutcome::Transient(format!("claiming the upload: {e}")),
                Ok(UploadClaim::Ready {
                    platform_ref,
                    uploaded_at,
                }) => {
                    known.platform_ref = Some((platform_ref.clone(), uploaded_at));
                    drop(known);
                    return self.channel.send(&with_ref(message, platform_ref)).await;
                }
                Ok(UploadClaim::Claimed) => break,
                Ok(UploadClaim::Busy { until }) => {
                    if now >= deadline {
                        return SendOutcome::Transient(
                            "the medium is being uploaded by another instance".into(),
                        );
                    }
                    let wait = (until - now).clamp(50, 250);
                    tokio::time::sleep(Duration::from_millis(wait as u64)).await;
                }
            }
        }
        // Ours: the one upload.
        let outcome = self.upload(media_id, message, &mut known).await;
        drop(known);
        outcome
    }

    async fn upload(&self, media_id: i64, message: &Outgoing, known: &mut Known) -> SendOutcome {
        let kind = self.kind();
        let release = |reason: String| async move {
            if let Err(e) = self
                .store
                .release_media_upload(media_id, kind, &self.holder)
                .await
            {
                tracing::warn!(media = media_id, channel = %kind, error = %e, "could not release the upload claim; it runs out by itself");
            }
            reason
        };
        let (bytes, info) = match (self.store.media_bytes(media_id).await, &known.info) {
            (Ok(Some(bytes)), Some(info)) => (bytes, info),
            (Ok(_), _) => {
                let reason = release(format!("medium {media_id} was deleted")).await;
                return SendOutcome::Permanent(reason);
            }
            (Err(e), _) => {
                let reason = release(format!("reading medium {media_id}: {e}")).await;
                return SendOutcome::Transient(reason);
            }
        };
        let file = MediaFile {
            kind: info.kind,
            mime: info.mime.clone(),
            file_name: info.file_name.clone(),
            bytes,
        };
        metrics::counter!("amtsbote_media_uploads_total", "channel" => kind.as_str()).increment(1);
        tracing::info!(media = media_id, channel = %kind, bytes = info.bytes, "uploading medium");
        let uploaded =
            match tokio::time::timeout(self.upload_timeout, self.channel.upload(file, message))
                .await
            {
                Ok(u) => u,
                Err(_) => {
                    let reason = release(format!(
                        "the upload took longer than {} s",
                        self.upload_timeout.as_secs()
                    ))
                    .await;
                    return SendOutcome::Transient(reason);
                }
            };
        let Some(platform_ref) = uploaded.platform_ref else {
            let outcome = uploaded
                .sent
                .unwrap_or_else(|| SendOutcome::Transient("the upload failed".into()));
            release(String::new()).await;
            tracing::warn!(media = media_id, channel = %kind, outcome = ?outcome, "upload failed");
            return outcome;
        };
        let at = now_ms();
        if let Err(e) = self
            .store
            .media_uploaded(media_id, kind, &platform_ref, at)
            .await
        {
            // Kept here, so this process sends by id; another would upload once more.
            tracing::warn!(media = media_id, channel = %kind, error = %e, "could not store the medium's platform id");
        }
        known.platform_ref = Some((platform_ref.clone(), at));
        match uploaded.sent {
            Some(outcome) => outcome,
            None => self.channel.send(&with_ref(message, platform_ref)).await,
        }
    }
}

fn with_ref(message: &Outgoing, platform_ref: String) -> Outgoing {
    let mut m = message.clone();
    if let Some(media) = &mut m.media {
        media.platform_ref = Some(platform_ref);
    }
    m
}
