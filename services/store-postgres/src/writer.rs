//! The one writer: it takes every waiting append into one transaction on the head row, decides
//! each against the database and the appends before it, inserts, and answers after the commit;
//! and the follower of the committed head (notifications, with polling as the fallback).

use super::*;

/// The one connection that appends, and whether it is the log's writer.
///
/// **One writer.** Several servers may share a database; exactly one appends. A server becomes
/// the writer by taking a session-level advisory lock (`pg_try_advisory_lock`) on the
/// connection it appends with, and then by raising `klero_log_head.writer_epoch`, a fencing
/// token. Every append transaction locks the log head and checks that the epoch is still its
/// own, inside the transaction. So the database decides: a writer whose session ended (its
/// process died, or was cut off) has lost the lock with the session, any new session must take
/// the lock again, and a writer that was paused past a takeover finds a newer epoch and appends
/// nothing. No clock and no timeout is trusted. When the writer's process dies, PostgreSQL
/// ends its session as soon as the socket closes, and the next append on another server takes
/// over; when a machine vanishes without closing its sockets, TCP keepalives end the session.
pub(crate) struct Writer {
    pub(crate) client: Client,
    /// The fencing token this server took, while it is the writer.
    pub(crate) epoch: Option<i64>,
    pub(crate) config: tokio_postgres::Config,
    pub(crate) advertise: String,
}

impl Writer {
    /// Makes sure this server may append: reconnects if the database went away, and takes the
    /// writer's lock and a new epoch if no one holds it. An error names the writer to ask.
    /// Takes the writer's lock if it is free, at start: nothing has been decided yet, so no
    /// append needs refusing.
    pub(crate) async fn try_take_at_start(&mut self) -> Result<(), StoreError> {
        match self.ensure_writer().await {
            Ok(_) => Ok(()),
            Err(StoreError::Unavailable { .. }) if self.epoch.is_some() || !self.client.is_closed() => Ok(()),
            Err(error) => Err(error),
        }
    }

    async fn ensure_writer(&mut self) -> Result<i64, StoreError> {
        if self.client.is_closed() {
            // The database restarted or failed over: connect again (a multi-host URL with
            // target_session_attrs=read-write finds the new primary). The old session's lock
            // went with it, so the lock must be taken again.
            self.client = connect_one(&self.config).await?;
            self.epoch = None;
        }
        if let Some(epoch) = self.epoch {
            return Ok(epoch);
        }
        let failed = |e: tokio_postgres::Error| unavailable("becoming the writer", e);
        let locked: bool =
            self.client.query_one("SELECT pg_try_advisory_lock($1)", &[&WRITER_LOCK]).await.map_err(failed)?.get(0);
        if !locked {
            let row = self
                .client
                .query_one("SELECT writer, writer_since::text FROM klero_log_head", &[])
                .await
                .map_err(failed)?;
            let (writer, since): (String, Option<String>) = (row.get(0), row.get(1));
            return Err(StoreError::Unavailable {
                reason: format!(
                    "this server is not the log's writer: append to {writer} (the writer since {})",
                    since.unwrap_or_else(|| "an unknown time".into())
                ),
            });
        }
        let epoch: i64 = self
            .client
            .query_one(
                "UPDATE klero_log_head SET writer_epoch = writer_epoch + 1, writer = $1, writer_since = now()
                 RETURNING writer_epoch",
                &[&self.advertise],
            )
            .await
            .map_err(failed)?
            .get(0);
        tracing::info!(epoch, "this server is the log's writer");
        self.epoch = Some(epoch);
        // The appends waiting now were decided before this server held the lock, so on a log
        // that the previous writer may have extended since: they are refused, and their retry
        // is decided on the whole log (the server follows the store before it decides).
        Err(StoreError::Unavailable {
            reason: "this server has just become the log's writer: retry, to be decided on the whole log".into(),
        })
    }
}

/// Moves the committed-events watch forward, never back.
pub(crate) fn raise(committed: &watch::Sender<u64>, size: u64) {
    committed.send_if_modified(|known| {
        let grew = size > *known;
        *known = (*known).max(size);
        grew
    });
}

/// The channel every commit notifies with the log's new size (`pg_notify`, delivered at commit).
pub(crate) const NOTIFY_CHANNEL: &str = "klero_log";

