//! The PostgreSQL store passes the shared conformance suite, unchanged, on a real PostgreSQL
//! server that the test starts itself; plus what only a database shows: another process's
//! appends reach a subscription, and the database itself refuses a forked stream.

use async_trait::async_trait;
use klero_store::*;
use klero_store_conformance::{run_all, test_event, StoreUnderTest};
use klero_store_postgres::test_cluster::TestCluster;
use klero_store_postgres::{PostgresStore, PostgresStoreOptions};
use std::sync::Arc;

struct PostgresStores {
    cluster: TestCluster,
    made: u32,
    keys: tempfile::TempDir,
}

#[async_trait]
impl StoreUnderTest for PostgresStores {
    type Store = PostgresStore;
    async fn fresh_store(&mut self) -> Arc<PostgresStore> {
        self.made += 1;
        let url = self.cluster.create_database(&format!("conformance_{}", self.made));
        let options = PostgresStoreOptions {
            key_encryption_keys: Some(self.keys.path().join(self.made.to_string())),
            ..PostgresStoreOptions::default()
        };
        Arc::new(PostgresStore::connect(&url, options).await.expect("connect"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_passes_the_conformance_suite() {
    let cluster = TestCluster::start();
    run_all(&mut PostgresStores { cluster, made: 0, keys: tempfile::tempdir().expect("temp dir") }).await;
}

fn named(server: &str) -> PostgresStoreOptions {
    PostgresStoreOptions { advertise: server.into(), ..PostgresStoreOptions::default() }
}

/// Two stores on one database, as two servers would be: exactly one appends, the other names
/// it and follows its appends; when the writer's process goes, the other takes over; and a
/// writer whose fencing token is stale appends nothing, whatever it believes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_writer_at_a_time_on_a_shared_database() {
    let cluster = TestCluster::start();
    let url = cluster.create_database("shared");
    let a = Arc::new(PostgresStore::connect(&url, named("server-a")).await.expect("connect"));
    let b = Arc::new(PostgresStore::connect(&url, named("server-b")).await.expect("connect"));
    let mut watching = b.subscribe_to_all(None).await.expect("subscribe");
    for n in 0..20u32 {
        a.append("shared", ExpectedRevision::Any, vec![test_event(40, n)]).await.expect("a is the writer");
    }
    match b.append("shared", ExpectedRevision::Any, vec![test_event(41, 0)]).await {
        Err(StoreError::Unavailable { reason }) => {
            assert!(reason.contains("server-a"), "the answer names the writer: {reason}")
        }
        other => panic!("a second writer was let in: {other:?}"),
    }
    for n in 0..20u32 {
        let seen = tokio::time::timeout(std::time::Duration::from_secs(10), watching.next())
            .await
            .expect("the writer's appends reach the other server")
            .expect("event");
        assert_eq!(seen.event_id, test_event(40, n).event_id);
        assert_eq!(seen.position, LogPosition(n as u64));
    }
    // The writer's process goes (its store closes, its connections with it): the other server
    // takes over at its next append.
    a.close().await;
    drop(a);
    let took_over = std::time::Instant::now();
    let result = loop {
        match b.append("shared", ExpectedRevision::Any, vec![test_event(41, 0)]).await {
            Ok(result) => break result,
            Err(StoreError::Unavailable { .. }) if took_over.elapsed() < std::time::Duration::from_secs(10) => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await
            }
            other => panic!("b did not take over: {other:?}"),
        }
    };
    assert_eq!(result.first_position, LogPosition(20), "the log goes on densely under the new writer");
    // A fencing token raised behind the writer's back (as a takeover would) stops it at once.
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
        .execute("UPDATE klero_log_head SET writer_epoch = writer_epoch + 1, writer = 'server-c'", &[])
        .await
        .expect("raise");
    match b.append("shared", ExpectedRevision::Any, vec![test_event(41, 1)]).await {
        Err(StoreError::Unavailable { reason }) => assert!(reason.contains("fenced"), "{reason}"),
        other => panic!("a fenced writer appended: {other:?}"),
    }
    assert_eq!(b.read_all(LogPosition::START, 100).await.expect("read").len(), 21, "the fenced append wrote nothing");
}

/// An acknowledged append survives the database being killed (`pg_ctl stop -m immediate`, a
/// crash) and restarted: PostgreSQL synced it before the store acknowledged it. The same store
/// then connects again by itself, and an append retried with the same bytes lands once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_appends_survive_a_crash_of_the_database() {
    let cluster = TestCluster::start();
    let url = cluster.create_database("crash");
    let store = PostgresStore::connect(&url, PostgresStoreOptions::default()).await.expect("connect");
    let mut acknowledged = Vec::new();
    for n in 0..50u32 {
        acknowledged
            .push(store.append("durable", ExpectedRevision::Any, vec![test_event(50, n)]).await.expect("append"));
    }
    cluster.kill();
    assert!(
        store.append("durable", ExpectedRevision::Any, vec![test_event(50, 99)]).await.is_err(),
        "with the database down an append fails; it is never acknowledged"
    );
    cluster.restart();
    let events = store.read_all(LogPosition::START, 1_000).await.expect("the store's readers connect again");
    let ids: Vec<_> = events.iter().map(|e| e.event_id).collect();
    for n in 0..50u32 {
        assert!(ids.contains(&test_event(50, n).event_id), "acknowledged event {n} is there after the crash");
    }
    assert_eq!(events.len(), acknowledged.len(), "nothing unacknowledged appeared");
    // The writer connects again on the next append; a client retries Unavailable with the
    // same bytes, twice here, and the event lands once.
    let retried = loop {
        match store.append("durable", ExpectedRevision::Any, vec![test_event(50, 99)]).await {
            Ok(result) => break result,
            Err(StoreError::Unavailable { .. }) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            Err(other) => panic!("unexpected {other:?}"),
        }
    };
    let again = store.append("durable", ExpectedRevision::Any, vec![test_event(50, 99)]).await.expect("retry");
    assert_eq!(again, retried, "a retry returns the original result");
    assert_eq!(store.read_all(LogPosition::START, 1_000).await.expect("read").len(), 51);
}

/// Other servers learn of an append from its commit's notification, not from the poll: with the
/// poll an hour apart, another store's subscription still sees the append at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_reach_other_servers_by_notification() {
    let cluster = TestCluster::start();
    let url = cluster.create_database("notify");
    let slow_poll = || PostgresStoreOptions { poll_interval: std::time::Duration::from_secs(3_600), ..named("quiet") };
    let writer = PostgresStore::connect(&url, slow_poll()).await.expect("connect");
    let reader = PostgresStore::connect(&url, slow_poll()).await.expect("connect");
    let mut subscription = reader.subscribe_to_all(None).await.expect("subscribe");
    let mut grown = reader.committed_events_watch().expect("a watch");
    // Let the reader's listening connection start.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for n in 0..3u32 {
        let started = std::time::Instant::now();
        writer.append("notified", ExpectedRevision::Any, vec![test_event(60, n)]).await.expect("append");
        let seen = tokio::time::timeout(std::time::Duration::from_secs(5), subscription.next())
            .await
            .expect("the other store's subscription sees the append without waiting for its poll")
            .expect("event");
        assert_eq!(seen.event_id, test_event(60, n).event_id);
        tokio::time::timeout(std::time::Duration::from_secs(5), grown.wait_for(|size| *size > u64::from(n)))
            .await
            .expect("the other store's watch moves on the notification")
            .expect("watch");
        println!("append {n} reached the other store in {:?}", started.elapsed());
    }
}

/// Two servers share the snapshot row: one whose fold lags (a reader's, on its clean stop)
/// cannot replace a snapshot of a larger tree, which would send the next start further back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_of_a_smaller_tree_never_replaces_a_larger_one() {
    let cluster = TestCluster::start();
    let url = cluster.create_database("snapshots");
    let writer = PostgresStore::connect(&url, named("writer")).await.expect("connect");
    let reader = PostgresStore::connect(&url, named("reader")).await.expect("connect");
    writer.save_snapshot(150_000, b"the writer's".to_vec()).await.expect("save");
    reader.save_snapshot(90_000, b"the reader's, older".to_vec()).await.expect("save");
    assert_eq!(reader.load_snapshot().await.expect("load").as_deref(), Some(&b"the writer's"[..]));
    reader.save_snapshot(150_001, b"newer".to_vec()).await.expect("save");
    assert_eq!(writer.load_snapshot().await.expect("load").as_deref(), Some(&b"newer"[..]));
}
