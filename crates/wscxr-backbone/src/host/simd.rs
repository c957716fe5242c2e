//! Runs a kernel compiled for AVX2 + FMA when the CPU has them.
//!
//! The workspace builds for baseline x86-64 (SSE2), where LLVM vectorises our loops 4 floats wide;
//! burn's and gemm's own kernels choose their instruction set at run time, and so do ours through
//! [`simd_kernel!`]: the kernel body is `#[inline(always)]` and instantiated once inside a
//! `#[target_feature(enable = "avx2,fma")]` wrapper (8 floats wide) and once without.

/// Whether the AVX2 + FMA instantiation may run on this CPU (detected once; the macro checks it).
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx2() -> bool {
    use std::sync::OnceLock;
    static DETECTED: OnceLock<bool> = OnceLock::new();
    *DETECTED.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    })
}

/// Defines `$name(args) -> ret` calling the `#[inline(always)]` function `$body` with the same
/// arguments, compiled for AVX2 + FMA when the CPU has them and for the baseline otherwise.
macro_rules! simd_kernel {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $body:ident) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                if $crate::host::simd::has_avx2() {
                    // SAFETY: the CPU supports AVX2 and FMA (checked just above), the only
                    // requirement of calling a `target_feature` function.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use simd_kernel;
