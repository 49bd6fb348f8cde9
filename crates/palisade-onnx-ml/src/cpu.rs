//! Clearing the vector registers' upper halves after tract's matrix kernels.
//!
//! tract's AVX2 / AVX-512 assembly kernels return with the upper halves of the YMM/ZMM
//! registers still dirty (no `vzeroupper`). On Intel CPUs every legacy-SSE instruction run
//! after that pays a state-transition penalty, and baseline x86-64 Rust code (these operators,
//! and in the server TLS, JSON, hashing) is SSE code: measured here, an SVM regressor ran 15×
//! slower after a model with a MatMul had run on the same thread. One `vzeroupper` after each
//! plan run, and before each operator here, puts the registers back in a clean state.
//!
//! The one `unsafe` block of the crate, reviewed: it runs only where the CPU has AVX, and
//! `vzeroupper` only clears register halves that no baseline-x86-64 code keeps live across a
//! call (they are caller-saved scratch in the System V ABI).
#![allow(unsafe_code)]

/// Puts the vector registers in a clean state (a no-op off x86-64 or without AVX).
#[inline]
pub fn clear_upper_vector_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: AVX is present (checked just above), which is all `zero_upper` requires.
        unsafe { zero_upper() }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn zero_upper() {
    std::arch::x86_64::_mm256_zeroupper();
}
