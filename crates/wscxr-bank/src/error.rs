/// What can go wrong between feature maps and training data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BankError {
    /// An input has no rows (no images, an empty bank, nothing to mine).
    #[error("{0} is empty")]
    Empty(&'static str),
    /// Two inputs disagree in width (feature dimension) or batch size.
    #[error("{what}: expected {expected}, found {found}")]
    ShapeMismatch {
        /// Which input.
        what: &'static str,
        /// The expected size.
        expected: usize,
        /// The size found.
        found: usize,
    },
    /// A parameter out of its range.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// Its value, as text.
        value: String,
        /// The allowed range.
        reason: &'static str,
    },
    /// Features hold NaN or infinite values.
    #[error("{0} holds NaN or infinite values")]
    NonFinite(&'static str),
    /// Reading a tensor back from its device failed.
    #[error("reading {what} from the device failed: {reason}")]
    Readback {
        /// Which tensor.
        what: &'static str,
        /// burn's message.
        reason: String,
    },
}
