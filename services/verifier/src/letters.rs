//! What only an auditor holding the address list can check of a letter lottery (FORMAT.md
//! §9.1): that the list is the one committed to, holds the planned counts, that the revealed
//! seed invites the addresses it does, and that every pool member's letter is one of them.
//! The list's CSV is read by the caller (`klero verify --letters`), since this crate does no I/O.

use crate::{Failure, FailureClass};
use klero_domain::events::LettersPlanned;
use klero_domain::letter_lottery::{draw_letters, letter_commitment, Address};
use klero_domain::DomainEvent;
use klero_ledger::envelope::Envelope;
use klero_ledger::Hash256;
use std::collections::{BTreeMap, HashSet};

/// An address list as the auditor read it with a plan's area column: each address's key and
/// area, as `klero_selection::read_address_list` gives them.
pub type ReadAddresses = (Vec<Vec<u8>>, Vec<String>);

/// One assembly's letter lottery, as the auditor's list shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LetterAudit {
    pub assembly_id: String,
    /// The log index of its `LettersPlanned`.
    pub planned_at: u64,
    pub addresses: u32,
    /// Letters the seed drew (0 before `LettersDrawn`).
    pub invited: usize,
    /// Pool members, and those who name a letter (every one of them invited).
    pub volunteers: usize,
    pub volunteers_with_letter: usize,
}

impl LetterAudit {
    pub fn to_text(&self) -> String {
        format!(
            "letters: assembly {} (planned at log index {}): {} letters drawn from {} addresses; {} of {} volunteers answered an invited letter, {} named none\n",
            self.assembly_id,
            self.planned_at,
            self.invited,
            self.addresses,
            self.volunteers_with_letter,
            self.volunteers,
            self.volunteers - self.volunteers_with_letter
        )
    }
}

fn letters_failure(position: u64, reason: String) -> Failure {
    Failure { class: FailureClass::Letters, position: Some(position), line: None, reason }
}

/// Checks every letter lottery of `events` whose plan commits to the list with SHA-256
/// `list_hash`, reading the list through `read_list` with the plan's area column (`None`
/// without one). Fails (class `letters`) when no plan commits to the list, when the list does
/// not hold the planned counts, or when a pool member names a letter the seed did not draw.
/// The events must have verified already: this reads, it does not replay the rules. They are
/// read once, in order, and not kept.
pub fn check_letters(
    events: impl IntoIterator<Item = Vec<u8>>,
    list_hash: Hash256,
    salt: &[u8; 32],
    read_list: &dyn Fn(Option<&str>) -> Result<ReadAddresses, String>,
) -> Result<Vec<LetterAudit>, Failure> {
    let mut audits: BTreeMap<String, (LetterAudit, HashSet<Hash256>)> = BTreeMap::new();
    // Each planned lottery's plan and list, until its seed comes.
    let mut pending: BTreeMap<String, (LettersPlanned, ReadAddresses)> = BTreeMap::new();
    // One event at a time: the export may be far larger than memory.
    for (index, bytes) in events.into_iter().enumerate() {
        let index = index as u64;
        let Ok(envelope) = Envelope::parse(bytes) else { continue };
        let stream = &envelope.author().stream;
        let Some(assembly) = stream.strip_prefix("assembly/").and_then(|s| s.strip_suffix("/selection")) else {
            continue;
        };
        match klero_fold::LogFold::decode(&envelope) {
            Ok(DomainEvent::LettersPlanned(plan)) if plan.address_list_hash == list_hash => {
                let area_column = (!plan.area_column.is_empty()).then_some(plan.area_column.as_str());
                let (keys, areas) = read_list(area_column).map_err(|reason| letters_failure(index, reason))?;
                if keys.len() as u64 != plan.address_count as u64 {
                    return Err(letters_failure(
                        index,
                        format!(
                            "the address list holds {} addresses; the plan says {}",
                            keys.len(),
                            plan.address_count
                        ),
                    ));
                }
                let audit = LetterAudit {
                    assembly_id: assembly.to_string(),
                    planned_at: index,
                    addresses: plan.address_count,
                    invited: 0,
                    volunteers: 0,
                    volunteers_with_letter: 0,
                };
                audits.insert(assembly.to_string(), (audit, HashSet::new()));
                pending.insert(assembly.to_string(), (plan, (keys, areas)));
            }
            Ok(DomainEvent::LettersDrawn(drawn)) => {
                let Some((plan, (keys, areas))) = pending.remove(assembly) else { continue };
                let addresses: Vec<Address<'_>> =
                    keys.iter().zip(&areas).map(|(key, area)| Address { key, area }).collect();
                let invited = draw_letters(&addresses, plan.letter_count, &plan.areas, &drawn.seed).map_err(|e| {
                    letters_failure(index, format!("the address list does not give the planned draw: {e}"))
                })?;
                if let Some((audit, letters)) = audits.get_mut(assembly) {
                    audit.invited = invited.len();
                    letters.extend(invited.iter().map(|&i| letter_commitment(salt, &keys[i])));
                }
            }
            Ok(DomainEvent::PoolRegistered(pool)) => {
                let Some((audit, letters)) = audits.get_mut(assembly) else { continue };
                audit.volunteers = pool.members.len();
                for member in &pool.members {
                    let Some(letter) = member.letter else { continue };
                    if !letters.contains(&letter) {
                        return Err(letters_failure(
                            index,
                            format!(
                                "pool member {} names letter {letter}, which is not the commitment of any address the seed invited (or the salt is not the council's)",
                                member.id
                            ),
                        ));
                    }
                    audit.volunteers_with_letter += 1;
                }
            }
            _ => {}
        }
    }
    if audits.is_empty() {
        return Err(Failure {
            class: FailureClass::Letters,
            position: None,
            line: None,
            reason: format!("no LettersPlanned on the record commits to an address list with SHA-256 {list_hash}"),
        });
    }
    Ok(audits.into_values().map(|(audit, _)| audit).collect())
}
