//! Reading a burn module's weights into host buffers, with every batch norm that follows a
//! convolution folded into it: `bn(conv(x)) = conv'(x) + b'`, where `w'[o] = w[o] * s[o]` and
//! `b' = (b - mean) * s + beta`, `s = gamma / sqrt(var + eps)`.

use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use super::conv::Conv;
use super::norm::Affine;
use super::pointwise::Pointwise;
use crate::BackboneError;

/// A parameter's values on the host.
fn values<const D: usize>(tensor: Tensor<D>, what: &str) -> Result<Vec<f32>, BackboneError> {
    tensor
        .try_into_vec_as::<f32>()
        .map_err(|e| BackboneError::Readback {
            what: what.to_string(),
            reason: format!("{e:?}"),
        })
}

/// A batch norm as a per-channel scale and shift (computed in f64 so that folding adds no error).
pub(crate) fn affine(bn: &BatchNorm) -> Result<Affine, BackboneError> {
    let gamma = values(bn.gamma.val(), "batch-norm weight")?;
    let beta = values(bn.beta.val(), "batch-norm bias")?;
    let mean = values(bn.running_mean.value(), "batch-norm mean")?;
    let var = values(bn.running_var.value(), "batch-norm variance")?;
    let mut scale = Vec::with_capacity(gamma.len());
    let mut shift = Vec::with_capacity(gamma.len());
    for i in 0..gamma.len() {
        let s = gamma[i] as f64 / (var[i] as f64 + bn.epsilon).sqrt();
        scale.push(s as f32);
        shift.push((beta[i] as f64 - mean[i] as f64 * s) as f32);
    }
    Ok(Affine { scale, shift })
}

/// A convolution's folded weights: kernel size, input and output channels, weights, bias.
type Folded = (usize, usize, usize, Vec<f32>, Option<Vec<f32>>);

/// The convolution's weights `[cout, cin, k, k]` as `[(ky * k + kx) * cin + ci][cout]`, scaled per
/// output channel by the following batch norm, and the bias it leaves (`None` without either).
fn folded(conv: &Conv2d, bn: Option<&BatchNorm>) -> Result<Folded, BackboneError> {
    let [cout, cin, kh, kw] = conv.weight.val().dims();
    if kh != kw {
        return Err(BackboneError::Unsupported(format!(
            "{kh}x{kw} kernels are not supported"
        )));
    }
    let k = kh;
    let w = values(conv.weight.val(), "convolution weight")?;
    let bias = match &conv.bias {
        Some(b) => Some(values(b.val(), "convolution bias")?),
        None => None,
    };
    let norm = bn.map(affine).transpose()?;
    let scale = |o: usize| norm.as_ref().map_or(1.0, |a| a.scale[o]);
    let mut weight = vec![0f32; k * k * cin * cout];
    for o in 0..cout {
        for ci in 0..cin {
            for t in 0..k * k {
                weight[(t * cin + ci) * cout + o] = w[(o * cin + ci) * k * k + t] * scale(o);
            }
        }
    }
    let bias = match (bias, norm) {
        (None, None) => None,
        (Some(b), None) => Some(b),
        (b, Some(a)) => Some(
            (0..cout)
                .map(|o| b.as_ref().map_or(0.0, |b| b[o]) * a.scale[o] + a.shift[o])
                .collect(),
        ),
    };
    Ok((k, cin, cout, weight, bias))
}

/// A k x k convolution (stride and padding as given) with the following batch norm folded in.
pub(crate) fn conv(
    conv: &Conv2d,
    bn: Option<&BatchNorm>,
    stride: usize,
    pad: usize,
) -> Result<Conv, BackboneError> {
    let (k, cin, cout, weight, bias) = folded(conv, bn)?;
    Ok(Conv {
        k,
        stride,
        pad,
        cin,
        cout,
        weight,
        bias,
    })
}

/// A 1x1 convolution with the following batch norm folded in.
pub(crate) fn pointwise(conv: &Conv2d, bn: Option<&BatchNorm>) -> Result<Pointwise, BackboneError> {
    let (k, cin, cout, weight, bias) = folded(conv, bn)?;
    if k != 1 {
        return Err(BackboneError::Unsupported(format!(
            "expected a 1x1 convolution, found {k}x{k}"
        )));
    }
    Ok(Pointwise {
        cin,
        cout,
        weight,
        bias,
    })
}

/// A depthwise 3x3 kernel `[c, 1, 3, 3]` as `[9][c]`.
pub(crate) fn depthwise(conv: &Conv2d) -> Result<Vec<f32>, BackboneError> {
    let [c, one, kh, kw] = conv.weight.val().dims();
    if one != 1 || kh != 3 || kw != 3 {
        return Err(BackboneError::Unsupported(format!(
            "expected a depthwise 3x3 kernel, found [{c}, {one}, {kh}, {kw}]"
        )));
    }
    let w = values(conv.weight.val(), "depthwise weight")?;
    let mut weight = vec![0f32; 9 * c];
    for ch in 0..c {
        for t in 0..9 {
            weight[t * c + ch] = w[ch * 9 + t];
        }
    }
    Ok(weight)
}
