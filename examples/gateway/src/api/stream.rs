//! `GET /v1/stream`: server-sent events of newly stored events, filtered per client. Each
//! SSE message is one event (`event: event`, `id:` the event id, `data:` its JSON). A client
//! that falls too far behind gets one `event: lagged` message saying how many it missed, and
//! the stream goes on; shutdown ends every stream.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::params::{self, Query};
use super::{ApiError, AppState};
use crate::external::Filters;
use crate::store::Incoming;

/// One stored event as the stream sends it, with what filters look at.
pub struct Published {
    pub json: String,
    pub id: String,
    pub body: serde_json::Value,
}

impl Published {
    pub fn of(item: &Incoming) -> Published {
        Published {
            json: item.json.clone(),
            id: item.event.id.to_string(),
            body: serde_json::to_value(&item.event).unwrap_or_default(),
        }
    }
}

/// Decrements the client gauge when the stream is dropped, however it ends.
struct ClientGuard(Arc<AppState>);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.metrics.stream_clients.dec();
    }
}

pub async fn subscribe(
    State(state): State<Arc<AppState>>,
    Query(filters): Query<Filters>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    params::event_filters("", &filters)?;
    let receiver = state.published.subscribe();
    state.metrics.stream_clients.inc();
    let guard = ClientGuard(state.clone());
    let mut shutdown = state.shutdown.clone();
    let stopped = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    let events = stream::unfold(
        (receiver, filters, guard),
        |(mut receiver, filters, guard)| async move {
            loop {
                match receiver.recv().await {
                    Ok(item) if filters.matches(&item.body) => {
                        let message = SseEvent::default()
                            .event("event")
                            .id(item.id.clone())
                            .data(item.json.clone());
                        return Some((Ok(message), (receiver, filters, guard)));
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => {
                        let message = SseEvent::default()
                            .event("lagged")
                            .data(format!("{{\"missed\":{missed}}}"));
                        return Some((Ok(message), (receiver, filters, guard)));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    )
    .take_until(stopped);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
