//! The conversion of gRPC requests into the core's commands, structure-aware: requests built
//! from arbitrary fields are converted or refused as INVALID_ARGUMENT naming a field.
#![no_main]
use arbitrary::Arbitrary;
use klero_proto::ledger as pb;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Expected {
    Unset,
    Any(bool),
    NoStream(bool),
    StreamExists(bool),
    Exact(u64),
}

#[derive(Arbitrary, Debug)]
struct Request {
    event: Option<(Vec<u8>, Vec<u8>)>,
    expected: Option<Expected>,
    assembly_id: String,
}

fuzz_target!(|request: Request| {
    use klero_api::service::{parse_assembly_id, parse_expected, parse_signed};
    let event = request.event.map(|(author_encoding, signature)| pb::SignedEvent { author_encoding, signature });
    if let Err(status) = parse_signed(event, "event") {
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().contains("event"), "the message names the field: {}", status.message());
    }
    let expected = request.expected.map(|expected| pb::ExpectedRevision {
        kind: match expected {
            Expected::Unset => None,
            Expected::Any(set) => Some(pb::expected_revision::Kind::Any(set)),
            Expected::NoStream(set) => Some(pb::expected_revision::Kind::NoStream(set)),
            Expected::StreamExists(set) => Some(pb::expected_revision::Kind::StreamExists(set)),
            Expected::Exact(revision) => Some(pb::expected_revision::Kind::Exact(revision)),
        },
    });
    if let Err(status) = parse_expected(expected) {
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
    }
    if let Err(status) = parse_assembly_id(&request.assembly_id) {
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
    }
});
