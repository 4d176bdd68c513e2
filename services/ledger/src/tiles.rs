//! The log as C2SP tlog-tiles: tile paths, and the bundles of entries and envelopes.
//!
//! - `tile/<L>/<N>[.p/<W>]`: `W` (256 when full) consecutive Merkle tree hashes at height
//!   `8·L`, the hashes of the subtrees `N·256 … N·256 + W − 1` of `256^L` leaves each. At level
//!   0 these are the leaf hashes.
//! - `tile/entries/<N>[.p/<W>]`: the log entries of leaves `N·256 …`, each as a big-endian
//!   u16 length then the entry. Kleroterion's entry is the 32-byte event hash (FORMAT.md §3).
//! - `klero/envelopes/<N>[.p/<W>]` (Kleroterion's own, at another address as the spec asks of
//!   differently encoded entries): the envelopes of the same leaves, each as a big-endian u32
//!   length then the envelope bytes, so a monitor can check signatures, chains and rules.
//!
//! `<N>` is written in groups of three digits, all but the last prefixed with `x`
//! (`1234067` → `x001/x234/067`); `<W>` is 1 to 255 with no leading zero.

use crate::envelope::ENVELOPE_BYTES_MAX;
use crate::Hash256;

/// Hashes in a full tile, and entries in a full bundle.
pub const TILE_WIDTH: u64 = 256;
/// Tree levels one tile level spans.
pub const TILE_HEIGHT: u32 = 8;
/// The highest tile level the spec allows.
pub const TILE_LEVEL_MAX: u8 = 63;
/// Longest path we parse: the longest valid one (a 20-digit index, `.p/255`) is well under it.
pub const TILE_PATH_BYTES_MAX: usize = 96;

/// What a tile path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TileKind {
    /// Merkle tree hashes at tile level `level`.
    Hashes { level: u8 },
    /// Log entries (event hashes): the spec's entry bundle.
    Entries,
    /// Envelopes: Kleroterion's bundle of the same leaves.
    Envelopes,
}

/// One tile or bundle: its kind, index `N` and width `W` (1 to 256; 256 is full).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TilePath {
    pub kind: TileKind,
    pub index: u64,
    pub width: u16,
}

/// Why a tile path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a tile path: {reason}")]
pub struct TilePathError {
    pub reason: &'static str,
}

fn bad(reason: &'static str) -> TilePathError {
    TilePathError { reason }
}

