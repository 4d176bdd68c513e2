//! Kleroterion's protobuf messages and gRPC services, generated at build time from `klero/`.
//!
//! Event payloads are these messages; their exact bytes are what authors sign. Every message
//! implements `prost::Name`, so its full protobuf name comes from the `.proto` file itself.
//! Which messages are events, and their versions, streams and authors, is declared once in
//! `klero-catalogue`.

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
    pub mod documents {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/klero.documents.v1.rs"));
        }
    }
    pub mod privacy {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/klero.privacy.v1.rs"));
        }
    }
    pub mod response {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/klero.response.v1.rs"));
        }
    }
}

pub use klero::documents::v1 as documents;
pub use klero::privacy::v1 as privacy;
pub use klero::query::v1 as query;
pub use klero::selection::v1 as selection;
pub use klero::{assembly::v1 as assembly, deliberation::v1 as deliberation, ledger::v1 as ledger};
pub use klero::{recommendation::v1 as recommendation, registry::v1 as registry, response::v1 as response};

/// The encoded `FileDescriptorSet` of every Kleroterion .proto file, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/klero_descriptor.bin"));
