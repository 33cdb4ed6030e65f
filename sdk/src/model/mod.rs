//! The model: the settings as written and as validated, the workload kinds and where their pod specs are,
//! label selectors, class patterns and the Kubernetes name rules. Types and their own small operations only:
//! nothing here reads text or decides.

pub mod action;
pub mod custom;
pub mod kinds;
pub mod names;
pub mod pattern;
pub mod priority_class;
pub mod selector;
pub mod settings;
