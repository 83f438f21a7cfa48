//! Placeholder: being written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference;
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceError;
