use wscxr_bank::BankError;

/// What can go wrong while training or scoring.
#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    /// From mixing fakes.
    #[error(transparent)]
    Bank(#[from] BankError),
    /// A parameter or input shape out of range.
    #[error("invalid {0}")]
    Invalid(String),
    /// The loss became NaN or infinite (features with huge values, or a learning rate far too high).
    #[error("training diverged at epoch {epoch}: loss is {loss}")]
    Diverged {
        /// The epoch (from 1).
        epoch: usize,
        /// The loss value.
        loss: f32,
    },
    /// Reading a result back from the device failed.
    #[error("reading {0} from the device failed")]
    Readback(&'static str),
}
