//! `klero`: the Kleroterion command-line tool. This file only parses arguments; the work lives
//! in the modules it calls.

mod demo;
mod keys;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "klero", version, about = "Kleroterion: an accountable record of citizens' assemblies")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs a demonstration of the ledger on the embedded store and checks its proofs.
    Demo {
        /// Keep the data here instead of a temporary directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Creates an Ed25519 key pair: the secret seed file and the public key (printed).
    Keygen {
        /// Where to write the 32-byte secret seed, hex-encoded. Refuses to overwrite.
        #[arg(long)]
        out: PathBuf,
        /// For a log key: the log's name (origin), which prints the C2SP verifier key too.
        #[arg(long)]
        log_name: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Demo { data_dir } => {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            runtime.block_on(demo::run(data_dir))
        }
        Command::Keygen { out, log_name } => keys::keygen(&out, log_name.as_deref()),
    }
}