/// A connection that listens on [`NOTIFY_CHANNEL`], and the log sizes its notifications carry.
pub(crate) async fn connect_listening(
    config: &tokio_postgres::Config,
) -> Result<(Client, mpsc::UnboundedReceiver<u64>), StoreError> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(|e| unavailable("connecting", e))?;
    let (sizes, notified) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Drive the connection by hand, to see its notifications.
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(notification)) => {
                    if let Ok(size) = notification.payload().parse::<u64>() {
                        if sizes.send(size).is_err() {
                            return;
                        }
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "the listening PostgreSQL connection ended");
                    return;
                }
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {NOTIFY_CHANNEL}"))
        .await
        .map_err(|e| unavailable("listening for appends", e))?;
    Ok((client, notified))
}

/// Learns of other servers' appends (a standby server follows the writer this way): at once
/// from their commits' notifications, and, in case one is missed (a reconnection), from the log
/// head read every `interval`. Ends when the store closes.
pub(crate) async fn follow_head(
    config: tokio_postgres::Config,
    committed: Arc<watch::Sender<u64>>,
    interval: Duration,
) {
    let mut listening: Option<(Client, mpsc::UnboundedReceiver<u64>)> = None;
    loop {
        if committed.receiver_count() == 0 {
            return;
        }
        let Some((client, notified)) = listening.as_mut() else {
            listening = connect_listening(&config).await.ok();
            if listening.is_none() {
                tokio::time::sleep(interval).await;
            }
            continue;
        };
        tokio::select! {
            size = notified.recv() => match size {
                Some(size) => raise(&committed, size),
                None => listening = None,
            },
            _ = tokio::time::sleep(interval) => {
                match head(client).await {
                    Ok(size) => raise(&committed, size),
                    Err(_) if client.is_closed() => listening = None,
                    Err(_) => {}
                }
            }
        }
    }
}

/// The writer: takes every waiting append into one transaction, commits, and answers.
pub(crate) async fn write(
    mut writer: Writer,
    mut requests: mpsc::Receiver<AppendRequest>,
    committed: Arc<watch::Sender<u64>>,
    group_max: usize,
) {
    while let Some(first) = requests.recv().await {
        let mut group = vec![first];
        while group.len() < group_max {
            match requests.try_recv() {
                Ok(request) => group.push(request),
                Err(_) => break,
            }
        }
        let outcome = match writer.ensure_writer().await {
            Ok(epoch) => append_group(&mut writer.client, epoch, &group).await,
            Err(error) => Err(error),
        };
        match outcome {
            Ok((decisions, size)) => {
                raise(&committed, size);
                answer(group, decisions);
            }
            Err(error) => {
                // The transaction failed as a whole (a lost connection, a lost writer's lock;
                // the outcome of a commit may be unknown). Every append in it is told to retry
                // with the same bytes, which is safe: a retry of a committed append returns its
                // original result.
                if let StoreError::Unavailable { reason } = &error {
                    if reason.contains("fenced") {
                        writer.epoch = None;
                    }
                }
                tracing::warn!(%error, appends = group.len(), "an append transaction failed");
                for request in group {
                    let _ = request.reply.send(Err(error.clone()));
                }
            }
        }
    }
}

pub(crate) fn answer(group: Vec<AppendRequest>, decisions: Vec<Decision>) {
    let results: Vec<Result<AppendResult, StoreError>> = decisions
        .iter()
        .map(|decision| match decision {
            Decision::Replay(result) | Decision::Appended(result) => Ok(*result),
            Decision::Refused(error) => Err(error.clone()),
            Decision::SameAs(_) => Err(StoreError::Unavailable { reason: "unresolved".into() }),
        })
        .collect();
    for (index, request) in group.into_iter().enumerate() {
        let result = match &decisions[index] {
            Decision::SameAs(earlier) => results[*earlier].clone(),
            _ => results[index].clone(),
        };
        let _ = request.reply.send(result);
    }
}

