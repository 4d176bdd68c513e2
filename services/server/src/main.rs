//! `klero`: the Kleroterion command-line tool. This file only parses arguments; the work lives
//! in the library (`demo`, `keys`, …) and in `klero-wiring`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use klero::{audit, demo, keys, privacy, residents, select, transparency};
use klero_wiring as wiring;
use std::net::SocketAddr;
use std::path::PathBuf;

/// mimalloc rather than glibc's malloc: see the workspace Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(name = "klero", version, about = "Kleroterion: an accountable record of citizens' assemblies")]
struct Cli {
    /// The CA (PEM) that signed an https:// server's certificate, for the commands that
    /// connect to one (export, verify --server, view, receipt, trace, demo --server).
    #[arg(long, global = true)]
    ca: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// `klero serve --verify-on-open`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum VerifyOnOpen {
    Snapshot,
    Full,
}

// Parsed once at start: the size of `serve`'s options costs nothing.
#[allow(clippy::large_enum_variant)]
/// What `klero select` draws besides a panel.
#[derive(Subcommand, Debug)]
enum SelectCommand {
    /// Draws the addresses to invite from an address list (docs/FORMAT.md §9.1). Without
    /// --seed, writes the plan to sign as LettersPlanned; with it, also the invited addresses.
    Letters {
        /// The address list: a CSV file, a header, then one address a row.
        #[arg(long)]
        addresses: PathBuf,
        /// Letters to send.
        #[arg(long)]
        count: u32,
        /// The column that names each address's area: letters are then drawn area by area.
        #[arg(long)]
        by_area: Option<String>,
        /// Letters per area (a CSV file `area,letters`) instead of in proportion to addresses.
        #[arg(long, requires = "by_area")]
        area_letters: Option<PathBuf>,
        /// The revealed seed, in hex (16 to 64 bytes).
        #[arg(long)]
        seed: Option<String>,
        /// The council's salt for letter commitments, 64 hex digits: letters.csv then gives
        /// each invited address the commitment its volunteers carry in the pool.
        #[arg(long, requires = "seed")]
        salt: Option<String>,
        /// Where to write letter-plan.json and, with --seed, letters.csv.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serves the gRPC API on the embedded store.
    Serve {
        /// Where the store and the latest checkpoint live (with --store, only what the server
        /// derives from the log: the Merkle tree's leaf file).
        #[arg(long, default_value = "./klero-data")]
        data_dir: PathBuf,
        /// Keep the log in this PostgreSQL database instead of the embedded store, e.g.
        /// `postgres://klero@db1,db2/klero?target_session_attrs=read-write`.
        #[arg(long)]
        store: Option<String>,
        /// With --store: the directory of key-encryption keys, outside the database, under which
        /// data keys and personal documents are kept there, so that an erasure is complete in
        /// every copy once the key is rotated (FORMAT.md §14.3). Every server of one database
        /// needs the same directory (a mounted secret). Default: DATA_DIR/key-encryption-keys.
        #[arg(long)]
        key_encryption_keys: Option<PathBuf>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:50051")]
        listen: SocketAddr,
        /// Also serve the public pages (HTML, open data, feeds and proofs) on this address,
        /// e.g. 127.0.0.1:8080.
        #[arg(long)]
        http: Option<SocketAddr>,
        /// The trust root's public key file (64 hex digits), e.g. `council.key.pub`.
        #[arg(long)]
        trust_root: PathBuf,
        /// The log's key file, which signs checkpoints and names the log (`klero keygen
        /// --log-name`).
        #[arg(long)]
        log_key: PathBuf,
        /// The log's name (checkpoint origin), only for a plain key file that does not hold
        /// it; given with a log key file, it must match the file's name.
        #[arg(long)]
        log_name: Option<String>,
        /// Log format: json (structured, the default) or text.
        #[arg(long, default_value = "json")]
        log_format: String,
        /// How much of the log to verify on start: `snapshot` takes up the latest valid
        /// snapshot, hashes every event and checks every chain, and verifies in full only what
        /// came after; `full` verifies every signature and folds every event again.
        #[arg(long, value_enum, default_value_t = VerifyOnOpen::Snapshot)]
        verify_on_open: VerifyOnOpen,
        /// A witness to ask for cosignatures on every checkpoint, as `URL,VKEY` (its
        /// submission prefix and its verifier key); repeat for each witness.
        #[arg(long = "witness")]
        witnesses: Vec<String>,
        /// How many of the --witness cosignatures a visitor's browser requires on the
        /// checkpoint a page is checked against (the pages state it; default: a majority).
        #[arg(long, requires = "witnesses")]
        witness_quorum: Option<u64>,
        /// Serve gRPC and the pages over TLS with this certificate chain (PEM), e.g. `cert.pem`.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The certificate's private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Require client certificates issued by this CA (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_client_ca: Option<PathBuf>,
        /// With --http: the intake key file (`klero keygen`), which signs what residents send
        /// through the pages' plain form ("received from the web form"). Grant its public key
        /// the intake role; without this option the pages take no form submissions.
        #[arg(long, requires = "http")]
        intake_key: Option<PathBuf>,
        /// With --http: tell residents who left an email what became of their submissions,
        /// through this SMTP relay: `smtp://user:password@host:587?tls=required` (STARTTLS),
        /// `smtps://user:password@host` (TLS), or `smtp://host:25` (plain, a local relay).
        #[arg(long, requires = "http", conflicts_with = "notify_print")]
        smtp: Option<String>,
        /// With --smtp: trust this CA (PEM) for the relay's certificate instead of the
        /// system's roots, and require TLS.
        #[arg(long, requires = "smtp")]
        smtp_ca: Option<PathBuf>,
        /// With --http: print the notifications to standard output instead of sending them.
        #[arg(long, requires = "http")]
        notify_print: bool,
        /// The notifications' sender.
        #[arg(long, default_value = "Kleroterion <noreply@localhost>")]
        notify_from: String,
        /// The languages each notification is written in, in order: `en`, `cy`, or both
        /// (`cy,en`, as councils in Wales write).
        #[arg(long, default_value = "en")]
        notify_languages: String,
        /// Where residents reach the pages, for the links in notifications (default: the
        /// --http address).
        #[arg(long)]
        public_url: Option<String>,
    },
    /// Drives a complete assembly over gRPC and checks its proofs.
    Demo {
        /// Keep the embedded server up after the demonstration, with the public pages on this
        /// address (e.g. 127.0.0.1:8080), until Ctrl-C.
        #[arg(long, conflicts_with = "server")]
        http: Option<SocketAddr>,
        /// Use this running server instead of starting an embedded one.
        #[arg(long, requires = "trust_root_key")]
        server: Option<String>,
        /// Start the server on this PostgreSQL database (an empty one) instead of the embedded
        /// store.
        #[arg(long, conflicts_with = "server")]
        store: Option<String>,
        /// With --server: the trust root's secret key file, to grant the demo's roles.
        #[arg(long)]
        trust_root_key: Option<PathBuf>,
        /// Send the resident's notifications through this SMTP relay (as `serve --smtp`)
        /// instead of printing them.
        #[arg(long, conflicts_with = "server")]
        smtp: Option<String>,
    },
    /// Writes everything an auditor needs (events, a checkpoint, view digests) to a file.
    Export {
        /// The server to export from.
        #[arg(long)]
        server: String,
        /// The export file to write.
        #[arg(long)]
        out: PathBuf,
        /// Also write every document an event commits to here, one file per document named
        /// by its SHA-256 in hex.
        #[arg(long)]
        documents: Option<PathBuf>,
        /// Also write the text and salt of every sealed field the server can still open
        /// (docs/FORMAT.md §14.5). Personal data: only for an auditor entitled to see it.
        #[arg(long)]
        openings: Option<PathBuf>,
    },
    /// Verifies an export file, or a server's log; exits 0 only if everything holds.
    Verify {
        /// The export file (omit with --server).
        #[arg(required_unless_present = "server")]
        file: Option<PathBuf>,
        /// Verify this server's log and its consistency with the last checkpoint seen.
        #[arg(long, conflicts_with = "file")]
        server: Option<String>,
        /// Where --server remembers the last checkpoint it verified.
        #[arg(long, default_value = "klero-verify-state")]
        state: PathBuf,
        /// The log's verifier key the auditor trusts: the export must name exactly this key.
        #[arg(long)]
        log_key: Option<String>,
        /// The trust root's public key (hex) the auditor trusts: the export must name it.
        #[arg(long)]
        trust_root: Option<String>,
        /// Print the report as one JSON object, whatever the outcome.
        #[arg(long)]
        json: bool,
        /// For debugging a log only: do not fail on events no signed checkpoint covers. They
        /// are still counted, and the result never says that everything holds.
        #[arg(long)]
        allow_unanchored: bool,
        /// A witness the auditor trusts (its verifier key); repeat for each. Every checkpoint
        /// must then carry valid cosignatures from at least --witness-quorum of them.
        #[arg(long = "witness")]
        witnesses: Vec<String>,
        /// How many of the --witness keys must have cosigned each checkpoint (default 1).
        #[arg(long)]
        witness_quorum: Option<usize>,
        /// With an export file: check the documents in this directory (`klero export
        /// --documents`): each hashes to its name, and an event commits to it.
        #[arg(long)]
        documents: Option<PathBuf>,
        /// With an export file: check the openings in this file (`klero export --openings`)
        /// against the commitments their events signed.
        #[arg(long)]
        openings: Option<PathBuf>,
        /// With an export file: the council's address list of a letter lottery (FORMAT.md
        /// §9.1). Checks that a plan commits to it, that its seed invites the addresses it
        /// does, and that every pool member's letter was one of them. Needs --letters-salt.
        #[arg(long, requires = "letters_salt", conflicts_with = "server")]
        letters: Option<PathBuf>,
        /// The council's salt for letter commitments, 64 hex digits.
        #[arg(long, requires = "letters")]
        letters_salt: Option<String>,
        /// With --witness: how many minutes an answer's log time and the time its witnesses
        /// attest may disagree before the report names it (default 15; FORMAT.md §13.6).
        #[arg(long)]
        time_tolerance_minutes: Option<u64>,
        /// The file is this council's slice (`GET /api/v1/slices/council/ID`, FORMAT.md §15):
        /// its record alone, proven whole against the signed checkpoint and its stream heads.
        #[arg(long, conflicts_with = "server")]
        council: Option<String>,
    },
    /// Erases personal content: signs a `ContentErased` with the data protection officer's
    /// key; the server then destroys the content's key (docs/FORMAT.md §14).
    Erase {
        /// The server.
        #[arg(long)]
        server: String,
        /// The data protection officer's secret key file (`klero keygen`).
        #[arg(long)]
        key: PathBuf,
        /// The assembly id.
        #[arg(long)]
        assembly: String,
        /// The event whose personal content to erase (its event hash, hex).
        #[arg(long, required_unless_present = "overdue", conflicts_with = "overdue")]
        event: Option<String>,
        /// Erase every item whose retention period has ended (`klero overdue`).
        #[arg(long)]
        overdue: bool,
        /// The legal basis, e.g. "UK GDPR Art. 17(1)(a): the data subject's request";
        /// required with --event. Never personal data itself.
        #[arg(long)]
        legal_basis: Option<String>,
    },
    /// Lists the personal content whose retention period has ended and that is not erased.
    Overdue {
        /// The server.
        #[arg(long)]
        server: String,
        /// The assembly id.
        #[arg(long)]
        assembly: String,
    },
    /// Writes a participant's receipt for an event: the event, its inclusion proof and a
    /// signed checkpoint (an offline proof bundle).
    Receipt {
        /// The server to ask.
        #[arg(long)]
        server: String,
        /// The event's log index (`AppendedEvent.log_index`).
        #[arg(long)]
        log_index: u64,
        /// Where to write the receipt.
        #[arg(long)]
        out: PathBuf,
    },
    /// Checks a receipt against the server and follows its event to the council's answer.
    Trace {
        /// The server to ask.
        #[arg(long)]
        server: String,
        /// The receipt (`klero receipt`).
        #[arg(long)]
        receipt: PathBuf,
        /// The log's verifier key the participant trusts (else the server's).
        #[arg(long)]
        log_key: Option<String>,
    },
    /// Prints one read view of an assembly, as canonical JSON, with its digest on stderr.
    View {
        /// assembly-overview, panel, deliberation-record, recommendations, accountability,
        /// input-trace or response-trace.
        name: String,
        /// The server to ask.
        #[arg(long)]
        server: String,
        /// The assembly id (optional when the server has only one).
        #[arg(long)]
        assembly: Option<String>,
    },
    /// Computes the fair (LEXIMIN) lottery for a pool and, with --seed, draws the panel;
    /// `klero select letters` draws the addresses to invite.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Select {
        #[command(subcommand)]
        letters: Option<SelectCommand>,
        /// Quotas: feature,value,min,max.
        #[arg(long, required = true)]
        features: Option<PathBuf>,
        /// The pool: id then one column per feature.
        #[arg(long, required = true)]
        people: Option<PathBuf>,
        /// Seats on the panel.
        #[arg(long, required = true)]
        panel_size: Option<u32>,
        /// The revealed seed, in hex (16 to 64 bytes), to draw the panel.
        #[arg(long)]
        seed: Option<String>,
        /// Where to write distribution.json, probabilities.csv, panel.csv and reserves.csv.
        #[arg(long, required = true)]
        out: Option<PathBuf>,
        /// Stop refining the leximin lottery after this long; a maximin stage not finished by
        /// then is an error.
        #[arg(long, default_value_t = 110)]
        time_limit_seconds: u64,
        /// Columns of the people file that say where each volunteer lives, comma-separated
        /// (e.g. address_line_1,postcode): no panel seats two people whose cells agree.
        #[arg(long, value_delimiter = ',')]
        households: Vec<String>,
        /// When no panel can meet the quotas, the quotas the proposed relaxation must keep as
        /// they are, comma-separated feature=value (e.g. gender=female,age=16-24).
        #[arg(long, value_delimiter = ',')]
        keep_quotas: Vec<String>,
        /// What the lottery optimises: leximin (the lowest chance, then the next; the default)
        /// or nash (the product of all chances). See docs/FORMAT.md §9.3.
        #[arg(long, default_value = "leximin")]
        objective: klero_selection::Objective,
        /// With --seed, also draw this many reserves (docs/FORMAT.md §9, step 4), in order, to
        /// reserves.csv; at most 1,000.
        #[arg(long, default_value_t = 0)]
        reserves: u32,
    },
    /// Creates an Ed25519 key: the secret key file and `<file>.pub`.
    Keygen {
        /// Where to write the secret key. Refuses to overwrite.
        #[arg(long)]
        out: PathBuf,
        /// For a log key: the log's name (checkpoint origin), kept in the key file with the
        /// key; the C2SP verifier key is printed and written to `<file>.vkey`.
        #[arg(long, conflicts_with = "witness_name")]
        log_name: Option<String>,
        /// For a witness key: the witness's name, kept in the key file; the cosignature
        /// verifier key (C2SP tlog-cosignature) is written to `<file>.vkey`.
        #[arg(long)]
        witness_name: Option<String>,
    },
    /// Serves a C2SP tlog-witness: cosigns the checkpoints of the logs it follows, each only
    /// when consistent with the last it cosigned.
    Witness {
        /// The witness key file (`klero keygen --witness-name`).
        #[arg(long)]
        key: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
        /// Where the witness keeps the latest checkpoint it cosigned for each log.
        #[arg(long, default_value = "./klero-witness")]
        state_dir: PathBuf,
        /// The verifier key of a log to follow; repeat for each log.
        #[arg(long = "log")]
        logs: Vec<String>,
    },
    /// Follows a log over its tiles and raises the alarm (exit 2) on anything that fails.
    Monitor(transparency::MonitorArgs),
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(ca) = &cli.ca {
        let ca_pem = std::fs::read(ca).with_context(|| format!("reading --ca {}", ca.display()))?;
        // The monitor's and the cosigner's HTTP requests trust the same CA as the gRPC client.
        klero_transparency::http_client::trust_ca_for_https(&ca_pem)
            .map_err(|reason| anyhow::anyhow!("--ca {}: {reason}", ca.display()))?;
        klero_client::trust_for_https(klero_client::ClientTls { ca_pem, identity: None });
    }
    let runtime = wiring::runtime;
    match cli.command {
        Command::Serve {
            data_dir,
            store,
            key_encryption_keys,
            listen,
            http,
            trust_root,
            log_key,
            log_name,
            log_format,
            verify_on_open,
            witnesses,
            witness_quorum,
            tls_cert,
            tls_key,
            tls_client_ca,
            intake_key,
            smtp,
            smtp_ca,
            notify_print,
            notify_from,
            notify_languages,
            public_url,
        } => {
            init_logging(&log_format);
            let notify = match (&smtp, notify_print, http) {
                (None, false, _) | (_, _, None) => None,
                (smtp, _, Some(address)) => {
                    let public_url = public_url.unwrap_or_else(|| format!("http://{address}"));
                    let ca_pem = smtp_ca
                        .as_deref()
                        .map(|path| {
                            std::fs::read(path).with_context(|| format!("reading --smtp-ca {}", path.display()))
                        })
                        .transpose()?;
                    let relay = residents::Relay { url: smtp.clone(), ca_pem };
                    let mut config = residents::notify_config(&relay, &notify_from, public_url)?;
                    config.languages = residents::notify_languages(&notify_languages)?;
                    Some(config)
                }
            };
            let config = wiring::ServerConfig {
                postgres: store,
                notify,
                key_encryption_keys,
                open: match verify_on_open {
                    VerifyOnOpen::Snapshot => klero_application::OpenVerification::FromSnapshot,
                    VerifyOnOpen::Full => klero_application::OpenVerification::Full,
                },
                witness_quorum: witness_quorum.unwrap_or(witnesses.len() as u64 / 2 + 1),
                witnesses: witnesses
                    .iter()
                    .map(|text| transparency::parse_witness_endpoint(text))
                    .collect::<anyhow::Result<_>>()?,
                tls: keys::read_server_tls(tls_cert.as_deref(), tls_key.as_deref(), tls_client_ca.as_deref())?,
                intake_key: intake_key.as_deref().map(keys::read_secret_key).transpose()?.map(wiring::IntakeKey),
                ..wiring::ServerConfig::new(
                    data_dir,
                    keys::read_public_key(&trust_root)?,
                    keys::read_log_key(&log_key, log_name.as_deref())?,
                )
            };
            runtime()?.block_on(async {
                let listener =
                    tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
                let http = match http {
                    Some(address) => Some(
                        tokio::net::TcpListener::bind(address).await.with_context(|| format!("binding {address}"))?,
                    ),
                    None => None,
                };
                if let Some(http) = &http {
                    println!("public pages at http://{}/", http.local_addr()?);
                }
                let shutdown = async {
                    wiring::termination_signal().await;
                    tracing::info!("shutting down: finishing in-flight requests");
                };
                let listeners = wiring::Listeners { grpc: Some(listener), http };
                let server = wiring::start(config, listeners, klero_application::system_clock(), shutdown).await?;
                server.stopped().await.map_err(|e| anyhow::anyhow!("serving: {e}"))
            })
        }
        Command::Demo { http, server, store, trust_root_key, smtp } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
                )
                .init();
            let target = match (server, trust_root_key) {
                (Some(url), Some(key)) => {
                    demo::Target::Server { url, trust_root_key: Box::new(keys::read_secret_key(&key)?) }
                }
                _ => demo::Target::Embedded { http, store, smtp },
            };
            runtime()?.block_on(demo::run(target))
        }
        Command::Keygen { out, log_name, witness_name } => {
            keys::keygen(&out, log_name.as_deref(), witness_name.as_deref())
        }
        Command::Witness { key, listen, state_dir, logs } => {
            init_logging("text");
            runtime()?.block_on(transparency::serve_witness(key, listen, state_dir, logs))
        }
        Command::Monitor(args) => {
            // Its warnings (a witness not reached, a replay's state not taken up) go to stderr.
            init_logging("text");
            let code = runtime()?.block_on(transparency::monitor(args))?;
            if code != 0 {
                std::process::exit(code);
            }
            Ok(())
        }
        Command::Select {
            letters: Some(SelectCommand::Letters { addresses, count, by_area, area_letters, seed, salt, out }),
            ..
        } => select::letters(select::LetterArgs {
            addresses: &addresses,
            count,
            area_column: by_area.as_deref(),
            area_letters: area_letters.as_deref(),
            seed_hex: seed.as_deref(),
            salt_hex: salt.as_deref(),
            out: &out,
        }),
        Command::Select {
            letters: None,
            features,
            people,
            panel_size,
            seed,
            out,
            time_limit_seconds,
            households,
            keep_quotas,
            reserves,
            objective,
        } => {
            // clap requires these when no subcommand is given.
            let missing = |name: &str| anyhow::anyhow!("klero select needs --{name}");
            select::run(select::SelectArgs {
                objective,
                reserves,
                keep_quotas: &keep_quotas,
                features: &features.ok_or_else(|| missing("features"))?,
                people: &people.ok_or_else(|| missing("people"))?,
                household_columns: &households,
                panel_size: panel_size.ok_or_else(|| missing("panel-size"))?,
                seed_hex: seed.as_deref(),
                out: &out.ok_or_else(|| missing("out"))?,
                time_limit: std::time::Duration::from_secs(time_limit_seconds),
            })
        }
        Command::Export { server, out, documents, openings } => runtime()?.block_on(async {
            audit::export_to_file(&server, &out).await?;
            if let Some(directory) = documents {
                let written = audit::export_documents(&server, &directory).await?;
                println!("exported {written} documents to {}", directory.display());
            }
            if let Some(file) = openings {
                let written = privacy::export_openings(&server, &out, &file).await?;
                println!("exported {written} openings of sealed fields to {}", file.display());
            }
            Ok(())
        }),
        Command::Erase { server, key, assembly, event, overdue, legal_basis } => {
            let target = match (event, overdue) {
                (Some(hex), false) => privacy::EraseTarget::Event(
                    klero_ledger::Hash256::from_hex(&hex).context("--event must be an event hash: 64 hex digits")?,
                ),
                _ => privacy::EraseTarget::Overdue,
            };
            runtime()?.block_on(privacy::erase(&server, &key, &assembly, target, legal_basis))
        }
        Command::Overdue { server, assembly } => runtime()?.block_on(privacy::print_overdue(&server, &assembly)),
        Command::Receipt { server, log_index, out } => {
            runtime()?.block_on(audit::write_receipt(&server, log_index, &out))
        }
        Command::Trace { server, receipt, log_key } => {
            runtime()?.block_on(audit::trace_receipt(&server, &receipt, log_key.as_deref()))
        }
        Command::View { name, server, assembly } => runtime()?.block_on(audit::print_view(&server, &name, assembly)),
        Command::Verify {
            file,
            server,
            state,
            log_key,
            trust_root,
            json,
            allow_unanchored,
            witnesses,
            witness_quorum,
            documents,
            openings,
            time_tolerance_minutes,
            council,
            letters,
            letters_salt,
        } => {
            let pins = audit::Pins {
                letters: letters.zip(letters_salt),
                log_key,
                trust_root,
                allow_unanchored,
                documents,
                openings,
                witnesses,
                witness_quorum,
                time_tolerance_minutes,
            };
            let holds = match (file, server) {
                (Some(file), _) if council.is_some() => {
                    audit::verify_council_slice(&file, council.as_deref().unwrap_or_default(), &pins, json)
                }
                (Some(file), _) => audit::verify_file(&file, &pins, json),
                (None, Some(server)) => runtime()?.block_on(audit::verify_server(&server, &state, &pins, json))?,
                (None, None) => anyhow::bail!("give an export file or --server"),
            };
            if !holds {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}
