//! Kleroterion's verifiable draw (docs/FORMAT.md §9): what the domain rules and the auditor's
//! verifier need to check a selection, and nothing more. It carries no LP or MIP solver:
//! computing a fair lottery is `klero-selection`'s job, checking one is this crate's.
//!
//! - [`instance`]: quotas, and a pool grouped into types of interchangeable volunteers.
//! - [`draw`]: the lottery as published with integer weights, the draw from a revealed seed,
//!   the reserve list, replacements, and [`verify_draw`].
//! - [`letters`]: the letter lottery that invites addresses before anyone volunteers.

pub mod draw;
pub mod instance;
pub mod letters;

pub use draw::{
    draw, draw_panel_index, draw_replacement, draw_reserves, replacement, verify_draw, DrawError, PublishedLottery,
    Seating, WEIGHT_TOTAL,
};
pub use instance::{
    household_commitment, household_key, Instance, Panel, PersonType, PoolError, Quota, Volunteer, FEATURES_MAX,
    POOL_PEOPLE_MAX, VALUES_PER_FEATURE_MAX,
};
