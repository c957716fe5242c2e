//! Activation buffers kept from one forward pass for the next.
//!
//! A pass allocates maps of up to tens of MiB. Handed back to the system after each pass, their
//! pages must be faulted in (and zeroed by the kernel) again in the next one: measured at 20% of an
//! Xception pass at batch 1 on an AVX-512 EPYC. Buffers are kept here instead, process-wide (the
//! high-water mark of one pass stays resident, as in ONNX Runtime's arena), up to
//! [`MAX_KEPT_BYTES`].
//!
//! Only as many buffers come back as were lent: a buffer made elsewhere and dropped into the pool
//! would otherwise stay for good, and a long-running scorer (`wscxr serve`, a long `wscxr score`)
//! grew by the batch's input every pass until the cap.

use std::sync::Mutex;

/// Buffers smaller than this (in floats) go back to the allocator, which serves them well.
const MIN_KEPT_FLOATS: usize = 1 << 16;

/// The most kept at once, in bytes.
pub(crate) const MAX_KEPT_BYTES: usize = 1 << 30;

static POOL: Mutex<Pool> = Mutex::new(Pool::new());

/// The kept buffers and how many are out on loan.
#[derive(Debug)]
struct Pool {
    free: Vec<Vec<f32>>,
    lent: usize,
}

impl Pool {
    const fn new() -> Self {
        Self {
            free: Vec::new(),
            lent: 0,
        }
    }

    /// The smallest kept buffer of at least `len` floats, or a new empty one, lent.
    fn lend_fitting(&mut self, len: usize) -> Vec<f32> {
        self.lent += 1;
        let best = self
            .free
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        best.map(|i| self.free.swap_remove(i)).unwrap_or_default()
    }

    /// The largest kept buffer, or a new empty one, lent.
    fn lend_largest(&mut self) -> Vec<f32> {
        self.lent += 1;
        let largest = self
            .free
            .iter()
            .enumerate()
            .max_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        largest
            .map(|i| self.free.swap_remove(i))
            .unwrap_or_default()
    }

    /// Takes `buffer` back in place of a lent one; with none out, it was never lent and goes.
    fn take_back(&mut self, buffer: Vec<f32>) {
        if self.lent == 0 {
            return;
        }
        self.lent -= 1;
        if buffer.capacity() < MIN_KEPT_FLOATS {
            return;
        }
        self.free.push(buffer);
        while self.kept_bytes() > MAX_KEPT_BYTES {
            let smallest = self
                .free
                .iter()
                .enumerate()
                .min_by_key(|(_, v)| v.capacity())
                .map(|(i, _)| i);
            match smallest {
                Some(i) => drop(self.free.swap_remove(i)),
                None => break,
            }
        }
    }

    fn kept_bytes(&self) -> usize {
        self.free.iter().map(|v| v.capacity() * 4).sum()
    }
}

fn pool() -> std::sync::MutexGuard<'static, Pool> {
    POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A buffer of `len` zeros: a kept one when one is large enough (the smallest such), else new.
/// Give it back with [`recycle`].
pub(crate) fn zeroed(len: usize) -> Vec<f32> {
    if len < MIN_KEPT_FLOATS {
        return vec![0.0; len];
    }
    let mut buffer = pool().lend_fitting(len);
    buffer.clear();
    buffer.resize(len, 0.0);
    buffer
}

/// Scratch space that grows as needed, taken from the kept buffers and given back when dropped.
pub(crate) struct Scratch(Vec<f32>);

impl Scratch {
    /// The largest kept buffer, emptied, or a new one.
    pub fn new() -> Self {
        let mut buffer = pool().lend_largest();
        buffer.clear();
        Self(buffer)
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
        pool().take_back(std::mem::take(&mut self.0));
    }
}

/// Gives back a buffer from [`zeroed`] for a later one. A small one was never lent (see
/// [`zeroed`]) and simply goes.
pub(crate) fn recycle(buffer: Vec<f32>) {
    if buffer.capacity() >= MIN_KEPT_FLOATS {
        pool().take_back(buffer);
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
        let scratch = Scratch::new();
        assert!(scratch.is_empty());
        drop(scratch);
        assert!(pool().kept_bytes() <= MAX_KEPT_BYTES);
    }

    /// A pass repeated, fed each time a buffer made elsewhere (as a batch's input once was), keeps
    /// only what it borrowed.
    #[test]
    fn repeated_passes_keep_only_what_they_borrowed() {
        let mut pool = Pool::new();
        let sizes = [MIN_KEPT_FLOATS, 3 * MIN_KEPT_FLOATS, 2 * MIN_KEPT_FLOATS];
        for _ in 0..10 {
            let lent: Vec<Vec<f32>> = sizes
                .iter()
                .map(|&len| {
                    let mut v = pool.lend_fitting(len);
                    v.resize(len, 0.0);
                    v
                })
                .collect();
            let mut scratch = pool.lend_largest();
            scratch.resize(4 * MIN_KEPT_FLOATS, 0.0);
            pool.take_back(vec![0.0; 5 * MIN_KEPT_FLOATS]);
            lent.into_iter().for_each(|v| pool.take_back(v));
            pool.take_back(scratch);
        }
        assert_eq!(pool.lent, 0);
        assert!(
            pool.free.len() <= sizes.len() + 1,
            "{} kept",
            pool.free.len()
        );
    }
}