/// Writes `n` as the spec's path elements: `x001/x234/067`.
pub fn index_path(n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    let mut rest = n / 1000;
    while rest > 0 {
        groups.push(format!("x{:03}", rest % 1000));
        rest /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

impl TilePath {
    /// Parses a path relative to the log's prefix, e.g. `tile/0/x001/234.p/17`. Exactly one
    /// spelling of each tile is accepted: no leading zeros, no empty groups, no `.p/256`.
    pub fn parse(path: &str) -> Result<TilePath, TilePathError> {
        if path.len() > TILE_PATH_BYTES_MAX {
            return Err(bad("too long"));
        }
        let (kind, rest) = if let Some(rest) = path.strip_prefix("tile/entries/") {
            (TileKind::Entries, rest)
        } else if let Some(rest) = path.strip_prefix("klero/envelopes/") {
            (TileKind::Envelopes, rest)
        } else if let Some(rest) = path.strip_prefix("tile/") {
            let (level, rest) = rest.split_once('/').ok_or(bad("no index after the level"))?;
            let level =
                crate::text::decimal_u64(level).ok_or(bad("the level is not a decimal without leading zeros"))?;
            let level =
                u8::try_from(level).ok().filter(|l| *l <= TILE_LEVEL_MAX).ok_or(bad("the level is above 63"))?;
            (TileKind::Hashes { level }, rest)
        } else {
            return Err(bad("it starts with neither tile/ nor klero/envelopes/"));
        };
        let (index_part, width) = match rest.split_once(".p/") {
            Some((index, width)) => {
                let width =
                    crate::text::decimal_u64(width).ok_or(bad("the width is not a decimal without leading zeros"))?;
                let width = u16::try_from(width).ok().filter(|w| (1..TILE_WIDTH as u16).contains(w));
                (index, width.ok_or(bad("a partial width must be 1 to 255"))?)
            }
            None => (rest, TILE_WIDTH as u16),
        };
        let mut index: u64 = 0;
        let groups: Vec<&str> = index_part.split('/').collect();
        for (i, group) in groups.iter().enumerate() {
            let digits = if i + 1 < groups.len() {
                group.strip_prefix('x').ok_or(bad("every index element but the last starts with x"))?
            } else {
                group
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("index elements are three digits"));
            }
            let value: u64 = digits.parse().map_err(|_| bad("index elements are three digits"))?;
            index = index.checked_mul(1000).and_then(|i| i.checked_add(value)).ok_or(bad("the index overflows"))?;
        }
        let tile = TilePath { kind, index, width };
        // One spelling per tile: `x000/001` and `001` name the same index.
        if tile.to_path() != path {
            return Err(bad("the index has leading zero groups"));
        }
        Ok(tile)
    }

    /// The path, relative to the log's prefix.
    pub fn to_path(&self) -> String {
        let prefix = match self.kind {
            TileKind::Hashes { level } => format!("tile/{level}/"),
            TileKind::Entries => "tile/entries/".to_string(),
            TileKind::Envelopes => "klero/envelopes/".to_string(),
        };
        let partial = if self.is_full() { String::new() } else { format!(".p/{}", self.width) };
        format!("{prefix}{}{partial}", index_path(self.index))
    }

    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// The tree level of the hashes a hash tile holds (`8·L`); 0 for bundles.
    pub fn tree_height(&self) -> u32 {
        match self.kind {
            TileKind::Hashes { level } => TILE_HEIGHT * u32::from(level),
            TileKind::Entries | TileKind::Envelopes => 0,
        }
    }

    /// The first of the `width` subtrees (of `2^tree_height` leaves each) it holds.
    pub fn first_subtree(&self) -> Option<u64> {
        self.index.checked_mul(TILE_WIDTH)
    }

    /// The smallest tree that holds everything it covers: `(N·256 + W)·256^L`. `None` if no
    /// tree of 2^64 leaves would.
    pub fn tree_size_needed(&self) -> Option<u64> {
        let subtrees = self.first_subtree()?.checked_add(u64::from(self.width))?;
        let height = self.tree_height();
        if height >= 64 {
            return None;
        }
        let needed = subtrees.checked_mul(1u64 << height)?;
        Some(needed)
    }
}

/// A hash tile's bytes: the hashes, concatenated.
pub fn hash_tile(hashes: &[Hash256]) -> Vec<u8> {
    hashes.iter().flat_map(|hash| hash.0).collect()
}

/// An entry bundle of event hashes: each as `u16 BE 32` then its 32 bytes.
pub fn entry_bundle(event_hashes: &[Hash256]) -> Vec<u8> {
    let mut bundle = Vec::with_capacity(event_hashes.len() * 34);
    for hash in event_hashes {
        bundle.extend_from_slice(&32u16.to_be_bytes());
        bundle.extend_from_slice(&hash.0);
    }
    bundle
}

/// An envelope bundle: each envelope as `u32 BE length` then its bytes.
pub fn envelope_bundle<'a>(envelopes: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut bundle = Vec::new();
    for envelope in envelopes {
        let length = u32::try_from(envelope.len()).expect("an envelope is at most ENVELOPE_BYTES_MAX bytes");
        bundle.extend_from_slice(&length.to_be_bytes());
        bundle.extend_from_slice(envelope);
    }
    bundle
}

/// Why a bundle or tile's bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what}: {reason}")]
pub struct BundleError {
    pub what: &'static str,
    pub reason: String,
}

/// Splits an entry bundle into its entries, which must number exactly `width`.
pub fn parse_entry_bundle(bytes: &[u8], width: usize) -> Result<Vec<&[u8]>, BundleError> {
    parse_bundle(bytes, width, 2, u16::MAX as usize, "entry bundle")
}

/// Splits an envelope bundle into its envelopes, which must number exactly `width`.
pub fn parse_envelope_bundle(bytes: &[u8], width: usize) -> Result<Vec<&[u8]>, BundleError> {
    parse_bundle(bytes, width, 4, ENVELOPE_BYTES_MAX, "envelope bundle")
}

