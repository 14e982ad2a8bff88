//! Who is who across systems and external lists.
//!
//! - [`identity`]: badge cards, IT accounts and devices held by people over
//!   time; conflicts reported, never guessed.
//! - Record linkage of external reference records (company-officer
//!   registers, membership rolls) to staff, after Fellegi and Sunter: names,
//!   date of birth and postcode compared at graded levels ([`compare`]);
//!   pairs restricted by blocking rules ([`block`]); m and u estimated
//!   without labels ([`model`]); a match weight per pair with per-field
//!   contributions ([`explain`]); two thresholds that auto-link, send to
//!   clerical review, or leave unlinked ([`linker`]).
//!
//! - [`org`]: organisation names written differently (legal forms,
//!   generic words, acronyms, typos) compared word by word.
//!
//! No I/O here: the caller reads the store and saves the results.

pub mod block;
pub mod compare;
pub mod explain;
pub mod identity;
pub mod linker;
pub mod model;
pub mod org;
pub mod text;

pub use block::Rule;
pub use compare::{Compared, Entity, Pattern, compare};
pub use explain::{Explanation, explain};
pub use linker::{Candidate, Decision, Scorer, Settings, decide, distinct};
pub use model::{Model, Training, probability};
pub use text::Dob;
pub mod prepare;
pub use prepare::{Problems, Today, record_entity, staff_entity};
