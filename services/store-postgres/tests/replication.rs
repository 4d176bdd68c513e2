//! The tests' three-node cluster, set up as deploy/postgres/three-nodes.sh sets it up: the
//! standbys stream through physical replication slots. A standby that was away while the
//! primary wrote, switched WAL files and checkpointed catches up when it returns (without a
//! slot the primary would have removed the WAL it needs, and left it behind for good), and a
//! synchronous commit that only it can acknowledge completes.

use klero_store_postgres::test_cluster::TestCluster;
use std::time::{Duration, Instant};

fn wait_until(what: &str, mut holds: impl FnMut() -> bool) {
    let started = Instant::now();
    while !holds() {
        assert!(started.elapsed() < Duration::from_secs(90), "{what} did not happen within 90 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn standbys_survive_a_wal_switch_and_a_checkpoint() {
    let primary = TestCluster::start();
    primary.create_database("klero");
    let s1 = TestCluster::standby_of(&primary, "s1");
    let s2 = TestCluster::standby_of(&primary, "s2");
    // Little WAL kept beyond the slots' needs, so that old segments go soon.
    for setting in [
        "ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (s1, s2)'",
        "ALTER SYSTEM SET min_wal_size = '32MB'",
        "ALTER SYSTEM SET max_wal_size = '64MB'",
        "ALTER SYSTEM SET wal_keep_size = 0",
        "SELECT pg_reload_conf()",
        "CREATE TABLE filler (n int, pad text)",
    ] {
        primary.psql("klero", setting);
    }
    let slots = primary.psql("klero", "SELECT string_agg(slot_name, ',' ORDER BY slot_name) FROM pg_replication_slots");
    assert_eq!(slots, "s1,s2", "each standby has its slot");

    // s2 is away while the primary writes about 100 MB of WAL, switching files and
    // checkpointing after each part.
    s2.stop();
    for _ in 0..8 {
        primary.psql("klero", "INSERT INTO filler SELECT g, repeat('x', 500) FROM generate_series(1, 20000) g");
        primary.psql("klero", "SELECT pg_switch_wal()");
        primary.psql("klero", "CHECKPOINT");
    }
    let kept = primary.psql("klero", "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 's2'");
    assert!(kept == "reserved" || kept == "extended", "the primary kept s2's WAL: {kept}");

    // s2 returns and catches up with everything the primary wrote.
    s2.restart();
    let target = primary.psql("klero", "SELECT pg_current_wal_lsn()");
    wait_until("s2 replaying up to the primary's position", || {
        s2.psql("klero", &format!("SELECT coalesce(pg_last_wal_replay_lsn() >= '{target}'::pg_lsn, false)")) == "t"
    });
    wait_until("both standbys streaming", || {
        primary.psql("klero", "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == "2"
    });

    // With s1 stopped, a synchronous commit needs s2: it completes.
    s1.stop();
    let (done, finished) = std::sync::mpsc::channel();
    let completed = std::thread::scope(|scope| {
        let commit = scope.spawn(|| {
            primary.psql("klero", "INSERT INTO filler VALUES (0, 'acknowledged by s2')");
            let _ = done.send(());
        });
        let completed = finished.recv_timeout(Duration::from_secs(60)).is_ok();
        if !completed {
            // Release the commit that waits for ever, so that the test fails rather than hangs.
            primary.kill();
        }
        let _ = commit.join();
        completed
    });
    assert!(completed, "a synchronous commit that s2 alone can acknowledge completes");
    assert_eq!(s2.psql("klero", "SELECT count(*) FROM filler WHERE n = 0"), "1");
}

/// A new server whose first port is taken (here by this test's own listener) starts on another:
/// a parallel test can bind a port between `free_port` and PostgreSQL's own bind, which once
/// failed a CI run with "pg_ctl: could not start server".
#[test]
fn a_server_whose_port_is_taken_starts_on_another() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("its address").port();
    let cluster = TestCluster::try_start_from_port(port).expect("a server on another port");
    assert_ne!(cluster.port, port);
    assert!(std::net::TcpStream::connect(("127.0.0.1", cluster.port)).is_ok(), "it listens on its new port");
    drop(taken);
}
