//! Kleroterion's protobuf messages and gRPC services, generated at build time from `klero/`.
//!
//! Event payloads are these messages; their exact bytes are what authors sign. Each event
//! message implements [`EventPayload`], which names its event type and version.

#![allow(missing_docs, clippy::all)]

pub mod klero {
    pub mod ledger {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/klero.ledger.v1.rs"));
        }
    }
    pub mod registry {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/klero.registry.v1.rs"));
        }
    }
    pub mod assembly {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/klero.assembly.v1.rs"));
        }
    }
    pub mod selection {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/klero.selection.v1.rs"));
        }
    }
    pub mod deliberation {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/klero.deliberation.v1.rs"));
        }
    }
    pub mod recommendation {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/klero.recommendation.v1.rs"));
        }
    }
    pub mod query {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/klero.query.v1.rs"));
        }
    }
    pub mod response {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/klero.response.v1.rs"));
        }
    }
}

pub use klero::query::v1 as query;
pub use klero::selection::v1 as selection;
pub use klero::{assembly::v1 as assembly, deliberation::v1 as deliberation, ledger::v1 as ledger};
pub use klero::{recommendation::v1 as recommendation, registry::v1 as registry, response::v1 as response};

/// The encoded `FileDescriptorSet` of every Kleroterion .proto file, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/klero_descriptor.bin"));

/// Which stream of an assembly an event belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// The global `registry` stream.
    Registry,
    /// `assembly/<id>`.
    Assembly,
    /// `assembly/<id>/selection`.
    Selection,
    /// `assembly/<id>/deliberation`.
    Deliberation,
    /// `assembly/<id>/recommendation`.
    Recommendation,
    /// `assembly/<id>/response`.
    Response,
}

impl StreamKind {
    /// The stream name for an assembly (ignored for the registry).
    pub fn stream_name(self, assembly_id: &str) -> String {
        match self {
            StreamKind::Registry => "registry".to_string(),
            StreamKind::Assembly => format!("assembly/{assembly_id}"),
            StreamKind::Selection => format!("assembly/{assembly_id}/selection"),
            StreamKind::Deliberation => format!("assembly/{assembly_id}/deliberation"),
            StreamKind::Recommendation => format!("assembly/{assembly_id}/recommendation"),
            StreamKind::Response => format!("assembly/{assembly_id}/response"),
        }
    }
}

/// A protobuf message that is an event payload.
pub trait EventPayload: prost::Message + Default {
    /// The event type name, the message's full protobuf name.
    const EVENT_TYPE: &'static str;
    /// The payload schema version.
    const EVENT_VERSION: u32;
    /// The stream this event is appended to.
    const STREAM_KIND: StreamKind;
}

macro_rules! event_payloads {
    ($($message:path => $name:literal, $kind:ident;)*) => {
        $(impl EventPayload for $message {
            const EVENT_TYPE: &'static str = $name;
            const EVENT_VERSION: u32 = 1;
            const STREAM_KIND: StreamKind = StreamKind::$kind;
        })*
        /// Every event type in the catalogue, with its version.
        pub const EVENT_CATALOGUE: &[(&str, u32)] = &[$(($name, 1)),*];
    };
}

event_payloads! {
    registry::KeyGranted => "klero.registry.v1.KeyGranted", Registry;
    registry::KeyRevoked => "klero.registry.v1.KeyRevoked", Registry;
    assembly::AssemblyConvened => "klero.assembly.v1.AssemblyConvened", Assembly;
    selection::SelectionPlanned => "klero.selection.v1.SelectionPlanned", Selection;
    selection::PoolRegistered => "klero.selection.v1.PoolRegistered", Selection;
    selection::LotteryPublished => "klero.selection.v1.LotteryPublished", Selection;
    selection::PanelDrawn => "klero.selection.v1.PanelDrawn", Selection;
    selection::MemberWithdrew => "klero.selection.v1.MemberWithdrew", Selection;
    selection::ReplacementDrawn => "klero.selection.v1.ReplacementDrawn", Selection;
    deliberation::SessionHeld => "klero.deliberation.v1.SessionHeld", Deliberation;
    deliberation::EvidencePresented => "klero.deliberation.v1.EvidencePresented", Deliberation;
    deliberation::PublicSubmissionReceived => "klero.deliberation.v1.PublicSubmissionReceived", Deliberation;
    recommendation::RecommendationDrafted => "klero.recommendation.v1.RecommendationDrafted", Recommendation;
    recommendation::RecommendationAmended => "klero.recommendation.v1.RecommendationAmended", Recommendation;
    recommendation::RecommendationWithdrawn => "klero.recommendation.v1.RecommendationWithdrawn", Recommendation;
    recommendation::VoteRecorded => "klero.recommendation.v1.VoteRecorded", Recommendation;
    recommendation::RecommendationAdopted => "klero.recommendation.v1.RecommendationAdopted", Recommendation;
    recommendation::FinalReportPublished => "klero.recommendation.v1.FinalReportPublished", Recommendation;
    response::ResponseIssued => "klero.response.v1.ResponseIssued", Response;
    response::ResponseAmended => "klero.response.v1.ResponseAmended", Response;
    response::ImplementationUpdated => "klero.response.v1.ImplementationUpdated", Response;
}
