//! Domain events: what happened, told to subscribers after it was committed.

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::User;
use crate::error::Result;

/// Something that happened in the shop.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DomainEvent {
    /// A user registered.
    UserRegistered(User),
}

/// Reacts to domain events, e.g. by queueing an e-mail.
///
/// Subscribers run after the change was committed, in the request that made it; they should be
/// quick (enqueue work rather than do it). A subscriber's error is logged and does not undo the
/// change or fail the request.
#[async_trait]
pub trait EventSubscriber: Send + Sync + 'static {
    /// A name for the logs.
    fn name(&self) -> &'static str;

    /// Handles one event.
    async fn on_event(&self, event: &DomainEvent) -> Result<()>;
}

/// Delivers events to every subscriber, in registration order.
#[derive(Clone, Default)]
pub struct EventBus {
    subscribers: Arc<[Arc<dyn EventSubscriber>]>,
}

impl EventBus {
    /// A bus delivering to these subscribers.
    pub fn new(subscribers: Vec<Arc<dyn EventSubscriber>>) -> Self {
        Self {
            subscribers: subscribers.into(),
        }
    }

    /// Tells every subscriber; failures are logged, not returned.
    pub async fn publish(&self, event: DomainEvent) {
        for subscriber in self.subscribers.iter() {
            if let Err(error) = subscriber.on_event(&event).await {
                tracing::error!(subscriber = subscriber.name(), %error, ?event, "event subscriber failed");
            }
        }
    }
}
