//! Test helper for the notifications' tests (`tests/blackbox/notifications.rs`): a real server
//! with its notifier, sending through the SMTP server at the URL given, in its own process so
//! that the test can kill it. Prints `grpc <address>` and `http <address>`, then serves until
//! killed, or for 120 s at most.
//!
//! Usage: klero-test-notifier DATA_DIR SMTP_URL [RELAY_CA_PEM_FILE]

use klero_tests::{key, test_log_key};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

const RUN_SECONDS_MAX: u64 = 120;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(directory), Some(smtp)) = (args.next(), args.next()) else {
        panic!("usage: klero-test-notifier DATA_DIR SMTP_URL [RELAY_CA_PEM_FILE]");
    };
    let ca_pem = args.next().map(|path| std::fs::read(path).expect("the relay's CA"));
    // The notifier's log, on standard error, for a failing test's output.
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter("klero_notify=warn").init();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind gRPC");
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind HTTP");
        let (grpc_address, http_address) = (grpc.local_addr().expect("address"), http.local_addr().expect("address"));
        let mailer = Arc::new(klero_notify::SmtpMailer::new(&smtp, ca_pem.as_deref()).expect("SMTP URL"));
        let from = "Kleroterion test <noreply@localhost>".parse().expect("mailbox");
        let notify = klero_notify::NotifyConfig {
            retry_first: Duration::from_millis(200),
            retry_max: Duration::from_secs(1),
            ..klero_notify::NotifyConfig::new(mailer, from, format!("http://{http_address}"))
        };
        let config = klero_wiring::ServerConfig {
            notify: Some(notify),
            ..klero_wiring::ServerConfig::new(&directory, key("trust root").verifying_key().to_bytes(), test_log_key())
        };
        let listeners = klero_wiring::Listeners { grpc: Some(grpc), http: Some(http) };
        let stop = tokio::time::sleep(Duration::from_secs(RUN_SECONDS_MAX));
        let _running =
            klero_wiring::start(config, listeners, klero_application::system_clock(), stop).await.expect("start");
        let mut out = std::io::stdout().lock();
        writeln!(out, "grpc {grpc_address}\nhttp {http_address}").expect("stdout");
        out.flush().expect("stdout");
        drop(out);
        tokio::time::sleep(Duration::from_secs(RUN_SECONDS_MAX)).await;
    });
}
