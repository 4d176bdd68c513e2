//! The export file (docs/FORMAT.md §8): everything an auditor needs, in one text file.
//!
//! ```text
//! klero-export/v1
//! log-key <C2SP verifier key>
//! trust-root <hex of the trust root's 32-byte public key>
//! checkpoint <base64 of a signed checkpoint note>          (zero or more)
//! view <name> <assembly id> <tree size> <hex SHA-256 digest>  (zero or more; published digests)
//! event <base64 of an envelope>                              (every event, in log order)
//! end <number of events>
//! ```

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use klero_ledger::Hash256;

const HEADER: &str = "klero-export/v1";
/// Most events an export may hold; far beyond any assembly, and a bound on memory.
pub const EXPORT_EVENTS_MAX: usize = 100_000_000;
/// Longest line: an event line holding the largest envelope, in base64.
pub const EXPORT_LINE_BYTES_MAX: usize = klero_ledger::envelope::ENVELOPE_BYTES_MAX * 4 / 3 + 64;
/// Most checkpoint and view lines.
pub const EXPORT_CHECKPOINTS_MAX: usize = 1_000_000;

/// A published view digest to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedView {
    pub name: String,
    pub assembly_id: String,
    pub tree_size: u64,
    pub digest: Hash256,
}

/// A parsed export. Events stay as the exact bytes exported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Export {
    pub log_key: String,
    pub trust_root: [u8; 32],
    pub checkpoints: Vec<String>,
    pub views: Vec<PublishedView>,
    pub events: Vec<Vec<u8>>,
}

/// Why an export file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFormatError {
    /// 1-based line number.
    pub line: usize,
    pub reason: String,
}

impl std::error::Error for ExportFormatError {}

impl std::fmt::Display for ExportFormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "export line {}: {}", self.line, self.reason)
    }
}

impl Export {
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.events.iter().map(|e| e.len() * 4 / 3 + 8).sum::<usize>() + 4096);
        out.push_str(HEADER);
        out.push('\n');
        out.push_str(&format!(
            "log-key {}\ntrust-root {}\n",
            self.log_key,
            klero_ledger::hash::to_hex(&self.trust_root)
        ));
        for note in &self.checkpoints {
            out.push_str(&format!("checkpoint {}\n", BASE64.encode(note)));
        }
        for view in &self.views {
            out.push_str(&format!(
                "view {} {} {} {}\n",
                view.name,
                view.assembly_id,
                view.tree_size,
                view.digest.to_hex()
            ));
        }
        for event in &self.events {
            out.push_str("event ");
            out.push_str(&BASE64.encode(event));
            out.push('\n');
        }
        out.push_str(&format!("end {}\n", self.events.len()));
        out
    }

    pub fn parse(text: &str) -> Result<Export, ExportFormatError> {
        let mut export = Export::default();
        let mut lines = text.lines().enumerate();
        let error = |line: usize, reason: &str| ExportFormatError { line: line + 1, reason: reason.to_string() };
        match lines.next() {
            Some((_, HEADER)) => {}
            _ => return Err(error(0, "the first line must be klero-export/v1")),
        }
        let mut ended = false;
        for (number, line) in lines {
            if ended {
                return Err(error(number, "nothing may follow the end line"));
            }
            if line.len() > EXPORT_LINE_BYTES_MAX {
                return Err(error(number, "the line is longer than the largest envelope allows"));
            }
            if export.events.len() >= EXPORT_EVENTS_MAX
                || export.checkpoints.len() + export.views.len() >= EXPORT_CHECKPOINTS_MAX
            {
                return Err(error(number, "the export holds more items than the verifier accepts"));
            }
            let (kind, rest) = line.split_once(' ').ok_or_else(|| error(number, "expected '<kind> <value>'"))?;
            match kind {
                "log-key" => export.log_key = rest.to_string(),
                "trust-root" => {
                    let bytes =
                        klero_ledger::hash::from_hex(rest).map_err(|_| error(number, "trust-root must be hex"))?;
                    export.trust_root = bytes.try_into().map_err(|_| error(number, "trust-root must be 32 bytes"))?;
                }
                "checkpoint" => {
                    let bytes = BASE64.decode(rest).map_err(|_| error(number, "checkpoint must be base64"))?;
                    export
                        .checkpoints
                        .push(String::from_utf8(bytes).map_err(|_| error(number, "checkpoint must be UTF-8"))?);
                }
                "view" => {
                    let parts: Vec<&str> = rest.split(' ').collect();
                    let [name, assembly_id, tree_size, digest] = parts[..] else {
                        return Err(error(number, "view needs a name, an assembly id, a tree size and a digest"));
                    };
                    export.views.push(PublishedView {
                        name: name.to_string(),
                        assembly_id: assembly_id.to_string(),
                        tree_size: tree_size.parse().map_err(|_| error(number, "view tree size must be a number"))?,
                        digest: Hash256::from_hex(digest)
                            .map_err(|_| error(number, "view digest must be 64 hex digits"))?,
                    });
                }
                "event" => export.events.push(BASE64.decode(rest).map_err(|_| error(number, "event must be base64"))?),
                "end" => {
                    let count: usize = rest.parse().map_err(|_| error(number, "end needs the event count"))?;
                    if count != export.events.len() {
                        return Err(error(
                            number,
                            "the end line's count differs from the events present: the export is truncated or spliced",
                        ));
                    }
                    ended = true;
                }
                _ => return Err(error(number, "unknown line kind")),
            }
        }
        if !ended {
            return Err(error(text.lines().count().saturating_sub(1), "the export has no end line: it is truncated"));
        }
        Ok(export)
    }
}
