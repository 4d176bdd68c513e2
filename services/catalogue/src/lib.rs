//! Kleroterion's event catalogue codec: protobuf payloads → validated domain events.
//!
//! Every wire field is validated here, once, and every violation names its field; the rules
//! never see a prost type. The server's edge (`klero-api`), the projections and the auditor's
//! verifier all decode through this one function, so they can never disagree on a payload.

use klero_domain::events::*;
use klero_domain::*;
use klero_ledger::Hash256;
use klero_proto as pb;
use prost::Message;

/// Longest free-text field (titles, agendas, reasons, notes).
pub const TEXT_BYTES_MAX: usize = 2_000;
/// Longest rationale of a council response.
pub const RATIONALE_BYTES_MAX: usize = 10_000;
/// Most quotas in a selection plan.
pub const QUOTAS_MAX: usize = 200;
/// Most volunteers in a pool.
pub const POOL_MEMBERS_MAX: usize = 10_000;
/// Most feature values per volunteer.
pub const MEMBER_FEATURES_MAX: usize = 32;
/// Most panels in a published lottery.
pub const LOTTERY_PANELS_MAX: usize = 100_000;
/// Pseudonymous ids: 1 to 64 of `A-Z a-z 0-9 - _`.
pub const PSEUDONYM_BYTES_MAX: usize = 64;

/// One invalid field: its path in the payload and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

type Violations = Vec<FieldViolation>;

fn violation(field: impl Into<String>, description: impl Into<String>) -> FieldViolation {
    FieldViolation { field: field.into(), description: description.into() }
}

/// Collects violations while reading fields, so one response lists them all.
#[derive(Default)]
struct Checker {
    violations: Violations,
}

impl Checker {
    fn text(&mut self, field: &str, value: &str, max: usize) -> String {
        if value.trim().is_empty() {
            self.violations.push(violation(field, "is required"));
        } else if value.len() > max {
            self.violations.push(violation(field, format!("is {} bytes; the limit is {max}", value.len())));
        }
        value.to_string()
    }

    fn pseudonym(&mut self, field: &str, value: &str) -> String {
        let ok = !value.is_empty()
            && value.len() <= PSEUDONYM_BYTES_MAX
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            self.violations
                .push(violation(field, "must be a pseudonymous id: 1 to 64 of A-Z a-z 0-9 - _ (never a name)"));
        }
        value.to_string()
    }

    fn hash(&mut self, field: &str, value: &[u8]) -> Hash256 {
        match <[u8; 32]>::try_from(value) {
            Ok(bytes) => Hash256(bytes),
            Err(_) => {
                self.violations
                    .push(violation(field, format!("must be a 32-byte SHA-256 hash, got {} bytes", value.len())));
                Hash256::ZERO
            }
        }
    }

    fn date(&mut self, field: &str, value: &str) -> Date {
        Date::parse(value).unwrap_or_else(|reason| {
            self.violations.push(violation(field, reason));
            Date(0)
        })
    }

    fn range(&mut self, field: &str, value: u32, min: u32, max: u32) -> u32 {
        if value < min || value > max {
            self.violations.push(violation(field, format!("must be between {min} and {max}")));
        }
        value
    }

    fn public_key(&mut self, field: &str, value: &[u8]) -> [u8; 32] {
        let Ok(bytes) = <[u8; 32]>::try_from(value) else {
            self.violations.push(violation(field, "must be a 32-byte Ed25519 public key"));
            return [0; 32];
        };
        // The same rule the ledger applies to every author key (FORMAT.md §2.2).
        if let Err(why) = klero_ledger::signature::AuthorKey::from_bytes(&bytes) {
            self.violations.push(violation(field, format!("is not a usable Ed25519 public key: {why}")));
        }
        bytes
    }

    fn role(&mut self, field: &str, value: i32) -> Role {
        match pb::registry::Role::try_from(value) {
            Ok(pb::registry::Role::Convenor) => Role::Convenor,
            Ok(pb::registry::Role::SelectionOperator) => Role::SelectionOperator,
            Ok(pb::registry::Role::Facilitator) => Role::Facilitator,
            Ok(pb::registry::Role::PanelSecretary) => Role::PanelSecretary,
            Ok(pb::registry::Role::CouncilDecisionMaker) => Role::CouncilDecisionMaker,
            Ok(pb::registry::Role::Auditor) => Role::Auditor,
            _ => {
                self.violations.push(violation(field, "must be a role other than ROLE_UNSPECIFIED"));
                Role::Auditor
            }
        }
    }

    fn scope(&mut self, field: &str, value: &str) -> Scope {
        Scope::parse(value).unwrap_or_else(|reason| {
            self.violations.push(violation(field, reason));
            Scope::AllAssemblies
        })
    }

    fn decision(&mut self, field: &str, value: i32) -> Decision {
        match pb::response::Decision::try_from(value) {
            Ok(pb::response::Decision::Accepted) => Decision::Accepted,
            Ok(pb::response::Decision::AcceptedInPart) => Decision::AcceptedInPart,
            Ok(pb::response::Decision::NotAccepted) => Decision::NotAccepted,
            Ok(pb::response::Decision::ReferredForFurtherStudy) => Decision::ReferredForFurtherStudy,
            _ => {
                self.violations.push(violation(field, "must be a decision other than DECISION_UNSPECIFIED"));
                Decision::NotAccepted
            }
        }
    }

    fn finish<T>(self, value: T) -> Result<T, Violations> {
        if self.violations.is_empty() {
            Ok(value)
        } else {
            Err(self.violations)
        }
    }
}