fn parse_bundle<'b>(
    mut bytes: &'b [u8],
    width: usize,
    length_bytes: usize,
    item_bytes_max: usize,
    what: &'static str,
) -> Result<Vec<&'b [u8]>, BundleError> {
    let error = |reason: String| BundleError { what, reason };
    let mut items = Vec::with_capacity(width.min(TILE_WIDTH as usize));
    while !bytes.is_empty() {
        if items.len() == width {
            return Err(error(format!("more than the {width} items its path gives")));
        }
        if bytes.len() < length_bytes {
            return Err(error(format!("item {} has a cut length", items.len())));
        }
        let (length, rest) = bytes.split_at(length_bytes);
        let length = length.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        if length > item_bytes_max || length > rest.len() {
            return Err(error(format!("item {} claims {length} bytes, more than there are or may be", items.len())));
        }
        let (item, rest) = rest.split_at(length);
        items.push(item);
        bytes = rest;
    }
    if items.len() != width {
        return Err(error(format!("{} items where its path gives {width}", items.len())));
    }
    Ok(items)
}

/// Splits a hash tile into its hashes, which must number exactly `width`.
pub fn parse_hash_tile(bytes: &[u8], width: usize) -> Result<Vec<Hash256>, BundleError> {
    if bytes.len() != width * 32 {
        return Err(BundleError {
            what: "hash tile",
            reason: format!("{} bytes where {width} hashes take {}", bytes.len(), width * 32),
        });
    }
    Ok(bytes.chunks_exact(32).map(|chunk| Hash256(chunk.try_into().expect("32-byte chunks"))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_and_have_one_spelling() {
        for (path, kind, index, width) in [
            ("tile/0/000", TileKind::Hashes { level: 0 }, 0, 256),
            ("tile/0/x001/x234/067", TileKind::Hashes { level: 0 }, 1_234_067, 256),
            ("tile/1/x001/x234/067.p/8", TileKind::Hashes { level: 1 }, 1_234_067, 8),
            ("tile/entries/x001/000.p/255", TileKind::Entries, 1000, 255),
            ("klero/envelopes/012", TileKind::Envelopes, 12, 256),
        ] {
            let tile = TilePath::parse(path).unwrap();
            assert_eq!(tile, TilePath { kind, index, width });
            assert_eq!(tile.to_path(), path);
        }
        for bad in [
            "tile/00/000",
            "tile/64/000",
            "tile/0/0",
            "tile/0/x000/001",
            "tile/0/001.p/0",
            "tile/0/001.p/256",
            "tile/0/001.p/07",
            "tile/0/1234",
            "tile/0/x1/234",
            "tile/0/001/002",
            "tile/data/000",
            "tile/entries/",
            "checkpoint",
            "tile/0/x018/x446/x744/x073/x709/x551/x616/000",
        ] {
            assert!(TilePath::parse(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn tree_size_needed_follows_the_spec_example() {
        // A tree of 70,000 leaves: level-0 partial of width 112 at index 273, level-1 partial
        // of width 17, level-2 partial of width 1.
        let level = |level, index, width| TilePath { kind: TileKind::Hashes { level }, index, width };
        assert_eq!(level(0, 273, 112).tree_size_needed(), Some(70_000));
        assert_eq!(level(1, 0, 17).tree_size_needed(), Some(17 * 256));
        assert_eq!(level(2, 0, 1).tree_size_needed(), Some(65_536));
        assert_eq!(level(63, 0, 1).tree_size_needed(), None);
    }

    #[test]
    fn bundles_parse_to_exactly_their_width() {
        let hashes = [Hash256([1; 32]), Hash256([2; 32])];
        let bundle = entry_bundle(&hashes);
        assert_eq!(parse_entry_bundle(&bundle, 2).unwrap(), vec![&[1u8; 32][..], &[2u8; 32][..]]);
        assert!(parse_entry_bundle(&bundle, 1).is_err());
        assert!(parse_entry_bundle(&bundle, 3).is_err());
        assert!(parse_entry_bundle(&bundle[..bundle.len() - 1], 2).is_err());
        let envelopes = envelope_bundle([&b"abc"[..], &b""[..]]);
        assert_eq!(parse_envelope_bundle(&envelopes, 2).unwrap(), vec![&b"abc"[..], &b""[..]]);
        assert!(parse_envelope_bundle(&[0xff, 0xff, 0xff, 0xff], 1).is_err());
        assert_eq!(parse_hash_tile(&hash_tile(&hashes), 2).unwrap(), hashes.to_vec());
    }
}
