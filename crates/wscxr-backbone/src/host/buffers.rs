//! Activation buffers kept from one forward pass for the next.
//!
//! A pass allocates maps of up to tens of MiB. Handed back to the system after each pass, their
//! pages must be faulted in (and zeroed by the kernel) again in the next one: measured at 20% of an
//! Xception pass at batch 1 on an AVX-512 EPYC. Buffers are kept here instead, process-wide (the
//! high-water mark of one pass stays resident, as in ONNX Runtime's arena), up to
//! [`MAX_KEPT_BYTES`].

use std::sync::Mutex;

/// Buffers smaller than this (in floats) go back to the allocator, which serves them well.
const MIN_KEPT_FLOATS: usize = 1 << 16;

/// The most kept at once, in bytes.
pub(crate) const MAX_KEPT_BYTES: usize = 1 << 30;

static FREE: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// A buffer of `len` zeros: a kept one when one is large enough (the smallest such), else new.
pub(crate) fn zeroed(len: usize) -> Vec<f32> {
    if len >= MIN_KEPT_FLOATS {
        let mut free = FREE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let best = free
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        if let Some(i) = best {
            let mut buffer = free.swap_remove(i);
            drop(free);
            buffer.clear();
            buffer.resize(len, 0.0);
            return buffer;
        }
    }
    vec![0.0; len]
}

/// Scratch space that grows as needed, taken from the kept buffers and given back when dropped.
pub(crate) struct Scratch(Vec<f32>);

impl Scratch {
    /// The largest kept buffer, emptied, or a new one.
    pub fn new() -> Self {
        Self(spare())
    }
}

impl std::ops::Deref for Scratch {
    type Target = Vec<f32>;
    fn deref(&self) -> &Vec<f32> {
        &self.0
    }
}

impl std::ops::DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut Vec<f32> {
        &mut self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.0));
    }
}

/// An empty buffer for scratch space that grows as needed: the largest kept one, else new.
fn spare() -> Vec<f32> {
    let mut free = FREE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let largest = free
        .iter()
        .enumerate()
        .max_by_key(|(_, v)| v.capacity())
        .map(|(i, _)| i);
    let mut buffer = largest.map(|i| free.swap_remove(i)).unwrap_or_default();
    buffer.clear();
    buffer
}

/// Keeps `buffer` for a later [`zeroed`], dropping the smallest kept ones when over
/// [`MAX_KEPT_BYTES`].
pub(crate) fn recycle(buffer: Vec<f32>) {
    if buffer.capacity() < MIN_KEPT_FLOATS {
        return;
    }
    let mut free = FREE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    free.push(buffer);
    let bytes = |free: &[Vec<f32>]| -> usize { free.iter().map(|v| v.capacity() * 4).sum() };
    while bytes(&free) > MAX_KEPT_BYTES {
        let smallest = free
            .iter()
            .enumerate()
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        match smallest {
            Some(i) => drop(free.swap_remove(i)),
            None => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_buffers_come_back_zeroed_and_bounded() {
        let mut buffer = zeroed(MIN_KEPT_FLOATS);
        buffer.fill(7.0);
        recycle(buffer);
        let again = zeroed(MIN_KEPT_FLOATS);
        // Another test's buffer may be handed out instead: the contents are what must hold.
        assert!(again.iter().all(|&v| v == 0.0));
        assert_eq!(again.len(), MIN_KEPT_FLOATS);
        recycle(again);
        let spare = spare();
        assert!(spare.is_empty());
        recycle(spare);
        let kept: usize = FREE.lock().unwrap().iter().map(|v| v.capacity() * 4).sum();
        assert!(kept <= MAX_KEPT_BYTES);
    }
}
