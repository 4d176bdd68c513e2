//! The export file (docs/FORMAT.md §8): everything an auditor needs, in one text file, read
//! and written as a stream, so that neither side holds the whole log in memory.
//!
//! ```text
//! klero-export/v1
//! log-key <C2SP verifier key>
//! trust-root <hex of the trust root's 32-byte public key>
//! checkpoint <base64 of a signed checkpoint note>            (zero or more)
//! view <name> <assembly id> <tree size> <hex SHA-256 digest>  (zero or more)
//! event <base64 of an envelope>                               (every event, in log order)
//! end <number of events>
//! ```
//!
//! The grammar is strict: the lines come in exactly this order, each ends with one LF (no
//! CR), the last is the `end` line and ends with LF too, base64 is canonical (RFC 4648 §4,
//! padded) and hex is lowercase. Anything else is a format failure naming its line.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use klero_ledger::Hash256;
use std::io::{BufRead, Write};

pub const HEADER: &str = "klero-export/v1";
/// Most events an export may hold.
pub const EXPORT_EVENTS_MAX: u64 = 1_000_000_000;
/// Longest line: an event line holding the largest envelope, in base64, plus its keyword.
pub const EXPORT_LINE_BYTES_MAX: usize = klero_ledger::envelope::ENVELOPE_BYTES_MAX.div_ceil(3) * 4 + 64;
/// Most checkpoint and view lines together: they are held in memory while events stream.
pub const EXPORT_CHECKPOINTS_MAX: usize = 1_000_000;

/// A published view digest to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedView {
    pub name: String,
    pub assembly_id: String,
    pub tree_size: u64,
    pub digest: Hash256,
}

/// Everything before the events: the keys, the checkpoints and the published views.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportHeader {
    pub log_key: String,
    pub trust_root: [u8; 32],
    /// Signed checkpoint notes, as text.
    pub checkpoints: Vec<String>,
    pub views: Vec<PublishedView>,
}

/// A whole export in memory, for tests, benchmarks and small logs. Events stay the exact bytes
/// exported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Export {
    pub log_key: String,
    pub trust_root: [u8; 32],
    pub checkpoints: Vec<String>,
    pub views: Vec<PublishedView>,
    pub events: Vec<Vec<u8>>,
}

/// Why an export file could not be read: its 1-based line, and for an event line the log index
/// of the event it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFormatError {
    pub line: u64,
    pub log_index: Option<u64>,
    pub reason: String,
}

impl std::error::Error for ExportFormatError {}

impl std::fmt::Display for ExportFormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.log_index {
            Some(index) => write!(f, "export line {} (log index {index}): {}", self.line, self.reason),
            None => write!(f, "export line {}: {}", self.line, self.reason),
        }
    }
}

/// Writes an export line by line: the header, then each event, then [`ExportWriter::finish`].
#[derive(Debug)]
pub struct ExportWriter<W: Write> {
    out: W,
    events: u64,
}

impl<W: Write> ExportWriter<W> {
    /// Writes everything before the events.
    pub fn start(mut out: W, header: &ExportHeader) -> std::io::Result<ExportWriter<W>> {
        writeln!(out, "{HEADER}")?;
        writeln!(out, "log-key {}", header.log_key)?;
        writeln!(out, "trust-root {}", klero_ledger::hash::to_hex(&header.trust_root))?;
        for note in &header.checkpoints {
            writeln!(out, "checkpoint {}", BASE64.encode(note))?;
        }
        for view in &header.views {
            writeln!(out, "view {} {} {} {}", view.name, view.assembly_id, view.tree_size, view.digest.to_hex())?;
        }
        Ok(ExportWriter { out, events: 0 })
    }

    /// Writes the next event's envelope bytes.
    pub fn event(&mut self, envelope: &[u8]) -> std::io::Result<()> {
        self.out.write_all(b"event ")?;
        self.out.write_all(BASE64.encode(envelope).as_bytes())?;
        self.out.write_all(b"\n")?;
        self.events += 1;
        Ok(())
    }

    /// Writes the `end` line and returns the output and the number of events written.
    pub fn finish(mut self) -> std::io::Result<(W, u64)> {
        writeln!(self.out, "end {}", self.events)?;
        self.out.flush()?;
        Ok((self.out, self.events))
    }
}

/// Reads an export line by line. [`ExportReader::header`] reads everything before the events;
/// then [`ExportReader::next_event`] yields each event's bytes, and `None` once the `end` line
/// has confirmed the count.
#[derive(Debug)]
pub struct ExportReader<R: BufRead> {
    input: R,
    /// Lines read so far.
    line: u64,
    /// A line read ahead while looking for the end of the header.
    pending: Option<Vec<u8>>,
    events: u64,
    ended: bool,
}

