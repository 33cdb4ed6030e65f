//! What a rule's refusal does ([`Action`]), as Kubernetes' `validationActions` name it.

use std::fmt;

/// What a rule's refusal does, as Kubernetes' `validationActions` name it. Only [`Action::Deny`] refuses the
/// request; [`Action::Warn`] and [`Action::Audit`] let it through (with the default a rule gives, which is not a
/// refusal) and report the refusal's message as a warning to the client or an audit annotation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Action {
    /// Refuse the request: the behaviour of a rule that names no action.
    #[default]
    Deny,
    /// Accept it, and return the message to the client as a warning (`kubectl` prints `Warning: ...`).
    Warn,
    /// Accept it, and record the message in the audit log.
    Audit,
}

impl Action {
    /// Every action, in the order the settings reference lists them.
    pub const ALL: [Action; 3] = [Self::Deny, Self::Warn, Self::Audit];

    /// The name as the settings (and Kubernetes' `validationActions`) write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deny => "Deny",
            Self::Warn => "Warn",
            Self::Audit => "Audit",
        }
    }

    /// Parses the name as the settings write it.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }

    /// Whether a refusal under this action refuses the request.
    pub fn refuses(self) -> bool {
        self == Self::Deny
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