/// Whether `events` repeat exactly the append whose rows are `rows` (same ids, bytes, stream,
/// order and batch), and if so its original result.
pub(crate) fn replayed(stream: &str, events: &[EventData], rows: &[&StoredRow]) -> Option<AppendResult> {
    if rows.len() != events.len() {
        return None;
    }
    let first = rows[0];
    if first.batch_length != events.len() {
        return None;
    }
    for (i, (event, row)) in events.iter().zip(rows).enumerate() {
        let same = row.event.event_id == event.event_id
            && row.event.stream == stream
            && row.event.event_type == event.event_type
            && row.event.data == event.data
            && row.batch_first == first.batch_first
            && row.event.position.0 == first.batch_first + i as u64;
        if !same {
            return None;
        }
    }
    let last = rows[rows.len() - 1];
    Some(AppendResult {
        last_revision: last.event.stream_revision,
        first_position: first.event.position,
        last_position: last.event.position,
    })
}

/// A statement's parameters, named so that they outlive the pipelined statements that use them.
pub(crate) type Parameters<'a, const N: usize> = [&'a (dyn tokio_postgres::types::ToSql + Sync); N];

pub(crate) fn duplicate(event_id: EventId, reason: &str) -> StoreError {
    StoreError::DuplicateEventId { event_id, reason: reason.into() }
}

