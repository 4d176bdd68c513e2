//! The black-box test harness: a real server (the application core and its gRPC front end,
//! wired as `klero serve` wires them) on 127.0.0.1:0 over a real embedded store in a temporary
//! directory, a clock the tests can move forward, and the cast of keys an assembly needs.

use klero_application::{ApplicationConfig, Clock, Running};
use klero_catalogue::EventMessage;
use klero_client::{Author, KleroClient, SignedEvent};
use klero_ledger::checkpoint::LogSigningKey;
use klero_ledger::{Hash256, SigningKey};
use klero_proto as pb;
use klero_store_embedded::disk::Disk;
use klero_store_embedded::{EmbeddedStore, EmbeddedStoreOptions};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const DAY_MS: u64 = 86_400_000;

pub fn key(label: &str) -> SigningKey {
    SigningKey::from_bytes(&Hash256::of(label.as_bytes()).0)
}

/// A server running in this process.
#[derive(Debug)]
pub struct RunningServer {
    pub url: String,
    /// The public pages' address, when the server serves them.
    pub pages_url: Option<String>,
    /// The store, for tests that take it down under a live server.
    pub store: Arc<EmbeddedStore>,
    pub running: Running,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl RunningServer {
    /// Stops accepting, lets requests in progress finish, closes the store, and waits.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.running.stopped().await.expect("a clean stop");
    }
}

/// Starts a server on `directory` the way `klero serve` does, on 127.0.0.1:0.
pub async fn start_server(directory: &std::path::Path, trust_root: [u8; 32], clock: Clock) -> RunningServer {
    start_server_with_limits(directory, trust_root, clock, Default::default()).await
}

/// Changes to the application's defaults that a test needs.
pub type Configure = Arc<dyn Fn(&mut ApplicationConfig) + Send + Sync>;

/// [`start_server`] with limits of the test's choosing.
pub async fn start_server_with_limits(
    directory: &std::path::Path,
    trust_root: [u8; 32],
    clock: Clock,
    limits: klero_api::server::ServerLimits,
) -> RunningServer {
    start_server_configured(directory, trust_root, clock, limits, None).await
}

/// [`start_server_with_limits`], with the application configured by `configure`.
pub async fn start_server_configured(
    directory: &std::path::Path,
    trust_root: [u8; 32],
    clock: Clock,
    limits: klero_api::server::ServerLimits,
    configure: Option<Configure>,
) -> RunningServer {
    start_server_full(directory, trust_root, clock, limits, configure, None, Vec::new(), None, Disk::default()).await
}

/// A server whose store makes every file operation through `disk`: a hook there can record
/// them and fail them (storage faults).
pub async fn start_server_on_disk(directory: &std::path::Path, trust_root: [u8; 32], disk: Disk) -> RunningServer {
    let clock = klero_application::system_clock();
    start_server_full(directory, trust_root, clock, Default::default(), None, None, Vec::new(), None, disk).await
}

/// A server with the public pages beside gRPC, as `klero serve --http` runs it.
pub async fn start_server_with_pages(directory: &std::path::Path, trust_root: [u8; 32], clock: Clock) -> RunningServer {
    start_server_with_pages_at(directory, trust_root, clock, "127.0.0.1:0").await
}

/// [`start_server_with_pages`] with the pages at `address` (a restart on the address a browser
/// already knows, so that what it keeps for the site is still its own).
pub async fn start_server_with_pages_at(
    directory: &std::path::Path,
    trust_root: [u8; 32],
    clock: Clock,
    address: &str,
) -> RunningServer {
    start_server_full(
        directory,
        trust_root,
        clock,
        Default::default(),
        None,
        Some(address),
        Vec::new(),
        None,
        Disk::default(),
    )
    .await
}