fn error(line: u64, reason: impl Into<String>) -> ExportFormatError {
    ExportFormatError { line, log_index: None, reason: reason.into() }
}

fn base64_canonical(text: &str, what: &str, line: u64) -> Result<Vec<u8>, ExportFormatError> {
    let bytes = BASE64.decode(text).map_err(|_| error(line, format!("{what} must be base64 (RFC 4648 §4, padded)")))?;
    // One form only: the decoder refuses stray bits, and the padding must be as encoded.
    if BASE64.encode(&bytes) != text {
        return Err(error(line, format!("{what} must be canonical base64")));
    }
    Ok(bytes)
}

impl<R: BufRead> ExportReader<R> {
    pub fn new(input: R) -> ExportReader<R> {
        ExportReader { input, line: 0, pending: None, events: 0, ended: false }
    }

    /// The next line without its LF; `None` at the end of the input.
    fn read_line(&mut self) -> Result<Option<Vec<u8>>, ExportFormatError> {
        if let Some(line) = self.pending.take() {
            self.line += 1;
            return Ok(Some(line));
        }
        let mut bytes = Vec::new();
        let read = std::io::Read::take(&mut self.input, EXPORT_LINE_BYTES_MAX as u64 + 2)
            .read_until(b'\n', &mut bytes)
            .map_err(|e| error(self.line + 1, format!("cannot be read: {e}")))?;
        if read == 0 {
            return Ok(None);
        }
        self.line += 1;
        if bytes.last() != Some(&b'\n') {
            return Err(if bytes.len() > EXPORT_LINE_BYTES_MAX {
                error(self.line, "is longer than the largest envelope allows")
            } else {
                error(self.line, "does not end with a newline: the export is cut short")
            });
        }
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            return Err(error(self.line, "ends with CR LF; lines end with LF alone"));
        }
        Ok(Some(bytes))
    }

    /// The next line as text, split into its keyword and value.
    fn next_item(&mut self) -> Result<Option<(String, String)>, ExportFormatError> {
        let Some(bytes) = self.read_line()? else { return Ok(None) };
        let text = String::from_utf8(bytes).map_err(|_| error(self.line, "is not UTF-8"))?;
        let (kind, rest) = text.split_once(' ').ok_or_else(|| error(self.line, "expected '<kind> <value>'"))?;
        Ok(Some((kind.to_string(), rest.to_string())))
    }

    /// Reads everything before the first event (or the `end` line).
    pub fn header(&mut self) -> Result<ExportHeader, ExportFormatError> {
        match self.read_line()? {
            Some(line) if line == HEADER.as_bytes() => {}
            Some(_) => return Err(error(self.line, format!("the first line must be {HEADER}"))),
            None => return Err(error(1, "the export is empty")),
        }
        let mut header = ExportHeader::default();
        match self.next_item()? {
            Some((kind, value)) if kind == "log-key" => header.log_key = value,
            _ => return Err(error(self.line.max(2), "the second line must be 'log-key <verifier key>'")),
        }
        match self.next_item()? {
            Some((kind, value)) if kind == "trust-root" => {
                let bytes = klero_ledger::hash::from_hex(&value)
                    .ok()
                    .filter(|_| value.bytes().all(|b| !b.is_ascii_uppercase()))
                    .ok_or_else(|| error(self.line, "trust-root must be lowercase hex"))?;
                header.trust_root = bytes.try_into().map_err(|_| error(self.line, "trust-root must be 32 bytes"))?;
            }
            _ => return Err(error(self.line.max(3), "the third line must be 'trust-root <hex>'")),
        }
        loop {
            let Some(bytes) = self.read_line()? else {
                return Err(error(self.line + 1, "the export has no end line: it is cut short"));
            };
            let kind = bytes.split(|&b| b == b' ').next().unwrap_or(&[]).to_vec();
            if kind == b"event" || kind == b"end" {
                self.pending = Some(bytes);
                self.line -= 1;
                return Ok(header);
            }
            if header.checkpoints.len() + header.views.len() >= EXPORT_CHECKPOINTS_MAX {
                return Err(error(self.line, "the export holds more checkpoints and views than the verifier accepts"));
            }
            let text = String::from_utf8(bytes).map_err(|_| error(self.line, "is not UTF-8"))?;
            let (kind, rest) = text.split_once(' ').ok_or_else(|| error(self.line, "expected '<kind> <value>'"))?;
            match kind {
                "checkpoint" if header.views.is_empty() => {
                    let bytes = base64_canonical(rest, "a checkpoint", self.line)?;
                    let note = String::from_utf8(bytes).map_err(|_| error(self.line, "a checkpoint must be UTF-8"))?;
                    header.checkpoints.push(note);
                }
                "checkpoint" => return Err(error(self.line, "checkpoint lines come before view lines")),
                "view" => header.views.push(self.view(rest)?),
                _ => return Err(error(self.line, format!("'{kind}' is not a line kind here"))),
            }
        }
    }

    fn view(&self, rest: &str) -> Result<PublishedView, ExportFormatError> {
        let parts: Vec<&str> = rest.split(' ').collect();
        let [name, assembly_id, tree_size, digest] = parts[..] else {
            return Err(error(self.line, "a view line holds a name, an assembly id, a tree size and a digest"));
        };
        if klero_projections::ViewName::parse(name).is_none() {
            return Err(error(self.line, format!("{name:?} is not a view name (FORMAT.md §7)")));
        }
        if !klero_domain::AssemblyId::is_valid(assembly_id) {
            return Err(error(self.line, format!("{assembly_id:?} is not an assembly id (FORMAT.md §1)")));
        }
        let canonical_number = tree_size.parse::<u64>().ok().filter(|n| n.to_string() == tree_size);
        let digest = Hash256::from_hex(digest)
            .ok()
            .filter(|_| digest.bytes().all(|b| !b.is_ascii_uppercase()))
            .ok_or_else(|| error(self.line, "a view digest is 64 lowercase hex digits"))?;
        Ok(PublishedView {
            name: name.to_string(),
            assembly_id: assembly_id.to_string(),
            tree_size: canonical_number
                .ok_or_else(|| error(self.line, "a view's tree size is a decimal number without leading zeros"))?,
            digest,
        })
    }

    /// The next event's envelope bytes; `None` once the `end` line has confirmed the count and
    /// nothing follows it.
    pub fn next_event(&mut self) -> Result<Option<Vec<u8>>, ExportFormatError> {
        if self.ended {
            return Ok(None);
        }
        let log_index = self.events;
        let Some(bytes) = self.read_line()? else {
            return Err(error(self.line + 1, "the export has no end line: it is cut short"));
        };
        if let Some(encoded) = bytes.strip_prefix(b"event ") {
            if self.events >= EXPORT_EVENTS_MAX {
                return Err(error(self.line, "the export holds more events than the verifier accepts"));
            }
            let text = std::str::from_utf8(encoded).map_err(|_| error(self.line, "is not UTF-8"))?;
            let envelope = base64_canonical(text, "an event", self.line)
                .map_err(|e| ExportFormatError { log_index: Some(log_index), ..e })?;
            self.events += 1;
            return Ok(Some(envelope));
        }
        if let Some(count) = bytes.strip_prefix(b"end ") {
            let count = std::str::from_utf8(count)
                .ok()
                .and_then(|c| c.parse::<u64>().ok().filter(|n| n.to_string() == c))
                .ok_or_else(|| error(self.line, "the end line holds the number of events, in decimal"))?;
            if count != self.events {
                return Err(error(
                    self.line,
                    format!(
                        "the end line counts {count} events but {} are present: the export is cut or spliced",
                        self.events
                    ),
                ));
            }
            if self.read_line()?.is_some() {
                return Err(error(self.line, "nothing may follow the end line"));
            }
            self.ended = true;
            return Ok(None);
        }
        Err(error(self.line, "after the first event, only event lines and the end line may follow"))
    }
}

impl Export {
    pub fn header(&self) -> ExportHeader {
        ExportHeader {
            log_key: self.log_key.clone(),
            trust_root: self.trust_root,
            checkpoints: self.checkpoints.clone(),
            views: self.views.clone(),
        }
    }

    pub fn encode(&self) -> String {
        let mut writer = ExportWriter::start(Vec::new(), &self.header()).expect("writing to memory");
        for event in &self.events {
            writer.event(event).expect("writing to memory");
        }
        let (bytes, _) = writer.finish().expect("writing to memory");
        String::from_utf8(bytes).expect("an export is ASCII")
    }

    pub fn parse(text: &str) -> Result<Export, ExportFormatError> {
        let mut reader = ExportReader::new(text.as_bytes());
        let header = reader.header()?;
        let mut events = Vec::new();
        while let Some(event) = reader.next_event()? {
            events.push(event);
        }
        Ok(Export {
            log_key: header.log_key,
            trust_root: header.trust_root,
            checkpoints: header.checkpoints,
            views: header.views,
            events,
        })
    }
}
