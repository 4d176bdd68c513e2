//! `klero witness`, `klero monitor`, and the witness options of `klero serve`.

use anyhow::{bail, Context};
use klero_ledger::checkpoint::LogVerifierKey;
use klero_ledger::cosignature::{CosignerVerifierKey, WitnessPolicy};
use klero_transparency::{Monitor, MonitorConfig, RoundOutcome, Witness, WitnessEndpoint};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// `--witness URL,VKEY` of `klero serve`: a witness's submission prefix and its key.
pub fn parse_witness_endpoint(text: &str) -> anyhow::Result<WitnessEndpoint> {
    let (url, vkey) = text
        .split_once(',')
        .with_context(|| format!("--witness {text:?}: give the witness's URL and key as URL,VKEY"))?;
    if !url.starts_with("http://") {
        bail!("--witness {text:?}: the URL must start with http://");
    }
    let key = CosignerVerifierKey::parse_vkey(vkey).with_context(|| format!("--witness {text:?}: the key"))?;
    Ok(WitnessEndpoint { url: url.to_string(), key })
}

/// A witness policy from `--witness VKEY` (repeated) and `--witness-quorum N` (1 if not given).
pub fn witness_policy(witnesses: &[String], quorum: Option<usize>) -> anyhow::Result<Option<WitnessPolicy>> {
    if witnesses.is_empty() {
        if quorum.is_some_and(|q| q > 0) {
            bail!("--witness-quorum needs the witnesses' keys: give --witness VKEY for each");
        }
        return Ok(None);
    }
    let keys = witnesses
        .iter()
        .map(|text| CosignerVerifierKey::parse_vkey(text).with_context(|| format!("--witness {text:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(WitnessPolicy::new(keys, quorum.unwrap_or(1)).context("--witness-quorum")?))
}

/// `klero witness`: serves the tlog-witness API until SIGTERM or Ctrl-C.
pub async fn serve_witness(
    key: PathBuf,
    listen: SocketAddr,
    state_dir: PathBuf,
    logs: Vec<String>,
) -> anyhow::Result<()> {
    let key = crate::keys::read_witness_key(&key)?;
    if logs.is_empty() {
        bail!("give the logs this witness follows: --log VKEY, once per log");
    }
    let logs = logs
        .iter()
        .map(|text| LogVerifierKey::parse_vkey(text).with_context(|| format!("--log {text:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let vkey = key.verifier().to_vkey_string();
    let witness = Arc::new(Witness::open(key, logs, state_dir)?);
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    println!("witness {vkey} at http://{}/", listener.local_addr()?);
    witness.serve(listener, klero_wiring::termination_signal()).await?;
    Ok(())
}

/// What `klero monitor` takes.
#[derive(Debug, clap::Args)]
pub struct MonitorArgs {
    /// The log's tile prefix, e.g. http://127.0.0.1:8080 (`klero serve --http`).
    #[arg(long)]
    pub log: String,
    /// The log's verifier key.
    #[arg(long)]
    pub log_key: String,
    /// The trust root's public key (64 hex digits).
    #[arg(long)]
    pub trust_root: String,
    /// Where the monitor keeps what it verified, to resume there.
    #[arg(long, default_value = "klero-monitor-state")]
    pub state: PathBuf,
    /// A witness the monitor trusts (its verifier key); repeat for each.
    #[arg(long = "witness")]
    pub witnesses: Vec<String>,
    /// How many of those witnesses must have cosigned the log's checkpoint (default 1).
    #[arg(long)]
    pub witness_quorum: Option<usize>,
    /// A witness to ask for the latest checkpoint it cosigned, to compare with the log's;
    /// repeat for each.
    #[arg(long = "witness-url")]
    pub witness_urls: Vec<String>,
    /// One round, then exit (for cron).
    #[arg(long)]
    pub once: bool,
    /// Seconds between rounds.
    #[arg(long, default_value_t = 60)]
    pub interval_seconds: u64,
}

/// `klero monitor`. Returns the exit code: 0 when everything verified, 2 on an alarm, 1 when
/// the log could not be read (with `--once`; otherwise it tries again next round).
pub async fn monitor(args: MonitorArgs) -> anyhow::Result<i32> {
    let trust_root = klero_ledger::hash::from_hex(&args.trust_root)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .context("--trust-root must be 64 hex digits")?;
    let config = MonitorConfig {
        log_url: args.log,
        log_key: LogVerifierKey::parse_vkey(&args.log_key).context("--log-key")?,
        trust_root,
        witness_policy: witness_policy(&args.witnesses, args.witness_quorum)?,
        witness_urls: args.witness_urls,
        state_dir: args.state,
        timeout: Duration::from_secs(30),
    };
    let mut monitor = Monitor::open(config)?;
    loop {
        match monitor.round().await {
            Ok(RoundOutcome::Verified { tree_size, new_entries, root }) => {
                println!("ok: {tree_size} entries verified ({new_entries} new), root {root}");
                // One round a process: the next starts from what this one replayed.
                if args.once && new_entries > 0 {
                    if let Err(error) = monitor.save_replay() {
                        eprintln!("error: {error}");
                        return Ok(1);
                    }
                }
            }
            Ok(RoundOutcome::Alarm(alarm)) => {
                eprintln!("ALARM: {alarm}");
                return Ok(2);
            }
            Err(error) if args.once => {
                eprintln!("error: {error}");
                return Ok(1);
            }
            Err(error) => eprintln!("error (trying again in {} s): {error}", args.interval_seconds),
        }
        if args.once {
            return Ok(0);
        }
        tokio::time::sleep(Duration::from_secs(args.interval_seconds)).await;
    }
}
