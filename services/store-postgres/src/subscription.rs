//! Catch-up subscriptions to the whole log, in position order, across reconnections.

use super::*;

/// A catch-up subscription: reads by position, then waits for the next commit.
pub(crate) struct PostgresSubscription {
    pub(crate) store: SubscriptionReader,
    pub(crate) next_position: u64,
    pub(crate) buffered: VecDeque<RecordedEvent>,
    pub(crate) committed: watch::Receiver<u64>,
}

/// What a subscription reads with: a connection of its own, so that it never waits behind
/// the store's other reads, made again if the database restarts or fails over.
pub(crate) struct SubscriptionReader {
    pub(crate) client: Client,
    pub(crate) config: tokio_postgres::Config,
    pub(crate) poll_interval: Duration,
}

/// A lost connection is worth this many new attempts, a poll interval apart, before the
/// subscription gives up (about a minute by default): a failover takes seconds.
pub(crate) const SUBSCRIPTION_RECONNECTS_MAX: u32 = 600;

#[async_trait]
impl LogSubscription for PostgresSubscription {
    async fn next(&mut self) -> Result<RecordedEvent, StoreError> {
        loop {
            if let Some(event) = self.buffered.pop_front() {
                self.next_position = event.position.0 + 1;
                return Ok(event);
            }
            self.committed.borrow_and_update();
            let query =
                format!("SELECT {EVENT_COLUMNS} FROM klero_events WHERE position >= $1 ORDER BY position LIMIT 500");
            let mut attempts = 0;
            let rows = loop {
                match self.store.client.query(&query, &[&(self.next_position as i64)]).await {
                    Ok(rows) => break rows,
                    Err(error) if self.store.client.is_closed() && attempts < SUBSCRIPTION_RECONNECTS_MAX => {
                        // The database went away: connect again and read on from the same
                        // position, so nothing is skipped or repeated.
                        attempts += 1;
                        tracing::warn!(%error, attempts, "a subscription lost its connection; connecting again");
                        tokio::time::sleep(self.store.poll_interval).await;
                        if let Ok(client) = connect_one(&self.store.config).await {
                            self.store.client = client;
                        }
                    }
                    Err(error) => return Err(unavailable("reading for a subscription", error)),
                }
            };
            let read = events(&rows)?;
            if let Some(first) = read.first() {
                // Dense positions: the next event is exactly the one after the last delivered.
                if first.position.0 != self.next_position {
                    return Err(StoreError::Corrupt {
                        segment: "klero_events".into(),
                        offset: 0,
                        position: self.next_position,
                        reason: format!(
                            "position {} is missing: the next event is at {}",
                            self.next_position, first.position
                        ),
                    });
                }
                self.buffered.extend(read);
                continue;
            }
            let poll = self.store.poll_interval;
            tokio::select! {
                changed = self.committed.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(poll).await;
                    }
                }
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }
}