/// A server with the public pages (and the log's tiles) that asks `witnesses` to cosign each
/// checkpoint, as `klero serve --http … --witness URL,VKEY` runs it.
pub async fn start_server_with_witnesses(
    directory: &std::path::Path,
    trust_root: [u8; 32],
    clock: Clock,
    witnesses: Vec<klero_transparency::WitnessEndpoint>,
) -> RunningServer {
    start_server_full(
        directory,
        trust_root,
        clock,
        Default::default(),
        None,
        Some("127.0.0.1:0"),
        witnesses,
        None,
        Disk::default(),
    )
    .await
}

/// [`start_server_with_witnesses`], with the application configured by `configure`.
pub async fn start_server_with_witnesses_configured(
    directory: &std::path::Path,
    trust_root: [u8; 32],
    clock: Clock,
    witnesses: Vec<klero_transparency::WitnessEndpoint>,
    configure: Configure,
) -> RunningServer {
    start_server_full(
        directory,
        trust_root,
        clock,
        Default::default(),
        Some(configure),
        Some("127.0.0.1:0"),
        witnesses,
        None,
        Disk::default(),
    )
    .await
}

/// A server with the public pages whose gRPC and HTTP both serve TLS, as `klero serve --http …
/// --tls-cert … --tls-key …` runs it.
pub async fn start_server_with_tls(
    directory: &std::path::Path,
    trust_root: [u8; 32],
    tls: klero_application::ServerTls,
) -> RunningServer {
    let clock = klero_application::system_clock();
    start_server_full(
        directory,
        trust_root,
        clock,
        Default::default(),
        None,
        Some("127.0.0.1:0"),
        Vec::new(),
        Some(tls),
        Disk::default(),
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn start_server_full(
    directory: &std::path::Path,
    trust_root: [u8; 32],
    clock: Clock,
    limits: klero_api::server::ServerLimits,
    configure: Option<Configure>,
    pages: Option<&str>,
    witnesses: Vec<klero_transparency::WitnessEndpoint>,
    tls: Option<klero_application::ServerTls>,
    disk: Disk,
) -> RunningServer {
    let options = EmbeddedStoreOptions { disk, ..Default::default() };
    let store = Arc::new(EmbeddedStore::open(directory, options).await.expect("store opens"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}", listener.local_addr().expect("address"));
    let mut listeners = klero_wiring::Listeners::from(listener);
    let mut pages_url = None;
    if let Some(address) = pages {
        let listener = tokio::net::TcpListener::bind(address).await.expect("bind");
        pages_url = Some(format!("{scheme}://{}", listener.local_addr().expect("address")));
        listeners.http = Some(listener);
    }
    let config = klero_wiring::ServerConfig {
        limits,
        witness_quorum: witnesses.len() as u64,
        witnesses,
        tls,
        tune: configure.map(klero_wiring::TuneApplication),
        intake_key: pages.is_some().then(|| klero_wiring::IntakeKey(key(INTAKE_KEY))),
        ..klero_wiring::ServerConfig::new(directory, trust_root, test_log_key())
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = klero_wiring::start_on(store.clone(), config, listeners, clock, async {
        let _ = stopped.await;
    })
    .await
    .expect("server starts");
    RunningServer { url, pages_url, store, running, stop }
}

/// The label of the key that signs the pages' form submissions on every test server with
/// pages (`key(INTAKE_KEY)`); a test grants it the intake role.
pub const INTAKE_KEY: &str = "pages: intake";

/// The black-box servers' log key.
pub fn test_log_key() -> LogSigningKey {
    LogSigningKey::new("klero.test/blackbox", key("log key")).expect("log key")
}

/// A server in a temporary data directory that can be restarted on the same data.
#[allow(missing_debug_implementations)] // holds keys, which stay out of debug output
pub struct TestServer {
    pub directory: tempfile::TempDir,
    pub server: Option<RunningServer>,
    pub trust_root: SigningKey,
    /// Added to the system clock, so tests can reach deadlines.
    pub clock_offset_ms: Arc<AtomicU64>,
    /// Applied to the application's defaults at every start.
    pub configure: Option<Configure>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_configured(None).await
    }

    /// A server whose application `configure` changes from the defaults, at every start.
    pub async fn start_configured(configure: Option<Configure>) -> TestServer {
        let mut server = TestServer {
            directory: tempfile::tempdir().expect("temp dir"),
            server: None,
            trust_root: key("trust root"),
            clock_offset_ms: Arc::new(AtomicU64::new(0)),
            configure,
        };
        server.boot().await;
        server
    }

    async fn boot(&mut self) {
        let offset = self.clock_offset_ms.clone();
        let system = klero_application::system_clock();
        let clock: Clock = Arc::new(move || system() + offset.load(Ordering::SeqCst));
        let trust_root = self.trust_root.verifying_key().to_bytes();
        self.server = Some(
            start_server_configured(
                self.directory.path(),
                trust_root,
                clock,
                Default::default(),
                self.configure.clone(),
            )
            .await,
        );
    }

    pub fn url(&self) -> String {
        self.server.as_ref().expect("running").url.clone()
    }

    pub async fn client(&self) -> KleroClient {
        KleroClient::connect(&self.url()).await.expect("connect")
    }

    /// Stops the server gracefully and starts a new one on the same data directory.
    pub async fn restart(&mut self) {
        self.server.take().expect("running").stop().await;
        self.boot().await;
    }

    /// How many events the running server took up from a snapshot when it started.
    pub fn snapshot_taken_up(&self) -> Option<u64> {
        self.server.as_ref().expect("running").running.application().snapshot_taken_up()
    }

    /// Stops the server gracefully, runs `change` on its data directory, and starts it again.
    pub async fn restart_after(&mut self, change: impl FnOnce(&std::path::Path)) {
        self.server.take().expect("running").stop().await;
        change(self.directory.path());
        self.boot().await;
    }

    /// Signs as `author` at the server's clock, which tests may have moved ahead: an event
    /// signed at the system's time would then look signed long before its recording.
    pub fn sign_now<P: EventMessage>(&self, author: &Author, assembly: &str, payload: &P) -> SignedEvent {
        let stream = klero_client::stream_name(P::STREAM_KIND, assembly).expect("stream");
        let now = klero_application::system_clock()() + self.clock_offset_ms.load(Ordering::SeqCst);
        author.sign_with(stream, klero_client::new_event_id(), now, payload).expect("sign")
    }

    pub fn advance_clock(&self, ms: u64) {
        self.clock_offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// The log's size, from a fresh signed checkpoint.
    pub async fn log_size(&self) -> u64 {
        self.client().await.checkpoint().await.expect("checkpoint").tree_size
    }
}

/// Every role an assembly needs, each with its own key.
#[derive(Debug)]
pub struct Cast {
    pub council: Author,
    pub convenor: Author,
    pub operator: Author,
    pub facilitator: Author,
    pub secretary: Author,
    pub decision_maker: Author,
}

impl Cast {
    pub fn new(label: &str) -> Cast {
        Cast::with_council(label, "trust root")
    }

    /// A cast whose council (the trust root) is the key named `council`.
    pub fn with_council(label: &str, council: &str) -> Cast {
        let author = |role: &str| Author::new(key(&format!("{label} {role}")));
        Cast {
            council: Author::new(key(council)),
            convenor: author("convenor"),
            operator: author("operator"),
            facilitator: author("facilitator"),
            secretary: author("secretary"),
            decision_maker: author("decision maker"),
        }
    }
}

/// Appends `payload` signed by `author`, expecting success.
pub async fn append<P: EventMessage>(
    client: &mut KleroClient,
    author: &Author,
    assembly: &str,
    payload: &P,
) -> pb::ledger::AppendedEvent {
    let event = author.sign(assembly, payload).expect("sign");
    client.append(&event, None).await.unwrap_or_else(|e| panic!("appending {} failed: {e}", P::EVENT_TYPE))
}

pub fn sign<P: EventMessage>(author: &Author, assembly: &str, payload: &P) -> SignedEvent {
    author.sign(assembly, payload).expect("sign")
}

pub fn sha(text: &str) -> Vec<u8> {
    Hash256::of(text.as_bytes()).0.to_vec()
}

/// A public submission from `submitter_id`, received on 2026-01-01, of content "x".
pub fn submission(submitter_id: impl Into<String>) -> pb::deliberation::PublicSubmissionReceived {
    pb::deliberation::PublicSubmissionReceived {
        submitter_id: submitter_id.into(),
        content_hash: sha("x"),
        received_on: "2026-01-01".into(),
        sealed_text: None,
    }
}

pub const PANEL_SIZE: u32 = 4;
pub const SEED: &[u8] = b"black-box test seed, 32 bytes ok";

pub fn pool() -> pb::selection::PoolRegistered {
    let members = (0..10)
        .map(|i| pb::selection::PoolMember {
            id: format!("p{i}"),
            household: Vec::new(),
            letter: Vec::new(),
            features: vec![pb::selection::FeatureValue {
                feature: "age".into(),
                value: if i % 2 == 0 { "young" } else { "old" }.into(),
            }],
        })
        .collect();
    pb::selection::PoolRegistered { members }
}

pub fn plan() -> pb::selection::SelectionPlanned {
    use prost::Message;
    pb::selection::SelectionPlanned {
        panel_size: PANEL_SIZE,
        quotas: vec![
            pb::selection::Quota { feature: "age".into(), value: "young".into(), min: 1, max: 3 },
            pb::selection::Quota { feature: "age".into(), value: "old".into(), min: 1, max: 3 },
        ],
        algorithm: "test".into(),
        algorithm_version: "1".into(),
        pool_commitment: Hash256::of(&pool().encode_to_vec()).0.to_vec(),
        seed_commitment: Hash256::of(SEED).0.to_vec(),
        randomness_source: "fixed test seed".into(),
        reserve_count: 0,
    }
}

pub fn convened(assembly: &str) -> pb::assembly::AssemblyConvened {
    pb::assembly::AssemblyConvened {
        assembly_id: assembly.into(),
        council: "Test Council".into(),
        remit_question: "What should we do?".into(),
        area: "Test area".into(),
        starts_on: "2026-01-10".into(),
        ends_on: "2026-03-10".into(),
        panel_size: PANEL_SIZE,
        adoption_threshold_percent: 60,
        response_deadline_days: 56,
    }
}

/// Grants every role for `assembly`, convenes it, and seats a panel of four.
pub async fn assembly_with_panel(client: &mut KleroClient, cast: &Cast, assembly: &str) {
    use pb::registry::Role;
    for (who, role) in [
        (&cast.convenor, Role::Convenor),
        (&cast.operator, Role::SelectionOperator),
        (&cast.facilitator, Role::Facilitator),
        (&cast.secretary, Role::PanelSecretary),
        (&cast.decision_maker, Role::CouncilDecisionMaker),
    ] {
        let grant = pb::registry::KeyGranted {
            public_key: who.public_key().to_vec(),
            role: role as i32,
            scope: assembly.into(),
            holder_title: "officer".into(),
        };
        append(client, &cast.council, assembly, &grant).await;
    }
    append(client, &cast.convenor, assembly, &convened(assembly)).await;
    append(client, &cast.operator, assembly, &plan()).await;
    append(client, &cast.operator, assembly, &pool()).await;
    let panel = pb::selection::PanelDrawn {
        seed: SEED.to_vec(),
        member_ids: vec!["p0".into(), "p1".into(), "p2".into(), "p3".into()],
        reserve_member_ids: Vec::new(),
    };
    append(client, &cast.operator, assembly, &panel).await;
}

/// The trust root's grant of the data protection officer's role for `assembly` to `officer`.
/// [`assembly_with_panel`], with a LEXIMIN lottery published before the seed is revealed (as
/// `klero demo` runs it), and the panel the seed draws from it.
pub async fn assembly_with_lottery(client: &mut KleroClient, cast: &Cast, assembly: &str) {
    use pb::registry::Role;
    for (who, role) in [
        (&cast.convenor, Role::Convenor),
        (&cast.operator, Role::SelectionOperator),
        (&cast.facilitator, Role::Facilitator),
        (&cast.secretary, Role::PanelSecretary),
        (&cast.decision_maker, Role::CouncilDecisionMaker),
    ] {
        let grant = pb::registry::KeyGranted {
            public_key: who.public_key().to_vec(),
            role: role as i32,
            scope: assembly.into(),
            holder_title: "officer".into(),
        };
        append(client, &cast.council, assembly, &grant).await;
    }
    append(client, &cast.convenor, assembly, &convened(assembly)).await;
    let plan = pb::selection::SelectionPlanned { algorithm: "leximin".into(), ..plan() };
    append(client, &cast.operator, assembly, &plan).await;
    let pool = pool();
    append(client, &cast.operator, assembly, &pool).await;
    let instance = instance_of(&plan, &pool);
    let distribution = klero_selection::leximin(&instance, Duration::from_secs(60)).expect("a lottery");
    let lottery = klero_selection::publish(&distribution);
    append(client, &cast.operator, assembly, &klero_catalogue::lottery_message(&lottery)).await;
    let member_ids = klero_selection::draw(&instance, &lottery, SEED);
    append(
        client,
        &cast.operator,
        assembly,
        &pb::selection::PanelDrawn { seed: SEED.to_vec(), member_ids, reserve_member_ids: Vec::new() },
    )
    .await;
}

/// The selection instance a plan and a pool on the record give (docs/FORMAT.md §9), households
/// included: what the server's rules draw from.
pub fn instance_of(
    plan: &pb::selection::SelectionPlanned,
    pool: &pb::selection::PoolRegistered,
) -> klero_selection::Instance {
    let quotas: Vec<klero_selection::Quota> = plan
        .quotas
        .iter()
        .map(|q| klero_selection::Quota { feature: q.feature.clone(), value: q.value.clone(), min: q.min, max: q.max })
        .collect();
    let people = pool.members.iter().map(|m| {
        let value_of = |feature: &str| m.features.iter().find(|f| f.feature == feature).map(|f| f.value.as_str());
        klero_selection::Volunteer {
            id: &m.id,
            household: (!m.household.is_empty()).then_some(&m.household[..]),
            value_of,
        }
    });
    klero_selection::Instance::group(&quotas, people, plan.panel_size).expect("the plan and the pool give an instance")
}

/// The council grants a convenor and a selection operator, and the convenor convenes.
pub async fn convened_with_an_operator(client: &mut KleroClient, cast: &Cast, assembly: &str) {
    for (who, role) in
        [(&cast.convenor, pb::registry::Role::Convenor), (&cast.operator, pb::registry::Role::SelectionOperator)]
    {
        let grant = pb::registry::KeyGranted {
            public_key: who.public_key().to_vec(),
            role: role as i32,
            scope: assembly.into(),
            holder_title: "officer".into(),
        };
        append(client, &cast.council, assembly, &grant).await;
    }
    append(client, &cast.convenor, assembly, &convened(assembly)).await;
}

/// An assembly whose planned quotas no panel of its pool can meet, and whose officer records
/// the smallest relaxation (FORMAT.md §9.2): eight young and two old volunteers, a plan of 0 to
/// 1 young and 3 to 4 old seats, relaxed (with its reason) to what the pool allows; then the
/// LEXIMIN lottery under the relaxed quotas and its draw.
#[derive(Debug)]
pub struct RelaxedSelection {
    pub plan: pb::selection::SelectionPlanned,
    pub pool: pb::selection::PoolRegistered,
    pub relaxed: pb::selection::QuotasRelaxed,
    pub lottery: klero_selection::PublishedLottery,
    pub panel: Vec<String>,
}

/// The reason [`assembly_with_relaxed_quotas`] records.
pub const RELAXATION_REASON: &str = "Only two older residents volunteered: the smallest relaxation, two seats";

pub async fn assembly_with_relaxed_quotas(client: &mut KleroClient, cast: &Cast, assembly: &str) -> RelaxedSelection {
    use prost::Message;
    convened_with_an_operator(client, cast, assembly).await;
    let mut pool = pool();
    for (i, member) in pool.members.iter_mut().enumerate() {
        member.features[0].value = if i < 8 { "young" } else { "old" }.into();
    }
    let plan = pb::selection::SelectionPlanned {
        quotas: vec![
            pb::selection::Quota { feature: "age".into(), value: "young".into(), min: 0, max: 1 },
            pb::selection::Quota { feature: "age".into(), value: "old".into(), min: 3, max: 4 },
        ],
        algorithm: "leximin".into(),
        algorithm_version: klero_selection::ALGORITHM_VERSION.into(),
        pool_commitment: Hash256::of(&pool.encode_to_vec()).0.to_vec(),
        ..plan()
    };
    append(client, &cast.operator, assembly, &plan).await;
    append(client, &cast.operator, assembly, &pool).await;
    let mut instance = instance_of(&plan, &pool);
    let relaxation = klero_selection::smallest_relaxation(&instance, &[]).expect("the MIP").expect("a relaxation");
    let relaxed = pb::selection::QuotasRelaxed {
        quotas: relaxation
            .changes
            .iter()
            .map(|c| pb::selection::Quota {
                feature: c.feature.clone(),
                value: c.value.clone(),
                min: c.relaxed_min,
                max: c.relaxed_max,
            })
            .collect(),
        reason: RELAXATION_REASON.into(),
    };
    append(client, &cast.operator, assembly, &relaxed).await;
    let relaxed_quotas: Vec<klero_selection::Quota> = relaxed
        .quotas
        .iter()
        .map(|q| klero_selection::Quota { feature: q.feature.clone(), value: q.value.clone(), min: q.min, max: q.max })
        .collect();
    instance.set_bounds(&relaxed_quotas);
    let lottery =
        klero_selection::publish(&klero_selection::leximin(&instance, Duration::from_secs(30)).expect("leximin"));
    append(client, &cast.operator, assembly, &klero_catalogue::lottery_message(&lottery)).await;
    let panel = klero_selection::draw(&instance, &lottery, SEED);
    let drawn =
        pb::selection::PanelDrawn { seed: SEED.to_vec(), member_ids: panel.clone(), reserve_member_ids: Vec::new() };
    append(client, &cast.operator, assembly, &drawn).await;
    RelaxedSelection { plan, pool, relaxed, lottery, panel }
}

pub fn data_protection_officer_grant(officer: &Author, assembly: &str) -> pb::registry::KeyGranted {
    pb::registry::KeyGranted {
        public_key: officer.public_key().to_vec(),
        role: pb::registry::Role::DataProtectionOfficer as i32,
        scope: assembly.into(),
        holder_title: "Data protection officer".into(),
    }
}

/// Drafts, votes on and adopts recommendation `id`; returns the adoption.
pub async fn adopted_recommendation(
    client: &mut KleroClient,
    cast: &Cast,
    assembly: &str,
    id: &str,
) -> pb::ledger::AppendedEvent {
    let text_hash = sha(id);
    append(
        client,
        &cast.secretary,
        assembly,
        &pb::recommendation::RecommendationDrafted {
            recommendation_id: id.into(),
            title: format!("Recommendation {id}"),
            text_hash: text_hash.clone(),
        },
    )
    .await;
    append(
        client,
        &cast.secretary,
        assembly,
        &pb::recommendation::VoteRecorded { recommendation_id: id.into(), in_favour: 3, against: 1, abstaining: 0 },
    )
    .await;
    append(
        client,
        &cast.secretary,
        assembly,
        &pb::recommendation::RecommendationAdopted {
            recommendation_id: id.into(),
            final_text_hash: text_hash,
            in_favour: 3,
            against: 1,
            abstaining: 0,
        },
    )
    .await
}

pub fn response(adoption_hash: &[u8], decision: pb::response::Decision) -> pb::response::ResponseIssued {
    pb::response::ResponseIssued {
        recommendation_event_hash: adoption_hash.to_vec(),
        decision: decision as i32,
        rationale: "The council's reasons.".into(),
        responsible_body: "Cabinet".into(),
        due_on: "2026-12-01".into(),
        sealed_rationale: None,
    }
}

/// Checks every view the server serves for `assembly` against a rebuild, here, from the log
/// prefix the view names: the same JSON byte for byte, and its SHA-256 as the digest.
pub async fn assert_served_views_equal_a_rebuild(client: &mut KleroClient, assembly: &str) {
    for name in klero_projections::ViewName::ALL {
        let served = client
            .query()
            .get_view(pb::query::GetViewRequest {
                view: name.as_str().into(),
                assembly_id: assembly.into(),
                digest_only: false,
            })
            .await
            .expect("view")
            .into_inner();
        let mut events = Vec::new();
        while (events.len() as u64) < served.tree_size {
            let max_count = (served.tree_size - events.len() as u64).min(1_000) as u32;
            let request = pb::ledger::ReadLogRequest { from_log_index: events.len() as u64, max_count };
            let page = client.ledger().read_log(request).await.expect("read").into_inner().events;
            assert!(!page.is_empty(), "the log holds the views' prefix");
            events.extend(page);
        }
        assert_eq!(events.len() as u64, served.tree_size);
        let mut rebuilt = klero_fold::LogFold::new(
            client
                .registry()
                .list_keys(pb::registry::ListKeysRequest { assembly_id: String::new() })
                .await
                .expect("keys")
                .into_inner()
                .trust_root_public_key
                .try_into()
                .expect("32 bytes"),
        );
        for event in &events {
            let envelope = klero_ledger::envelope::Envelope::parse(event.envelope.clone()).expect("envelope");
            let logged = klero_fold::LoggedEventRef {
                log_index: event.log_index,
                envelope: &envelope,
                event_hash: envelope.event_hash(),
            };
            rebuilt.fold(logged, None).expect("the served log folds");
        }
        let local =
            rebuilt.views().render(name, &klero_domain::AssemblyId::parse(assembly).expect("id")).expect("rendered");
        assert_eq!(local.json, served.json, "{} rebuilt byte for byte", name.as_str());
        assert_eq!(local.digest.0.to_vec(), served.digest);
        assert_eq!(Hash256::of(served.json.as_bytes()).0.to_vec(), served.digest, "the digest is SHA-256 of the JSON");
    }
}

/// Every event of `stream`, read forwards from revision 0, after checking that they form an
/// unbroken chain: revisions 0, 1, 2, … each naming the hash of the one before.
pub async fn read_stream_chain(client: &mut KleroClient, stream: &str) -> Vec<klero_ledger::envelope::Envelope> {
    let events = client
        .ledger()
        .read_stream(pb::ledger::ReadStreamRequest {
            stream: stream.into(),
            from_revision: 0,
            backwards: false,
            max_count: 1000,
        })
        .await
        .expect("read")
        .into_inner()
        .events;
    let mut previous = Hash256::ZERO;
    let mut envelopes = Vec::with_capacity(events.len());
    for (revision, event) in events.into_iter().enumerate() {
        let envelope = klero_ledger::envelope::Envelope::parse(event.envelope).expect("envelope");
        assert_eq!(
            (envelope.ledger().stream_revision, envelope.ledger().previous_event_hash),
            (revision as u64, previous),
            "{stream} revision {revision} continues the chain"
        );
        previous = envelope.event_hash();
        envelopes.push(envelope);
    }
    envelopes
}

/// An HTTP/1.1 response read to its end (`Connection: close`): status, headers (names in lower
/// case) and body.
pub fn parse_http_response(raw: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}
