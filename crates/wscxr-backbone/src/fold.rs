//! Batch-norm folding for burn's own operators (every device): a batch norm that follows a
//! convolution becomes that convolution's per-channel weight scale and bias,
//! `bn(conv(x)) = conv'(x) + b'` with `w'[o] = w[o] * s[o]`, `b' = (b - mean) * s + beta`,
//! `s = gamma / sqrt(var + eps)`, so that inference skips the norm's four elementwise passes.
//!
//! Records keep the unfolded form (what the files hold, and what `save_record` writes): a
//! [`crate::Backbone`] folds a copy of its weights when it loads them.

use burn::module::Param;
use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;

/// `conv` followed by `bn`, as one convolution with a bias.
pub(crate) fn conv_bn(conv: &Conv2d, bn: &BatchNorm) -> Conv2d {
    let scale = bn.gamma.val() / (bn.running_var.value() + bn.epsilon).sqrt();
    let shift = bn.beta.val() - bn.running_mean.value() * scale.clone();
    let [out_channels, ..] = conv.weight.val().dims();
    let weight = conv.weight.val() * scale.clone().reshape([out_channels, 1, 1, 1]);
    let bias = match &conv.bias {
        Some(bias) => bias.val() * scale + shift,
        None => shift,
    };
    Conv2d {
        weight: Param::from_tensor(weight),
        bias: Some(Param::from_tensor(bias)),
        ..conv.clone()
    }
}
