//! The objects of one resource in a backup's index, ordered by key (R13): a sorted vector,
//! which takes no more memory than its entries and is given back whole once the resource is
//! planned. An archive lists its entries in key order (csdr's and Velero's writers list each
//! resource's objects sorted), so almost every entry is appended; an entry that comes out of
//! order goes to a small ordered map, merged into the vector whenever it grows past an
//! eighth of it, so any order of entries costs `O(n log n)`.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::iter::Peekable;

/// See the [module documentation](self).
#[derive(Clone, Debug)]
pub(crate) struct SortedTable<K, V> {
    sorted: Vec<(K, V)>,
    /// Entries that came out of order; no key is in both.
    late: BTreeMap<K, V>,
}

impl<K, V> Default for SortedTable<K, V> {
    fn default() -> Self {
        SortedTable {
            sorted: Vec::new(),
            late: BTreeMap::new(),
        }
    }
}

/// The fewest late entries merged at once.
const MERGE_AT_LEAST: usize = 1024;

impl<K: Ord + Default, V: Default> SortedTable<K, V> {
    /// The value of `key`, added (as `V::default()`) if absent.
    pub(crate) fn entry(&mut self, key: K) -> &mut V {
        let in_order = self.sorted.last().is_none_or(|(last, _)| *last < key);
        if in_order && !self.late.contains_key(&key) {
            self.sorted.push((key, V::default()));
            let last = self.sorted.len() - 1;
            return &mut self.sorted[last].1;
        }
        if !in_order && let Ok(i) = self.sorted.binary_search_by(|(k, _)| k.cmp(&key)) {
            return &mut self.sorted[i].1;
        }
        if !self.late.contains_key(&key)
            && self.late.len() >= MERGE_AT_LEAST.max(self.sorted.len() / 8)
        {
            self.merge_late();
        }
        self.late.entry(key).or_default()
    }

    /// Moves the late entries into the vector, in place: `O(n + m)`.
    fn merge_late(&mut self) {
        let late: Vec<(K, V)> = std::mem::take(&mut self.late).into_iter().collect();
        if late.is_empty() {
            return;
        }
        let n = self.sorted.len();
        self.sorted.reserve_exact(late.len());
        self.sorted
            .extend(std::iter::repeat_with(|| (K::default(), V::default())).take(late.len()));
        // Fill from the back: the larger of the two next entries goes last.
        let mut i = n;
        let mut late = late;
        for k in (0..self.sorted.len()).rev() {
            let take_late = match (i.checked_sub(1), late.last()) {
                (Some(s), Some((l, _))) => *l > self.sorted[s].0,
                (None, Some(_)) => true,
                (_, None) => break,
            };
            if take_late {
                if let Some(entry) = late.pop() {
                    self.sorted[k] = entry;
                }
            } else {
                i -= 1;
                self.sorted.swap(i, k);
            }
        }
    }

    /// Takes every entry out, in key order.
    pub(crate) fn take(&mut self) -> Vec<(K, V)> {
        self.merge_late();
        std::mem::take(&mut self.sorted)
    }
}

impl<K: Ord, V> SortedTable<K, V> {
    /// The value of `key`.
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        match self.sorted.binary_search_by(|(k, _)| k.cmp(key)) {
            Ok(i) => Some(&self.sorted[i].1),
            Err(_) => self.late.get(key),
        }
    }

    /// Every entry, in key order.
    pub(crate) fn iter(&self) -> Merged<'_, K, V> {
        Merged {
            sorted: self.sorted.iter().peekable(),
            late: self.late.iter().peekable(),
        }
    }

    /// How many entries.
    pub(crate) fn len(&self) -> usize {
        self.sorted.len() + self.late.len()
    }

    /// Whether there is none.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Equal when they hold the same entries, whatever order they came in.
impl<K: Ord, V: PartialEq> PartialEq for SortedTable<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// The entries of a [`SortedTable`] in key order.
pub(crate) struct Merged<'a, K, V> {
    sorted: Peekable<std::slice::Iter<'a, (K, V)>>,
    late: Peekable<std::collections::btree_map::Iter<'a, K, V>>,
}

impl<'a, K: Ord, V> Iterator for Merged<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        let order = match (self.sorted.peek(), self.late.peek()) {
            (Some((a, _)), Some((b, _))) => a.cmp(*b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => return None,
        };
        if order == Ordering::Greater {
            self.late.next()
        } else {
            self.sorted.next().map(|(k, v)| (k, v))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever order keys come in, the table holds each once, in order, with every
        /// value added to it; taking it out gives the same.
        #[test]
        fn any_order_gives_the_sorted_table(keys in prop::collection::vec(0u32..3000, 0..6000)) {
            let mut table: SortedTable<u32, Vec<usize>> = SortedTable::default();
            let mut want: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
            for (i, k) in keys.iter().enumerate() {
                table.entry(*k).push(i);
                want.entry(*k).or_default().push(i);
            }
            prop_assert_eq!(table.len(), want.len());
            let got: Vec<(u32, Vec<usize>)> = table.iter().map(|(k, v)| (*k, v.clone())).collect();
            let expected: Vec<(u32, Vec<usize>)> = want.clone().into_iter().collect();
            prop_assert_eq!(&got, &expected);
            for (k, v) in &want {
                prop_assert_eq!(table.get(k), Some(v));
            }
            prop_assert_eq!(table.get(&5000), None);
            prop_assert_eq!(table.take(), expected);
            prop_assert!(table.is_empty());
        }
    }

    #[test]
    fn keys_in_order_are_appended_and_a_reversed_list_is_merged() {
        let mut table: SortedTable<u32, u32> = SortedTable::default();
        for k in 0..10_000 {
            *table.entry(k) += 1;
        }
        assert!(table.late.is_empty());
        let mut reversed: SortedTable<u32, u32> = SortedTable::default();
        for k in (0..10_000).rev() {
            *reversed.entry(k) += 1;
        }
        // Merged whenever the late map passed an eighth of the vector.
        assert!(reversed.late.len() <= MERGE_AT_LEAST.max(reversed.sorted.len() / 8));
        assert_eq!(reversed, table);
    }
}