/// One transaction for a group of appends; returns each append's decision and the log's size.
pub(crate) async fn append_group(
    client: &mut Client,
    epoch: i64,
    group: &[AppendRequest],
) -> Result<(Vec<Decision>, u64), StoreError> {
    let failed = |e: tokio_postgres::Error| unavailable("appending", e);
    let transaction = client.transaction().await.map_err(failed)?;
    // Three reads in one round trip (tokio-postgres pipelines them): the head, locked; the
    // ids of the group that are already in the log; and the heads of the group's streams. The
    // two last need not wait for the lock: an id or a stream head can change only under it,
    // and the statements run in order on this connection, after the lock is taken.
    let ids: Vec<&[u8]> = group.iter().flat_map(|r| r.events.iter().map(|e| &e.event_id.0[..])).collect();
    let streams: Vec<&str> = group.iter().map(|r| r.stream.as_str()).collect();
    let existing_query = format!("SELECT {EVENT_COLUMNS} FROM klero_events WHERE event_id = ANY($1)");
    let (ids_parameter, streams_parameter): (Parameters<'_, 1>, Parameters<'_, 1>) = ([&ids], [&streams]);
    let (head, existing_rows, stream_rows) = tokio::join!(
        transaction.query_one("SELECT next_position, writer_epoch, writer FROM klero_log_head FOR UPDATE", &[]),
        transaction.query(&existing_query, &ids_parameter),
        transaction.query("SELECT stream, last_revision FROM klero_streams WHERE stream = ANY($1)", &streams_parameter),
    );
    let head = head.map_err(failed)?;
    let (next, current_epoch, writer): (i64, i64, String) = (head.get(0), head.get(1), head.get(2));
    if current_epoch != epoch {
        // Another server took over while this one was cut off or paused: the fencing token
        // says so, and this transaction appends nothing.
        return Err(StoreError::Unavailable {
            reason: format!(
                "this server was fenced off: the log's writer is now {writer} (epoch {current_epoch}, ours {epoch})"
            ),
        });
    }
    let mut next = next as u64;
    let existing: Vec<StoredRow> = existing_rows.map_err(failed)?.iter().map(stored).collect::<Result<_, _>>()?;
    let existing: HashMap<EventId, &StoredRow> = existing.iter().map(|row| (row.event.event_id, row)).collect();
    let mut heads: HashMap<String, Option<u64>> = stream_rows
        .map_err(failed)?
        .iter()
        .map(|row| (row.get::<_, String>(0), Some(row.get::<_, i64>(1) as u64)))
        .collect();
    // Ids appended earlier in this group: which append, and its place in it.
    let mut pending: HashMap<EventId, (usize, usize)> = HashMap::new();
    let mut decisions = Vec::with_capacity(group.len());
    let (
        mut positions,
        mut event_ids,
        mut stream_names,
        mut revisions,
        mut types,
        mut data,
        mut batch_firsts,
        mut batch_lengths,
    ) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (index, request) in group.iter().enumerate() {
        let stored: Vec<&StoredRow> =
            request.events.iter().filter_map(|e| existing.get(&e.event_id).copied()).collect();
        if !stored.is_empty() {
            decisions.push(match replayed(&request.stream, &request.events, &stored) {
                Some(result) => Decision::Replay(result),
                None => Decision::Refused(duplicate(
                    stored[0].event.event_id,
                    "the id is in the log already, with other content or in another append",
                )),
            });
            continue;
        }
        let earlier: Vec<(usize, usize)> =
            request.events.iter().filter_map(|e| pending.get(&e.event_id).copied()).collect();
        if let Some(&(earlier_index, _)) = earlier.first() {
            let original = &group[earlier_index];
            let same = earlier.len() == request.events.len()
                && original.stream == request.stream
                && original.events == request.events;
            decisions.push(if same {
                Decision::SameAs(earlier_index)
            } else {
                Decision::Refused(duplicate(request.events[0].event_id, "the id is used by another append in progress"))
            });
            continue;
        }
        let current = heads.get(&request.stream).copied().flatten();
        if !request.expected.holds(current) {
            decisions.push(Decision::Refused(StoreError::WrongExpectedRevision {
                stream: request.stream.clone(),
                expected: request.expected,
                actual: current,
            }));
            continue;
        }
        let first_revision = current.map_or(0, |r| r + 1);
        let batch_first = next;
        for (i, event) in request.events.iter().enumerate() {
            pending.insert(event.event_id, (index, i));
            positions.push((next + i as u64) as i64);
            event_ids.push(event.event_id.0.to_vec());
            stream_names.push(request.stream.clone());
            revisions.push((first_revision + i as u64) as i64);
            types.push(event.event_type.clone());
            data.push(event.data.clone());
            batch_firsts.push(batch_first as i64);
            batch_lengths.push(request.events.len() as i32);
        }
        let count = request.events.len() as u64;
        let last_revision = first_revision + count - 1;
        heads.insert(request.stream.clone(), Some(last_revision));
        decisions.push(Decision::Appended(AppendResult {
            last_revision,
            first_position: LogPosition(next),
            last_position: LogPosition(next + count - 1),
        }));
        next += count;
    }
    if !positions.is_empty() {
        let changed: Vec<(&String, i64)> =
            heads.iter().filter_map(|(stream, head)| head.map(|h| (stream, h as i64))).collect();
        let (names, lasts): (Vec<&String>, Vec<i64>) = changed.into_iter().unzip();
        let next_position = next as i64;
        let rows: Parameters<'_, 8> =
            [&positions, &event_ids, &stream_names, &revisions, &types, &data, &batch_firsts, &batch_lengths];
        let stream_heads: Parameters<'_, 2> = [&names, &lasts];
        let new_head: Parameters<'_, 1> = [&next_position];
        let size_text = next.to_string();
        let notice: Parameters<'_, 1> = [&size_text];
        let notify = format!("SELECT pg_notify('{NOTIFY_CHANNEL}', $1)");
        // Three writes and the notice to other servers (delivered at commit) in one round trip,
        // pipelined like the reads.
        let (inserted, streams_moved, head_moved, notified) = tokio::join!(
            transaction.execute(
                "INSERT INTO klero_events (position, event_id, stream, stream_revision, event_type, data, batch_first, batch_length)
                 SELECT * FROM UNNEST($1::bigint[], $2::bytea[], $3::text[], $4::bigint[], $5::text[], $6::bytea[], $7::bigint[], $8::integer[])",
                &rows,
            ),
            transaction.execute(
                "INSERT INTO klero_streams (stream, last_revision) SELECT * FROM UNNEST($1::text[], $2::bigint[])
                 ON CONFLICT (stream) DO UPDATE SET last_revision = EXCLUDED.last_revision",
                &stream_heads,
            ),
            transaction.execute("UPDATE klero_log_head SET next_position = $1", &new_head),
            transaction.execute(&notify, &notice),
        );
        notified.map_err(failed)?;
        inserted.map_err(failed)?;
        streams_moved.map_err(failed)?;
        head_moved.map_err(failed)?;
    }
    transaction
        .commit()
        .await
        .map_err(|e| unavailable("committing (the outcome is unknown: retry with the same bytes)", e))?;
    Ok((decisions, next))
}