/// Decodes a payload strictly: it must be the canonical encoding of its message, so the signed
/// bytes carry no unknown fields (which could smuggle data past the rules) and have one form.
fn decode_canonical<M: Message + Default>(payload: &[u8]) -> Result<M, Violations> {
    let message =
        M::decode(payload).map_err(|e| vec![violation("payload", format!("is not a valid protobuf message: {e}"))])?;
    if message.encode_to_vec() != payload {
        return Err(vec![violation(
            "payload",
            "must be the canonical protobuf encoding (fields in order, no unknown fields, no default values)",
        )]);
    }
    Ok(message)
}

/// Decodes and validates the payload of `event_type` at `version` into a domain event.
pub fn decode_event(event_type: &str, version: u32, payload: &[u8]) -> Result<DomainEvent, Violations> {
    let known = pb::EVENT_CATALOGUE.iter().find(|(name, _)| *name == event_type);
    match known {
        None => return Err(vec![violation("event_type", format!("{event_type} is not in the event catalogue"))]),
        Some((_, supported)) if *supported != version => {
            return Err(vec![violation(
                "event_version",
                format!("{event_type} is at version {supported}, not {version}"),
            )]);
        }
        Some(_) => {}
    }
    let mut c = Checker::default();
    let event = match event_type {
        "klero.registry.v1.KeyGranted" => {
            let m: pb::registry::KeyGranted = decode_canonical(payload)?;
            DomainEvent::KeyGranted(KeyGranted {
                public_key: c.public_key("public_key", &m.public_key),
                role: c.role("role", m.role),
                scope: c.scope("scope", &m.scope),
                holder_title: c.text("holder_title", &m.holder_title, TEXT_BYTES_MAX),
            })
        }
        "klero.registry.v1.KeyRevoked" => {
            let m: pb::registry::KeyRevoked = decode_canonical(payload)?;
            DomainEvent::KeyRevoked(KeyRevoked {
                public_key: c.public_key("public_key", &m.public_key),
                role: c.role("role", m.role),
                scope: c.scope("scope", &m.scope),
                reason: c.text("reason", &m.reason, TEXT_BYTES_MAX),
            })
        }
        "klero.assembly.v1.AssemblyConvened" => {
            let m: pb::assembly::AssemblyConvened = decode_canonical(payload)?;
            let assembly_id = AssemblyId::parse(&m.assembly_id).unwrap_or_else(|reason| {
                c.violations.push(violation("assembly_id", reason));
                AssemblyId::parse("invalid").unwrap_or_else(|_| unreachable!())
            });
            DomainEvent::AssemblyConvened(AssemblyConvened {
                assembly_id,
                council: c.text("council", &m.council, TEXT_BYTES_MAX),
                remit_question: c.text("remit_question", &m.remit_question, TEXT_BYTES_MAX),
                area: c.text("area", &m.area, TEXT_BYTES_MAX),
                starts_on: c.date("starts_on", &m.starts_on),
                ends_on: c.date("ends_on", &m.ends_on),
                panel_size: c.range("panel_size", m.panel_size, 2, 1_000),
                adoption_threshold_percent: c.range(
                    "adoption_threshold_percent",
                    m.adoption_threshold_percent,
                    50,
                    100,
                ),
                response_deadline_days: c.range("response_deadline_days", m.response_deadline_days, 1, 730),
            })
        }
        "klero.selection.v1.SelectionPlanned" => {
            let m: pb::selection::SelectionPlanned = decode_canonical(payload)?;
            if m.quotas.is_empty() || m.quotas.len() > QUOTAS_MAX {
                c.violations.push(violation("quotas", format!("must hold 1 to {QUOTAS_MAX} quotas")));
            }
            let quotas = m
                .quotas
                .iter()
                .take(QUOTAS_MAX)
                .enumerate()
                .map(|(i, q)| {
                    if q.min > q.max {
                        c.violations.push(violation(format!("quotas[{i}].max"), "must be at least min"));
                    }
                    Quota {
                        feature: c.pseudonym(&format!("quotas[{i}].feature"), &q.feature),
                        value: c.pseudonym(&format!("quotas[{i}].value"), &q.value),
                        min: q.min,
                        max: q.max,
                    }
                })
                .collect();
            DomainEvent::SelectionPlanned(SelectionPlanned {
                panel_size: c.range("panel_size", m.panel_size, 2, 1_000),
                quotas,
                algorithm: c.text("algorithm", &m.algorithm, 100),
                algorithm_version: c.text("algorithm_version", &m.algorithm_version, 100),
                pool_commitment: c.hash("pool_commitment", &m.pool_commitment),
                seed_commitment: c.hash("seed_commitment", &m.seed_commitment),
                randomness_source: c.text("randomness_source", &m.randomness_source, TEXT_BYTES_MAX),
            })
        }
        "klero.selection.v1.PoolRegistered" => {
            let m: pb::selection::PoolRegistered = decode_canonical(payload)?;
            if m.members.is_empty() || m.members.len() > POOL_MEMBERS_MAX {
                c.violations.push(violation("members", format!("must hold 1 to {POOL_MEMBERS_MAX} volunteers")));
            }
            let mut seen = std::collections::HashSet::new();
            let mut members = Vec::with_capacity(m.members.len());
            for (i, member) in m.members.iter().take(POOL_MEMBERS_MAX).enumerate() {
                let id = c.pseudonym(&format!("members[{i}].id"), &member.id);
                if !seen.insert(id.clone()) {
                    c.violations.push(violation(format!("members[{i}].id"), "repeats an earlier id"));
                }
                if member.features.len() > MEMBER_FEATURES_MAX {
                    c.violations.push(violation(
                        format!("members[{i}].features"),
                        format!("at most {MEMBER_FEATURES_MAX} features"),
                    ));
                }
                let features = member
                    .features
                    .iter()
                    .take(MEMBER_FEATURES_MAX)
                    .enumerate()
                    .map(|(j, f)| {
                        (
                            c.pseudonym(&format!("members[{i}].features[{j}].feature"), &f.feature),
                            c.pseudonym(&format!("members[{i}].features[{j}].value"), &f.value),
                        )
                    })
                    .collect();
                members.push(PoolMember { id, features });
                if c.violations.len() > 100 {
                    break; // enough to fix; do not build a huge error
                }
            }
            DomainEvent::PoolRegistered(PoolRegistered { members, payload_hash: Hash256::of(payload) })
        }
        "klero.selection.v1.LotteryPublished" => {
            let m: pb::selection::LotteryPublished = decode_canonical(payload)?;
            if m.panels.is_empty() || m.panels.len() > LOTTERY_PANELS_MAX {
                c.violations.push(violation("panels", format!("must hold 1 to {LOTTERY_PANELS_MAX} panels")));
            }
            let panels = m
                .panels
                .iter()
                .take(LOTTERY_PANELS_MAX)
                .enumerate()
                .map(|(i, p)| {
                    if p.weight == 0 {
                        c.violations.push(violation(format!("panels[{i}].weight"), "must be at least 1"));
                    }
                    if p.seats.len() > POOL_MEMBERS_MAX {
                        c.violations
                            .push(violation(format!("panels[{i}].seats"), "has more entries than a pool has people"));
                    }
                    (p.weight, p.seats.clone())
                })
                .collect();
            DomainEvent::LotteryPublished(LotteryPublished { panels })
        }
        "klero.selection.v1.PanelDrawn" => {
            let m: pb::selection::PanelDrawn = decode_canonical(payload)?;
            if m.seed.len() < 16 || m.seed.len() > 64 {
                c.violations.push(violation("seed", "must be 16 to 64 bytes"));
            }
            if m.member_ids.len() > 1_000 {
                c.violations.push(violation("member_ids", "at most 1,000 members"));
            }
            let member_ids = m
                .member_ids
                .iter()
                .take(1_000)
                .enumerate()
                .map(|(i, id)| c.pseudonym(&format!("member_ids[{i}]"), id))
                .collect();
            DomainEvent::PanelDrawn(PanelDrawn { seed: m.seed, member_ids })
        }
        "klero.selection.v1.MemberWithdrew" => {
            let m: pb::selection::MemberWithdrew = decode_canonical(payload)?;
            let reason = match pb::selection::WithdrawalReason::try_from(m.reason) {
                Ok(pb::selection::WithdrawalReason::Personal) => WithdrawalReason::Personal,
                Ok(pb::selection::WithdrawalReason::Unreachable) => WithdrawalReason::Unreachable,
                Ok(pb::selection::WithdrawalReason::Other) => WithdrawalReason::Other,
                _ => {
                    c.violations.push(violation("reason", "must be a reason other than WITHDRAWAL_REASON_UNSPECIFIED"));
                    WithdrawalReason::Other
                }
            };
            DomainEvent::MemberWithdrew(MemberWithdrew { member_id: c.pseudonym("member_id", &m.member_id), reason })
        }
        "klero.selection.v1.ReplacementDrawn" => {
            let m: pb::selection::ReplacementDrawn = decode_canonical(payload)?;
            DomainEvent::ReplacementDrawn(ReplacementDrawn {
                withdrawn_member_id: c.pseudonym("withdrawn_member_id", &m.withdrawn_member_id),
                replacement_member_id: c.pseudonym("replacement_member_id", &m.replacement_member_id),
            })
        }
        "klero.deliberation.v1.SessionHeld" => {
            let m: pb::deliberation::SessionHeld = decode_canonical(payload)?;
            DomainEvent::SessionHeld(SessionHeld {
                session_number: c.range("session_number", m.session_number, 1, 10_000),
                held_on: c.date("held_on", &m.held_on),
                agenda: c.text("agenda", &m.agenda, TEXT_BYTES_MAX),
                attendance_count: m.attendance_count,
            })
        }
        "klero.deliberation.v1.EvidencePresented" => {
            let m: pb::deliberation::EvidencePresented = decode_canonical(payload)?;
            DomainEvent::EvidencePresented(EvidencePresented {
                session_number: c.range("session_number", m.session_number, 1, 10_000),
                speaker_role: c.text("speaker_role", &m.speaker_role, 200),
                title: c.text("title", &m.title, TEXT_BYTES_MAX),
                content_hash: c.hash("content_hash", &m.content_hash),
                media_type: c.text("media_type", &m.media_type, 200),
            })
        }
        "klero.deliberation.v1.PublicSubmissionReceived" => {
            let m: pb::deliberation::PublicSubmissionReceived = decode_canonical(payload)?;
            DomainEvent::PublicSubmissionReceived(PublicSubmissionReceived {
                submitter_id: c.pseudonym("submitter_id", &m.submitter_id),
                content_hash: c.hash("content_hash", &m.content_hash),
                received_on: c.date("received_on", &m.received_on),
            })
        }
        "klero.recommendation.v1.RecommendationDrafted" => {
            let m: pb::recommendation::RecommendationDrafted = decode_canonical(payload)?;
            DomainEvent::RecommendationDrafted(RecommendationDrafted {
                recommendation_id: c.pseudonym("recommendation_id", &m.recommendation_id),
                title: c.text("title", &m.title, TEXT_BYTES_MAX),
                text_hash: c.hash("text_hash", &m.text_hash),
            })
        }
        "klero.recommendation.v1.RecommendationAmended" => {
            let m: pb::recommendation::RecommendationAmended = decode_canonical(payload)?;
            DomainEvent::RecommendationAmended(RecommendationAmended {
                recommendation_id: c.pseudonym("recommendation_id", &m.recommendation_id),
                text_hash: c.hash("text_hash", &m.text_hash),
                reason: c.text("reason", &m.reason, TEXT_BYTES_MAX),
            })
        }
        "klero.recommendation.v1.RecommendationWithdrawn" => {
            let m: pb::recommendation::RecommendationWithdrawn = decode_canonical(payload)?;
            DomainEvent::RecommendationWithdrawn(RecommendationWithdrawn {
                recommendation_id: c.pseudonym("recommendation_id", &m.recommendation_id),
                reason: c.text("reason", &m.reason, TEXT_BYTES_MAX),
            })
        }
        "klero.recommendation.v1.VoteRecorded" => {
            let m: pb::recommendation::VoteRecorded = decode_canonical(payload)?;
            DomainEvent::VoteRecorded(VoteRecorded {
                recommendation_id: c.pseudonym("recommendation_id", &m.recommendation_id),
                tally: Tally { in_favour: m.in_favour, against: m.against, abstaining: m.abstaining },
            })
        }
        "klero.recommendation.v1.RecommendationAdopted" => {
            let m: pb::recommendation::RecommendationAdopted = decode_canonical(payload)?;
            DomainEvent::RecommendationAdopted(RecommendationAdopted {
                recommendation_id: c.pseudonym("recommendation_id", &m.recommendation_id),
                final_text_hash: c.hash("final_text_hash", &m.final_text_hash),
                tally: Tally { in_favour: m.in_favour, against: m.against, abstaining: m.abstaining },
            })
        }
        "klero.recommendation.v1.FinalReportPublished" => {
            let m: pb::recommendation::FinalReportPublished = decode_canonical(payload)?;
            DomainEvent::FinalReportPublished(FinalReportPublished {
                content_hash: c.hash("content_hash", &m.content_hash),
            })
        }
        "klero.response.v1.ResponseIssued" => {
            let m: pb::response::ResponseIssued = decode_canonical(payload)?;
            DomainEvent::ResponseIssued(ResponseIssued {
                recommendation_event_hash: c.hash("recommendation_event_hash", &m.recommendation_event_hash),
                decision: c.decision("decision", m.decision),
                rationale: c.text("rationale", &m.rationale, RATIONALE_BYTES_MAX),
                responsible_body: c.text("responsible_body", &m.responsible_body, TEXT_BYTES_MAX),
                due_on: c.date("due_on", &m.due_on),
            })
        }
        "klero.response.v1.ResponseAmended" => {
            let m: pb::response::ResponseAmended = decode_canonical(payload)?;
            DomainEvent::ResponseAmended(ResponseAmended {
                recommendation_event_hash: c.hash("recommendation_event_hash", &m.recommendation_event_hash),
                decision: c.decision("decision", m.decision),
                rationale: c.text("rationale", &m.rationale, RATIONALE_BYTES_MAX),
                responsible_body: c.text("responsible_body", &m.responsible_body, TEXT_BYTES_MAX),
                due_on: c.date("due_on", &m.due_on),
                reason: c.text("reason", &m.reason, TEXT_BYTES_MAX),
            })
        }
        "klero.response.v1.ImplementationUpdated" => {
            let m: pb::response::ImplementationUpdated = decode_canonical(payload)?;
            let status = match pb::response::ImplementationStatus::try_from(m.status) {
                Ok(pb::response::ImplementationStatus::NotStarted) => ImplementationStatus::NotStarted,
                Ok(pb::response::ImplementationStatus::InProgress) => ImplementationStatus::InProgress,
                Ok(pb::response::ImplementationStatus::Completed) => ImplementationStatus::Completed,
                Ok(pb::response::ImplementationStatus::Stalled) => ImplementationStatus::Stalled,
                _ => {
                    c.violations
                        .push(violation("status", "must be a status other than IMPLEMENTATION_STATUS_UNSPECIFIED"));
                    ImplementationStatus::NotStarted
                }
            };
            let evidence_hash =
                if m.evidence_hash.is_empty() { None } else { Some(c.hash("evidence_hash", &m.evidence_hash)) };
            DomainEvent::ImplementationUpdated(ImplementationUpdated {
                recommendation_event_hash: c.hash("recommendation_event_hash", &m.recommendation_event_hash),
                status,
                progress_percent: c.range("progress_percent", m.progress_percent, 0, 100),
                note: c.text("note", &m.note, TEXT_BYTES_MAX),
                evidence_hash,
            })
        }
        other => return Err(vec![violation("event_type", format!("{other} has no decoder"))]),
    };
    c.finish(event)
}
