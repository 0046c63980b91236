//! `FixedMap`: an insertion-ordered map whose capacity is chosen once, at setup, from what the
//! config needs, rather than fixed at compile time (a heapless map sized for 1,000 instances
//! over VLANs and VMACs would cost every small config its megabyte).
//!
//! After `with_capacity` nothing allocates: an insert past the capacity is refused (the caller
//! counts it), the entries' vector never outgrows its reservation, and the index is reserved
//! for twice the capacity, so that the tombstones removals leave are cleared by rehashing in
//! place, never into a new table. `reserve` (a reload that needs more) is the one way to grow.
//! Removal swaps the last entry into the hole, as heapless's `IndexMap::remove` does.

use std::collections::HashMap;
use std::hash::Hash;

pub struct FixedMap<K, V> {
    entries: Vec<(K, V)>,
    index: HashMap<K, usize>,
    cap: usize,
}

impl<K: Copy + Eq + Hash, V> FixedMap<K, V> {
    pub fn with_capacity(cap: usize) -> Self {
        FixedMap { entries: Vec::with_capacity(cap), index: HashMap::with_capacity(cap.saturating_mul(2)), cap }
    }

    /// Raises the capacity to at least `cap` (allocates: for a reload, not a steady state).
    pub fn reserve(&mut self, cap: usize) {
        if cap > self.cap {
            self.entries.reserve_exact(cap - self.entries.len());
            self.index.reserve(cap.saturating_mul(2).saturating_sub(self.index.len()));
            self.cap = cap;
        }
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.index.clear();
    }

    pub fn get(&self, k: &K) -> Option<&V> {
        self.index.get(k).and_then(|&i| self.entries.get(i)).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let i = *self.index.get(k)?;
        self.entries.get_mut(i).map(|(_, v)| v)
    }

    pub fn contains_key(&self, k: &K) -> bool {
        self.index.contains_key(k)
    }

    /// Inserts or replaces; `Err` gives the pair back when the map is full.
    pub fn insert(&mut self, k: K, v: V) -> Result<Option<V>, (K, V)> {
        if let Some(&i) = self.index.get(&k)
            && let Some(e) = self.entries.get_mut(i)
        {
            return Ok(Some(std::mem::replace(&mut e.1, v)));
        }
        if self.entries.len() >= self.cap {
            return Err((k, v));
        }
        self.index.insert(k, self.entries.len());
        self.entries.push((k, v));
        Ok(None)
    }

    /// Removes `k`; the last entry takes its place.
    pub fn remove(&mut self, k: &K) -> Option<V> {
        let i = self.index.remove(k)?;
        if i >= self.entries.len() {
            return None;
        }
        let (_, v) = self.entries.swap_remove(i);
        if let Some((moved, _)) = self.entries.get(i)
            && let Some(slot) = self.index.get_mut(moved)
        {
            *slot = i;
        }
        Some(v)
    }

    /// Keeps the entries `keep` accepts, in their order.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
        self.index.clear();
        for (i, (k, _)) in self.entries.iter().enumerate() {
            self.index.insert(*k, i);
        }
    }

    pub fn values(&self) -> impl ExactSizeIterator<Item = &V> + DoubleEndedIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The `i`-th entry's value in the map's order.
    pub fn value_at(&self, i: usize) -> Option<&V> {
        self.entries.get(i).map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_refuses_removal_swaps_and_order_holds() {
        let mut m: FixedMap<u32, u32> = FixedMap::with_capacity(3);
        assert_eq!(m.insert(1, 10), Ok(None));
        assert_eq!(m.insert(2, 20), Ok(None));
        assert_eq!(m.insert(3, 30), Ok(None));
        assert_eq!(m.insert(4, 40), Err((4, 40)));
        assert_eq!(m.insert(2, 21), Ok(Some(20)));
        assert_eq!(m.remove(&1), Some(10));
        assert_eq!(m.values().copied().collect::<Vec<_>>(), vec![30, 21]);
        assert_eq!(m.get(&3), Some(&30));
        assert_eq!(m.remove(&9), None);
        m.retain(|k, _| *k != 3);
        assert_eq!((m.len(), m.get(&2), m.get(&3)), (1, Some(&21), None));
        m.reserve(5);
        for k in 10..14 {
            assert_eq!(m.insert(k, k), Ok(None));
        }
        assert_eq!(m.insert(20, 0), Err((20, 0)));
        assert_eq!(m.value_at(4), Some(&13));
    }

    #[test]
    fn churn_at_capacity_never_reallocates() {
        // Counted by the allocator, on this thread: the index's `capacity()`
        // moves with its tombstones, so it cannot tell a reallocation (with
        // the index reserved for the capacity alone, not twice, this fails).
        crate::os::mem::enable();
        let mut m: FixedMap<u32, u64> = FixedMap::with_capacity(1000);
        let p = m.entries.as_ptr();
        let before = crate::os::mem::thread_allocs();
        for round in 0..50u32 {
            for k in 0..1000 {
                let _ = m.insert(round * 1000 + k, 0);
            }
            for k in 0..1000 {
                assert!(m.remove(&(round * 1000 + k)).is_some());
            }
        }
        assert_eq!(crate::os::mem::thread_allocs() - before, 0, "the map allocated");
        assert_eq!(m.entries.as_ptr(), p, "the entries moved");
    }
}
