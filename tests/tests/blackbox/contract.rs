//! What docs/API.md promises, tried the way a stranger's client would: raw bytes that are not
//! protobuf, strings that are not UTF-8, messages at and over the size limit, wrong signature
//! lengths, false expectations, the stream head, the batch replay rule and implausible signing
//! times. Each refusal appends nothing.

use klero_client::{Author, KleroClient, SignedEvent};
use klero_proto as pb;
use klero_tests::*;
use prost::bytes::{Buf, BufMut};
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Code;
use tonic_types::StatusExt;

/// A codec that sends and receives message bodies as they are, so a test can send bytes no
/// protobuf library would write.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, buffer: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        buffer.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, buffer: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let mut item = vec![0; buffer.remaining()];
        buffer.copy_to_slice(&mut item);
        Ok(Some(item))
    }
}

/// Sends `body` as the request message of `path` and returns the answer's status (OK on success).
async fn call_raw(server: &TestServer, path: &'static str, body: Vec<u8>) -> tonic::Status {
    let channel = tonic::transport::Endpoint::from_shared(server.url()).expect("url").connect().await.expect("connect");
    let mut grpc = tonic::client::Grpc::new(channel).max_encoding_message_size(64 << 20);
    grpc.ready().await.expect("ready");
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    match grpc.unary(tonic::Request::new(body), path, RawCodec).await {
        Ok(_) => tonic::Status::ok(""),
        Err(status) => status,
    }
}

/// A protobuf field `number` of wire type 2 holding `content` (key and length as varints).
fn length_delimited(number: u32, content: &[u8]) -> Vec<u8> {
    let mut field = Vec::new();
    prost::encoding::encode_key(number, prost::encoding::WireType::LengthDelimited, &mut field);
    prost::encoding::encode_varint(content.len() as u64, &mut field);
    field.extend_from_slice(content);
    field
}

fn violated_fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|d| d.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

