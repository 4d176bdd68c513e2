//! A real PostgreSQL server for tests and benchmarks: `initdb` and `pg_ctl` in a temporary
//! directory, listening on a loopback port, stopped when dropped. PostgreSQL refuses to run as
//! root, so as root (CI) it runs as the `postgres` system user, which Debian's package creates.
//! If no PostgreSQL is installed, [`TestCluster::start`] fails with how to install one: a
//! test that needs it never passes without it.
//!
//! The server keeps PostgreSQL's durable defaults (`fsync`, `synchronous_commit`, full page
//! writes): tests and benchmarks measure the store as it would run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Ports a new server tries before giving up.
const PORT_ATTEMPTS: usize = 5;
/// What PostgreSQL logs when its port is taken.
const PORT_TAKEN: &str = "could not create any TCP/IP sockets";
/// The end of the server's log a failed start reports, at most: a restart's log holds
/// everything the test did before.
const LOG_TAIL_MAX: usize = 8 * 1024;

/// The most WAL a primary keeps for its replication slots (`max_slot_wal_keep_size`).
pub const SLOT_WAL_KEPT_MAX: &str = "1GB";

/// A running PostgreSQL server in a temporary directory.
#[derive(Debug)]
pub struct TestCluster {
    directory: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    as_postgres_user: bool,
}

/// Where Debian installs the server's programs (`/usr/lib/postgresql/<version>/bin`), else
/// `PATH`.
pub fn postgres_bin() -> Result<PathBuf, String> {
    let hint = "PostgreSQL's server is not installed: run tests/run (it installs Debian's postgresql), \
                or apt-get install postgresql";
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").exists())
            .collect();
        versions.sort();
        if let Some(newest) = versions.pop() {
            return Ok(newest);
        }
    }
    let found = Command::new("sh").args(["-c", "command -v initdb"]).output().map_err(|e| format!("{hint} ({e})"))?;
    let path = String::from_utf8_lossy(&found.stdout).trim().to_string();
    if path.is_empty() {
        return Err(hint.to_string());
    }
    Ok(Path::new(&path).parent().map(Path::to_path_buf).unwrap_or_default())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(54_329)
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

impl TestCluster {
    /// Starts a server; panics with how to install PostgreSQL if it is missing.
    pub fn start() -> TestCluster {
        TestCluster::try_start().unwrap_or_else(|error| panic!("{error}"))
    }

    pub fn try_start() -> Result<TestCluster, String> {
        TestCluster::try_start_from_port(free_port())
    }

