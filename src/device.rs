//! Picking a burn device (and so a backend) by name at run time.

use burn::prelude::*;

use crate::WscxrError;

/// The backends this build can run on, by the names the examples accept: `flex` (always),
/// `ndarray` (feature `ndarray`), and with feature `wgpu`: `wgpu` (Vulkan, or OpenGL with
/// `WSCXR_WGPU_API=gl`), `vulkan`, `gl`.
pub fn available_backends() -> Vec<&'static str> {
    let mut names = vec!["flex"];
    if cfg!(feature = "ndarray") {
        names.push("ndarray");
    }
    if cfg!(feature = "wgpu") {
        names.extend(["wgpu", "vulkan", "gl"]);
    }
    names
}

/// The device for a backend name (see [`available_backends`]).
///
/// `wgpu` is pinned to one graphics API rather than left to automatic selection, which was seen to
/// panic in autotune on some machines: Vulkan by default, OpenGL when `WSCXR_WGPU_API=gl`. Without a
/// GPU, Mesa's llvmpipe provides both in software; its Vulkan driver (lavapipe, Mesa 22.3 and 25.0)
/// crashes compiling burn's reduction kernels, so CI tests the wgpu path through OpenGL.
pub fn device(name: &str) -> Result<Device, WscxrError> {
    match name {
        "flex" | "cpu" => Ok(Device::flex()),
        #[cfg(feature = "ndarray")]
        "ndarray" => {
            #[allow(deprecated)]
            let device = Device::ndarray();
            Ok(device)
        }
        #[cfg(feature = "wgpu")]
        "wgpu" => match std::env::var("WSCXR_WGPU_API").as_deref() {
            Ok("gl") | Ok("opengl") => opengl(),
            _ => Ok(Device::vulkan(DeviceKind::DefaultDevice)),
        },
        #[cfg(feature = "wgpu")]
        "vulkan" => Ok(Device::vulkan(DeviceKind::DefaultDevice)),
        #[cfg(feature = "wgpu")]
        "gl" | "opengl" => opengl(),
        other => Err(WscxrError::Backend {
            name: other.to_string(),
            reason: format!(
                "unknown or disabled in this build, which has: {}",
                available_backends().join(", ")
            ),
        }),
    }
}

#[cfg(feature = "wgpu")]
fn opengl() -> Result<Device, WscxrError> {
    use std::sync::OnceLock;
    // wgpu's options may initialise a runtime once per process; later calls reuse the device.
    static GL: OnceLock<Result<Device, String>> = OnceLock::new();
    GL.get_or_init(|| {
        Device::wgpu_options()
            .graphics_api(burn::tensor::wgpu::WgpuBackend::Gl)
            .init()
            .map_err(|e| format!("{e:?}"))
    })
    .clone()
    .map_err(|reason| WscxrError::Backend {
        name: "gl".into(),
        reason: format!("no OpenGL wgpu device: {reason}"),
    })
}
