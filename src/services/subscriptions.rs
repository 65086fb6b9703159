//! The citizen side: sign up, topics, areas, a shared location and the consent to keep it,
//! language, stop and erase. The chat on both channels and the dashboard call one function per
//! message here instead of a chain of store calls.

use std::sync::Arc;

use crate::domain::area::{Area, Catalogue, Coordinates, Place};
use crate::domain::{ALERTS_TOPIC, ChannelKind, SubscriberStatus, Topic, TopicConfig};
use crate::store::{Store, StoreError, Subscriber, SubscriberAreas};

/// Districts per page of the area keyboard: with "back", "more", "whole city" and "share
/// location" it stays within WhatsApp's ten rows of a list.
pub const AREAS_PER_PAGE: usize = 6;

/// A subscriber with their areas, as the chat shows them.
#[derive(Debug, Clone)]
pub struct Citizen {
    pub subscriber: Subscriber,
    pub areas: SubscriberAreas,
}

/// What a shared location did.
#[derive(Debug, Clone, PartialEq)]
pub enum Located {
    /// It lies in this district, which was added to the citizen's choice; `place` is the point
    /// rounded to about 100 m, which is kept only when they agree.
    InDistrict {
        id: String,
        name: String,
        place: Place,
    },
    /// It lies in no district of the city: nothing changed.
    Outside,
    /// The city has no districts configured.
    NoAreas,
    /// Not a point on the earth (latitude 91, NaN): nothing changed.
    Invalid(String),
}

pub struct SubscriptionService {
    store: Arc<dyn Store>,
    topics: Vec<TopicConfig>,
    areas: Option<Arc<Catalogue>>,
}

impl SubscriptionService {
    pub fn new(
        store: Arc<dyn Store>,
        topics: Vec<TopicConfig>,
        areas: Option<Arc<Catalogue>>,
    ) -> Self {
        SubscriptionService {
            store,
            topics,
            areas,
        }
    }

    pub fn catalogue(&self) -> Option<&Arc<Catalogue>> {
        self.areas.as_ref()
    }

    /// `/start`: subscribed (again), on the alerts topic; returns them as they are now.
    pub async fn start(
        &self,
        channel: ChannelKind,
        address: &str,
        language: &str,
    ) -> Result<Subscriber, StoreError> {
        let s = self
            .store
            .ensure_subscriber(channel, address, language)
            .await?;
        if s.status != SubscriberStatus::Active {
            self.store
                .set_subscriber_status(s.id, SubscriberStatus::Active)
                .await?;
        }
        if let Some(alerts) = self.topics.iter().find(|t| t.id.as_str() == ALERTS_TOPIC) {
            self.store.set_subscription(s.id, &alerts.id, true).await?;
        }
        self.subscriber(channel, address, language).await
    }

    /// The subscriber behind an address, added (without topics) if new.
    pub async fn subscriber(
        &self,
        channel: ChannelKind,
        address: &str,
        language: &str,
    ) -> Result<Subscriber, StoreError> {
        match self.store.subscriber(channel, address).await? {
            Some(s) => Ok(s),
            None => {
                self.store
                    .ensure_subscriber(channel, address, language)
                    .await
            }
        }
    }

    /// Sets one topic on or off; returns the subscriber as they are now.
    pub async fn set_topic(
        &self,
        s: &Subscriber,
        topic: &Topic,
        on: bool,
    ) -> Result<Subscriber, StoreError> {
        self.store.set_subscription(s.id, topic, on).await?;
        self.subscriber(s.channel, &s.address, &s.language).await
    }

    pub async fn set_language(&self, s: &Subscriber, language: &str) -> Result<(), StoreError> {
        self.store.set_language(s.id, language).await
    }

    /// `/stop`: nothing more is sent until `/start`.
    pub async fn stop(&self, channel: ChannelKind, address: &str) -> Result<(), StoreError> {
        if let Some(s) = self.store.subscriber(channel, address).await? {
            self.store
                .set_subscriber_status(s.id, SubscriberStatus::Stopped)
                .await?;
        }
        Ok(())
    }

    /// The subscriber with their chosen districts and kept place.
    pub async fn citizen(
        &self,
        channel: ChannelKind,
        address: &str,
        language: &str,
    ) -> Result<Citizen, StoreError> {
        let subscriber = self.subscriber(channel, address, language).await?;
        let areas = self.store.subscriber_areas(subscriber.id).await?;
        Ok(Citizen { subscriber, areas })
    }

    /// Switches one district on or off (an unknown id changes nothing).
    pub async fn toggle_area(&self, c: &Citizen, id: &str) -> Result<Citizen, StoreError> {
        if let Some(area) = self.area(id) {
            let on = !c.areas.areas.contains(&area.id);
            self.store
                .set_subscriber_area(c.subscriber.id, &area.id, on)
                .await?;
        }
        self.refreshed(c).await
    }

    /// "Whole city": no district and no kept place; everything reaches them again.
    pub async fn whole_city(&self, c: &Citizen) -> Result<Citizen, StoreError> {
        self.store.clear_subscriber_areas(c.subscriber.id).await?;
        self.refreshed(c).await
    }

    /// A shared location: the district it lies in is added; the point itself is not kept.
    pub async fn locate(&self, c: &Citizen, lat: f64, lon: f64) -> Result<Located, StoreError> {
        let Some(catalogue) = &self.areas else {
            return Ok(Located::NoAreas);
        };
        let point = match Coordinates::new(lat, lon) {
            Ok(p) => p,
            Err(e) => return Ok(Located::Invalid(e)),
        };
        let Some(area) = catalogue.locate(point) else {
            return Ok(Located::Outside);
        };
        self.store
            .set_subscriber_area(c.subscriber.id, &area.id, true)
            .await?;
        Ok(Located::InDistrict {
            id: area.id.clone(),
            name: area.name.clone(),
            place: Place::rounded(point),
        })
    }

    /// Keeps a place for warnings nearby, with the citizen's consent; only a place inside the
    /// city is kept.
    pub async fn keep_place(&self, c: &Citizen, place: Place) -> Result<bool, StoreError> {
        let inside = self
            .areas
            .as_ref()
            .and_then(|a| a.locate(place.coordinates()))
            .is_some();
        if inside {
            self.store
                .keep_place(c.subscriber.id, place, crate::domain::now_ms())
                .await?;
        }
        Ok(inside)
    }

    pub async fn forget_place(&self, c: &Citizen) -> Result<bool, StoreError> {
        self.store.forget_place(c.subscriber.id).await
    }

    /// `/delete`, confirmed: everything the city holds of this person is erased.
    pub async fn erase(&self, channel: ChannelKind, address: &str) -> Result<bool, StoreError> {
        self.store.erase_subscriber(channel, address).await
    }

    /// A district of the catalogue by id.
    pub fn area(&self, id: &str) -> Option<&Area> {
        self.areas.as_ref()?.areas().iter().find(|a| a.id == id)
    }

    /// The names of the districts a citizen chose, in the catalogue's order.
    pub fn chosen_names(&self, c: &Citizen) -> Vec<String> {
        let Some(catalogue) = &self.areas else {
            return Vec::new();
        };
        catalogue
            .areas()
            .iter()
            .filter(|a| c.areas.areas.contains(&a.id))
            .map(|a| a.name.clone())
            .collect()
    }

    async fn refreshed(&self, c: &Citizen) -> Result<Citizen, StoreError> {
        let areas = self.store.subscriber_areas(c.subscriber.id).await?;
        Ok(Citizen {
            subscriber: c.subscriber.clone(),
            areas,
        })
    }
}