async fn ready(label: &str) -> (TestServer, KleroClient, Cast) {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let cast = Cast::new(label);
    assembly_with_panel(&mut client, &cast, label).await;
    (server, client, cast)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_are_not_a_message_are_invalid_argument_on_every_service() {
    let server = TestServer::start().await;
    let before = server.log_size().await;
    // Field 1 claims 255 bytes that never come.
    let truncated = vec![0x0a, 0xff, 0x01];
    // A string field holding bytes that are not UTF-8.
    let not_utf8 = length_delimited(1, &[0xff, 0xfe, 0x41]);
    for path in [
        "/klero.ledger.v1.Ledger/Append",
        "/klero.ledger.v1.Ledger/AppendBatch",
        "/klero.ledger.v1.Ledger/GetStreamHead",
        "/klero.registry.v1.Registry/ListKeys",
        "/klero.assembly.v1.Assemblies/GetAssembly",
        "/klero.query.v1.Query/GetView",
    ] {
        let status = call_raw(&server, path, truncated.clone()).await;
        assert_eq!(status.code(), Code::InvalidArgument, "{path}: {status:?}");
        assert!(status.message().contains("not a valid message"), "{path}: {}", status.message());
    }
    for path in [
        "/klero.ledger.v1.Ledger/AppendBatch",
        "/klero.ledger.v1.Ledger/GetStreamHead",
        "/klero.registry.v1.Registry/ListKeys",
        "/klero.query.v1.Query/GetView",
    ] {
        let status = call_raw(&server, path, not_utf8.clone()).await;
        assert_eq!(status.code(), Code::InvalidArgument, "{path}: {status:?}");
        assert!(status.message().contains("UTF-8"), "{path}: {}", status.message());
    }
    assert_eq!(server.log_size().await, before, "nothing was appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_takes_8_mib_and_refuses_more_as_resource_exhausted() {
    let server = TestServer::start().await;
    let before = server.log_size().await;
    // An unknown field 15 pads a request to 5 MiB: protobuf skips it, so the request is valid.
    let five_mib = length_delimited(15, &vec![b'x'; 5 << 20]);
    let over_limit = length_delimited(15, &vec![b'x'; (8 << 20) + 1]);
    for (path, answered) in [
        ("/klero.registry.v1.Registry/ListKeys", Code::Ok),
        ("/klero.ledger.v1.Ledger/GetStreamHead", Code::InvalidArgument), // no stream
        ("/klero.ledger.v1.Ledger/GetCheckpoint", Code::Ok),
        ("/klero.assembly.v1.Assemblies/GetAssembly", Code::InvalidArgument), // no assembly id
        ("/klero.query.v1.Query/GetView", Code::InvalidArgument),             // no view name
        ("/klero.ledger.v1.Ledger/Append", Code::InvalidArgument),            // no event
    ] {
        let status = call_raw(&server, path, five_mib.clone()).await;
        assert_eq!(status.code(), answered, "{path} with 5 MiB: {status:?}");
        let status = call_raw(&server, path, over_limit.clone()).await;
        assert_eq!(status.code(), Code::ResourceExhausted, "{path} over 8 MiB: {status:?}");
        assert!(status.message().contains("message size"), "{path}: {}", status.message());
    }
    assert_eq!(server.log_size().await, before, "nothing was appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_of_the_wrong_length_is_named_as_the_signature() {
    let (server, mut client, cast) = ready("siglen").await;
    let before = server.log_size().await;
    let event = sign(&cast.facilitator, "siglen", &submission("s1"));
    for length in [0, 63, 65] {
        let mut wire = event.wire.clone();
        wire.signature.resize(length, 7);
        let status = client
            .ledger()
            .append(pb::ledger::AppendRequest {
                event: Some(wire.clone()),
                expected_revision: None,
                data_key: Vec::new(),
            })
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(violated_fields(&status), ["event.signature"], "{length} bytes: {}", status.message());
        assert!(status.message().contains(&format!("got {length}")), "{}", status.message());
        let status = client
            .ledger()
            .append_batch(pb::ledger::AppendBatchRequest {
                stream: event.stream.clone(),
                events: vec![event.wire.clone(), wire],
                expected_revision: None,
                data_keys: Vec::new(),
            })
            .await
            .expect_err("refused");
        assert_eq!(violated_fields(&status), ["events[1].signature"], "{}", status.message());
    }
    assert_eq!(server.log_size().await, before, "nothing was appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expectation_set_to_false_is_refused_not_read_as_a_condition() {
    use pb::ledger::expected_revision::Kind;
    let (server, mut client, cast) = ready("falsehood").await;
    let before = server.log_size().await;
    let event = sign(&cast.facilitator, "falsehood", &submission("s1"));
    for (kind, field) in [
        (Kind::NoStream(false), "expected_revision.no_stream"),
        (Kind::Any(false), "expected_revision.any"),
        (Kind::StreamExists(false), "expected_revision.stream_exists"),
    ] {
        let status = client
            .ledger()
            .append(pb::ledger::AppendRequest {
                event: Some(event.wire.clone()),
                expected_revision: Some(pb::ledger::ExpectedRevision { kind: Some(kind) }),
                data_key: Vec::new(),
            })
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(violated_fields(&status), [field], "{}", status.message());
    }
    assert_eq!(server.log_size().await, before, "nothing was appended");
    // Set to true, no_stream holds on a new stream.
    let appended = client.append(&event, Some(klero_client::expect_no_stream())).await.expect("append");
    assert_eq!(appended.stream_revision, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_head_gives_the_revision_to_expect() {
    let (_server, mut client, cast) = ready("heads").await;
    let stream = "assembly/heads/deliberation";
    assert_eq!(client.stream_revision(stream).await.expect("head"), None, "no event yet");
    let empty = client
        .ledger()
        .get_stream_head(pb::ledger::GetStreamHeadRequest { stream: stream.into() })
        .await
        .expect("head")
        .into_inner();
    assert_eq!(empty, pb::ledger::GetStreamHeadResponse::default(), "an empty stream is all zero");
    let mut last = None;
    for n in 0..3 {
        last = Some(append(&mut client, &cast.facilitator, "heads", &submission(format!("s{n}"))).await);
    }
    let last = last.expect("appended");
    let head = client
        .ledger()
        .get_stream_head(pb::ledger::GetStreamHeadRequest { stream: stream.into() })
        .await
        .expect("head")
        .into_inner();
    assert_eq!(
        head,
        pb::ledger::GetStreamHeadResponse {
            exists: true,
            revision: 2,
            event_hash: last.event_hash.clone(),
            log_index: last.log_index,
        }
    );
    // The head is what an exact expectation needs.
    let revision = client.stream_revision(stream).await.expect("head").expect("exists");
    let next = sign(&cast.facilitator, "heads", &submission("s3"));
    let appended = client.append(&next, Some(klero_client::expect_exact(revision))).await.expect("append");
    assert_eq!(appended.stream_revision, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_recorded_events_replays_and_a_mixed_batch_names_its_first_recorded_event() {
    let (server, mut client, cast) = ready("replays").await;
    let stream = "assembly/replays/deliberation";
    let events: Vec<SignedEvent> =
        (0..3).map(|n| sign(&cast.facilitator, "replays", &submission(format!("s{n}")))).collect();
    let original = client.append_batch(stream, &events, None).await.expect("batch");
    let size = server.log_size().await;
    let replayed = |indexes: &[usize]| -> Vec<pb::ledger::AppendedEvent> {
        indexes.iter().map(|&i| pb::ledger::AppendedEvent { newly_appended: false, ..original[i].clone() }).collect()
    };
    // The whole batch, a prefix, a subset in another order: each is a retry and gets the
    // original results.
    for indexes in [vec![0, 1, 2], vec![0, 1], vec![2], vec![2, 0]] {
        let batch: Vec<SignedEvent> = indexes.iter().map(|&i| events[i].clone()).collect();
        let answer = client.append_batch(stream, &batch, None).await.expect("a replay");
        assert_eq!(answer, replayed(&indexes), "replaying {indexes:?}");
    }
    // A batch that mixes a new event with a recorded one is refused and names the recorded one.
    let new = sign(&cast.facilitator, "replays", &submission("s9"));
    for (batch, recorded_index, recorded) in
        [(vec![new.clone(), events[1].clone()], 1, &events[1]), (vec![events[0].clone(), new.clone()], 0, &events[0])]
    {
        let error = client.append_batch(stream, &batch, None).await.expect_err("refused");
        let status = match error {
            klero_client::ClientError::Refused(status) => status,
            other => panic!("expected a refusal, got {other}"),
        };
        assert_eq!(status.code(), Code::AlreadyExists);
        assert!(status.message().contains(&format!("events[{recorded_index}]")), "{}", status.message());
        assert!(status.message().contains(&recorded.event_id.to_string()), "{}", status.message());
    }
    assert_eq!(server.log_size().await, size, "nothing was appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_implausible_signing_time_breaks_a_rule_and_the_verifier_finds_it() {
    let (server, mut client, cast) = ready("clocks").await;
    let before = server.log_size().await;
    let stream = klero_client::stream_name(klero_domain::StreamKind::Deliberation, "clocks").expect("stream");
    let now = klero_application::system_clock()();
    let sign_at = |author: &Author, at: u64| {
        author.sign_with(stream.clone(), klero_client::new_event_id(), at, &submission("s1")).expect("sign")
    };
    for authored in [0, u64::MAX, now - 31 * DAY_MS, now + 10 * 60 * 1000] {
        let error = client.append(&sign_at(&cast.facilitator, authored), None).await.expect_err("refused");
        let status = match error {
            klero_client::ClientError::Refused(status) => status,
            other => panic!("expected a refusal, got {other}"),
        };
        assert_eq!(status.code(), Code::FailedPrecondition, "{authored}");
        assert!(status.message().contains("event.authored_at_plausible"), "{}", status.message());
    }
    assert_eq!(server.log_size().await, before, "nothing was appended");
    // A day old is fine: an author may sign offline and hand the event over later.
    client.append(&sign_at(&cast.facilitator, now - DAY_MS), None).await.expect("a day-old signature");

    // A log that holds an implausible time fails verification at that event.
    let export = klero_client::export::export_from_server(&mut client).await.expect("export");
    let log_key = klero_ledger::checkpoint::LogSigningKey::new("klero.test/blackbox", key("log key")).expect("key");
    let mut builder = klero_testkit::ExportBuilder::new(log_key, server.trust_root.verifying_key().to_bytes())
        .extend_from(&export.events);
    let facilitator = key("clocks facilitator");
    let bad = builder.size();
    builder.append(
        klero_ledger::envelope::AuthorPart {
            event_id: klero_client::new_event_id(),
            stream: stream.clone(),
            event_type: "klero.deliberation.v1.PublicSubmissionReceived".into(),
            event_version: 1,
            author_public_key: facilitator.verifying_key().to_bytes(),
            authored_at_unix_ms: 0,
            payload: submission("s2").encode_to_vec(),
        },
        &facilitator,
        now + DAY_MS,
    );
    builder.checkpoint();
    let report = klero_verifier::verify_export(&builder.finish(), &mut |_, _| {});
    let failure = report.first_failure.expect("the verifier fails the export");
    assert_eq!(failure.position, Some(bad), "{failure}");
    assert!(failure.reason.contains("event.authored_at_plausible"), "{}", failure.reason);
}
