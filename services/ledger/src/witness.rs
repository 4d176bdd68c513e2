//! The body of a C2SP tlog-witness `add-checkpoint` request: the size the witness last
//! cosigned, a consistency proof from it, and the checkpoint.
//!
//! ```text
//! old <decimal size>\n
//! <base64 hash>\n          zero to 63 lines: the RFC 6962 consistency proof
//! \n
//! <signed checkpoint note>
//! ```

use crate::checkpoint::NOTE_BYTES_MAX;
use crate::Hash256;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

/// The spec's bound on consistency proof lines.
pub const PROOF_LINES_MAX: usize = 63;
/// Longest request body: the old size line, 63 proof lines and the longest note.
pub const ADD_CHECKPOINT_BYTES_MAX: usize = 32 + PROOF_LINES_MAX * 45 + 1 + NOTE_BYTES_MAX;

/// A parsed `add-checkpoint` request. The note is not checked here: the witness verifies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpointRequest {
    pub old_size: u64,
    pub consistency_proof: Vec<Hash256>,
    pub checkpoint_note: String,
}

/// Why a request body was refused (a witness answers 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed add-checkpoint request: {reason}")]
pub struct AddCheckpointFormatError {
    pub reason: &'static str,
}

impl AddCheckpointRequest {
    pub fn to_body(&self) -> String {
        let mut body = format!("old {}\n", self.old_size);
        for hash in &self.consistency_proof {
            body.push_str(&BASE64.encode(hash.0));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&self.checkpoint_note);
        body
    }

    pub fn parse(body: &[u8]) -> Result<AddCheckpointRequest, AddCheckpointFormatError> {
        let bad = |reason| AddCheckpointFormatError { reason };
        if body.len() > ADD_CHECKPOINT_BYTES_MAX {
            return Err(bad("the body is longer than a request can be"));
        }
        let body = std::str::from_utf8(body).map_err(|_| bad("the body is not UTF-8"))?;
        let (head, note) = body.split_once("\n\n").ok_or(bad("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old =
            lines.next().and_then(|line| line.strip_prefix("old ")).ok_or(bad("the first line is not `old <size>`"))?;
        let old_size = crate::text::decimal_u64(old)
            .ok_or(bad("the old size is not a decimal without leading zeros (at most 2^64 - 1)"))?;
        let mut consistency_proof = Vec::new();
        for line in lines {
            if consistency_proof.len() == PROOF_LINES_MAX {
                return Err(bad("more than 63 consistency proof lines"));
            }
            let hash = BASE64.decode(line).map_err(|_| bad("a proof line is not base64"))?;
            let hash: [u8; 32] = hash.try_into().map_err(|_| bad("a proof line is not a 32-byte hash"))?;
            consistency_proof.push(Hash256(hash));
        }
        Ok(AddCheckpointRequest { old_size, consistency_proof, checkpoint_note: note.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_bad_ones_are_refused() {
        let request = AddCheckpointRequest {
            old_size: 20,
            consistency_proof: vec![Hash256([1; 32]), Hash256([2; 32])],
            checkpoint_note: "o\n21\nAAAA\n\n— o sig\n".into(),
        };
        assert_eq!(AddCheckpointRequest::parse(request.to_body().as_bytes()).unwrap(), request);
        let empty = AddCheckpointRequest { old_size: 0, consistency_proof: vec![], checkpoint_note: "x\n".into() };
        assert_eq!(empty.to_body(), "old 0\n\nx\n");
        assert_eq!(AddCheckpointRequest::parse(empty.to_body().as_bytes()).unwrap(), empty);
        for bad in ["old 01\n\nx", "old -1\n\nx", "new 1\n\nx", "old 1\nnot base64!\n\nx", "old 1\nAAAA\n\nx", "old 1"]
        {
            assert!(AddCheckpointRequest::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let too_long = format!("old 1\n{}\nx", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n".repeat(64));
        assert!(AddCheckpointRequest::parse(too_long.as_bytes()).is_err());
    }
}