    /// [`TestCluster::try_start`], trying `port` first: the harness's own test gives one that
    /// is taken.
    pub fn try_start_from_port(port: u16) -> Result<TestCluster, String> {
        let bin = postgres_bin()?;
        let as_postgres_user = is_root();
        let directory = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
        let data = directory.path().join("data");
        if as_postgres_user {
            let chown = Command::new("chown")
                .args(["-R", "postgres:postgres", &directory.path().display().to_string()])
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !chown.success() {
                return Err("cannot give the temporary directory to the postgres user (does it exist?)".into());
            }
        }
        let mut cluster = TestCluster { directory, bin, port, as_postgres_user };
        cluster.run(
            "initdb",
            &["-D", &data.display().to_string(), "-U", "klero", "--auth=trust", "--no-instructions", "-E", "UTF8"],
        )?;
        cluster.start_on_a_free_port()?;
        Ok(cluster)
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path).args(args);
            command
        } else {
            let mut command = Command::new(path);
            command.args(args);
            command
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let output = self
            .command(program, args)
            .current_dir(self.directory.path())
            .output()
            .map_err(|e| format!("{program}: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "{program} failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(())
    }

    /// Starts a new server, on another free port each time the last one was taken.
    /// [`free_port`] only finds a port that was free a moment ago: a parallel test's server or
    /// client may bind it before PostgreSQL does, and the postmaster then exits at once (seen
    /// in CI as "pg_ctl: could not start server").
    fn start_on_a_free_port(&mut self) -> Result<(), String> {
        let mut attempt = 1;
        loop {
            match self.start_server() {
                Err(error) if attempt < PORT_ATTEMPTS && error.contains(PORT_TAKEN) => {
                    attempt += 1;
                    self.port = free_port();
                }
                started => return started,
            }
        }
    }

    /// Starts the server on its port; on failure, the error carries the server's log.
    fn start_server(&self) -> Result<(), String> {
        let data = self.directory.path().join("data").display().to_string();
        let log = self.directory.path().join("server.log").display().to_string();
        // Standbys stream through replication slots, so the primary keeps the WAL a standby
        // still needs; bounded, so that a standby gone for good cannot fill the disk.
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200 -c max_slot_wal_keep_size={}",
            self.port,
            self.directory.path().display(),
            SLOT_WAL_KEPT_MAX
        );
        if let Err(error) = self.run("pg_ctl", &["-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start"]) {
            let server_log = std::fs::read(&log).unwrap_or_default();
            let tail = String::from_utf8_lossy(&server_log[server_log.len().saturating_sub(LOG_TAIL_MAX)..]);
            return Err(format!("{error}\nserver log ({log}, its last {LOG_TAIL_MAX} bytes at most):\n{tail}"));
        }
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                return Err(format!("PostgreSQL did not listen on {} within 30 s", self.port));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// The server's data directory: every file it keeps (tables, WAL, configuration).
    pub fn data_directory(&self) -> PathBuf {
        self.directory.path().join("data")
    }

    /// A connection URL for `database`, which [`TestCluster::create_database`] made.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://klero@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.run("createdb", &["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "klero", name])
            .unwrap_or_else(|error| panic!("{error}"));
        self.url(name)
    }

    /// A streaming standby of `primary`, named `name` (its `application_name`, which
    /// `synchronous_standby_names` refers to, and its physical replication slot's name):
    /// `pg_basebackup -R -C -S name` from the primary, then started on a port of its own.
    pub fn standby_of(primary: &TestCluster, name: &str) -> TestCluster {
        TestCluster::try_standby_of(primary, name).unwrap_or_else(|error| panic!("{error}"))
    }

    fn try_standby_of(primary: &TestCluster, name: &str) -> Result<TestCluster, String> {
        let directory = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
        if primary.as_postgres_user {
            Command::new("chown")
                .args(["-R", "postgres:postgres", &directory.path().display().to_string()])
                .status()
                .map_err(|e| format!("chown: {e}"))?;
        }
        let mut standby = TestCluster {
            directory,
            bin: primary.bin.clone(),
            port: free_port(),
            as_postgres_user: primary.as_postgres_user,
        };
        let data = standby.directory.path().join("data");
        standby.run(
            "pg_basebackup",
            &["-h", "127.0.0.1", "-p", &primary.port.to_string(), "-U", "klero", "-D", &data.display().to_string()]
                .into_iter()
                .chain(["-R", "-X", "stream", "-c", "fast", "-C", "-S", name])
                .collect::<Vec<_>>(),
        )?;
        // Name the standby to the primary; later lines of the file win.
        let conninfo =
            format!("\nprimary_conninfo = 'host=127.0.0.1 port={} user=klero application_name={name}'\n", primary.port);
        let auto = data.join("postgresql.auto.conf");
        let mut text = std::fs::read_to_string(&auto).map_err(|e| format!("reading {}: {e}", auto.display()))?;
        text.push_str(&conninfo);
        std::fs::write(&auto, text).map_err(|e| format!("writing {}: {e}", auto.display()))?;
        standby.start_on_a_free_port()?;
        Ok(standby)
    }

    /// Promotes this standby to a primary (`pg_ctl promote`), and waits until it is one.
    pub fn promote(&self) {
        let data = self.directory.path().join("data").display().to_string();
        self.run("pg_ctl", &["-D", &data, "-w", "-t", "60", "promote"]).unwrap_or_else(|error| panic!("{error}"));
    }

    /// Kills the server's postmaster with SIGKILL, as a lost machine would leave it: no
    /// shutdown, no last flush. Its backends notice and exit.
    pub fn kill_hard(&self) {
        let pid_file = self.directory.path().join("data/postmaster.pid");
        let pid = std::fs::read_to_string(&pid_file).ok().and_then(|text| text.lines().next().map(str::to_string));
        if let Some(pid) = pid {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
        // Its backends exit once they see the postmaster gone; wait for the port to close.
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            && started.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`: as a crash would).
    pub fn kill(&self) {
        let data = self.directory.path().join("data").display().to_string();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "stop"]);
    }

    /// Stops the server cleanly (`pg_ctl stop -m fast`), as an operator would for maintenance.
    pub fn stop(&self) {
        let data = self.directory.path().join("data").display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]).unwrap_or_else(|error| panic!("{error}"));
    }

    /// Runs one SQL command with `psql` as the `klero` user on `database`, and returns what it
    /// prints (unaligned, tuples only).
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let output = self
            .command("psql", &["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "klero", "-d", database])
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .current_dir(self.directory.path())
            .output()
            .unwrap_or_else(|e| panic!("psql: {e}"));
        assert!(output.status.success(), "psql {sql:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// Starts the server again on the same data and port (crash recovery replays the WAL).
    pub fn restart(&self) {
        self.start_server().unwrap_or_else(|error| panic!("{error}"));
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        self.kill();
    }
}
