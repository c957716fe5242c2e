//! Which devices compute in host memory, where the host kernels (the backbone's host path, the
//! bank's fused nearest-neighbour search) apply.

use burn::prelude::*;

/// Whether `device` computes on this machine's CPU, in host memory: burn's flex device, and its
/// ndarray device when the `ndarray` feature is on. Wrapped devices (autodiff) count as the
/// device they wrap.
pub fn is_host(device: &Device) -> bool {
    let plain = device.clone().inner();
    if plain == Device::flex() {
        return true;
    }
    #[cfg(feature = "ndarray")]
    {
        #[allow(deprecated)]
        if plain == Device::ndarray() {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_counts_as_host_with_or_without_autodiff() {
        let device = Device::flex();
        assert!(is_host(&device));
        assert!(is_host(&device.autodiff()));
        #[cfg(feature = "ndarray")]
        {
            #[allow(deprecated)]
            let ndarray = Device::ndarray();
            assert!(is_host(&ndarray));
        }
    }
}
