use wscxr_bank::BankError;

/// What can go wrong while training or scoring.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetectorError {
    /// From mixing fakes.
    #[error(transparent)]
    Bank(#[from] BankError),
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
    /// The loss became NaN or infinite (features with huge values, or a learning rate far too high).
    #[error("training diverged at epoch {epoch}: loss is {loss}")]
    Diverged {
        /// The epoch (from 1).
        epoch: usize,
        /// The loss value.
        loss: f32,
    },
    /// Scores or features hold NaN or infinite values.
    #[error("{0}: NaN or infinite values (non-finite features?)")]
    NonFinite(&'static str),
    /// Reading a result back from the device failed.
    #[error("reading {what} from the device failed: {reason}")]
    Readback {
        /// Which result.
        what: &'static str,
        /// burn's message.
        reason: String,
    },
}
