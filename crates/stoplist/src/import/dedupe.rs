//! The first row of every number seen so far in one import: how the pipeline finds the
//! duplicates of a file while reading it, in as little memory as a 10,000,000-row file allows.
//!
//! A general hash map of `(u64, u32)` costs 17 bytes a bucket (16 for the padded pair, one
//! of control) at up to 7/8 load, and doubles when full: at 10M distinct numbers it peaks
//! near 430 MB while it grows. This table keeps keys and rows in two parallel arrays (12 bytes
//! a slot), open addressing with linear probing, is sized up front from an estimate of the
//! row count when there is one, and grows by half when it must. Owns no I/O.

/// Set when a slot holds a key: E.164 numbers are at most 15 digits (below 2^50), so the tag
/// never collides with a number, and an empty slot (0) is never a key.
const TAG: u64 = 1 << 63;

/// The most a table is filled before it grows (in 1/16ths). At 14/16 an unsuccessful probe
/// reads about 32 slots at worst, two cache lines of keys; the table is sized for every row of
/// the file (duplicates and invalid rows included), so it rarely gets that full.
const FILL_SIXTEENTHS: usize = 14;

/// Number (as [`stoplist_domain::PhoneNumber::as_u64`]) → the row it first appeared on.
///
/// Invariant: `len <= keys.len() * FILL_SIXTEENTHS / 16`, so a free slot always exists and
/// every probe ends.
pub struct FirstRows {
    keys: Vec<u64>,
    rows: Vec<u32>,
    len: usize,
}

impl FirstRows {
    /// A table that holds `expected` numbers without growing.
    pub fn with_capacity(expected: usize) -> FirstRows {
        let slots = (expected.max(64) * 16).div_ceil(FILL_SIXTEENTHS);
        FirstRows {
            keys: vec![0; slots],
            rows: vec![0; slots],
            len: 0,
        }
    }

    /// Numbers held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the table (for the logs and the benchmark).
    pub fn bytes(&self) -> usize {
        self.keys.len() * (size_of::<u64>() + size_of::<u32>())
    }

    /// Records `row` as the first row of `number` and returns `None`, or, when the number
    /// was seen before, returns the row it was first seen on (and records nothing).
    pub fn first_or_insert(&mut self, number: u64, row: u32) -> Option<u32> {
        if (self.len + 1) * 16 > self.keys.len() * FILL_SIXTEENTHS {
            self.grow();
        }
        let key = number | TAG;
        let mut i = self.slot_of(key);
        loop {
            match self.keys[i] {
                0 => {
                    self.keys[i] = key;
                    self.rows[i] = row;
                    self.len += 1;
                    return None;
                }
                k if k == key => return Some(self.rows[i]),
                _ => i = if i + 1 == self.keys.len() { 0 } else { i + 1 },
            }
        }
    }

    /// The home slot of a key: a multiplicative hash mapped onto the table by its high bits
    /// (any table size, no modulo).
    fn slot_of(&self, key: u64) -> usize {
        let h = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        ((u128::from(h) * self.keys.len() as u128) >> 64) as usize
    }

    fn grow(&mut self) {
        let mut bigger = FirstRows::with_capacity(self.len + self.len / 2 + 64);
        for (&k, &r) in self.keys.iter().zip(&self.rows) {
            if k != 0 {
                bigger.first_or_insert(k & !TAG, r);
            }
        }
        *self = bigger;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_row_of_a_number_wins_and_later_rows_are_duplicates_of_it() {
        let mut t = FirstRows::with_capacity(0);
        assert_eq!(t.first_or_insert(61_412_345_678, 2), None);
        assert_eq!(t.first_or_insert(61_412_345_679, 3), None);
        assert_eq!(t.first_or_insert(61_412_345_678, 9), Some(2));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn a_table_that_grows_keeps_every_number_and_its_first_row() {
        let mut t = FirstRows::with_capacity(0);
        for i in 0..100_000u32 {
            assert_eq!(
                t.first_or_insert(61_400_000_000 + u64::from(i) * 7, i),
                None
            );
        }
        for i in 0..100_000u32 {
            assert_eq!(
                t.first_or_insert(61_400_000_000 + u64::from(i) * 7, 0),
                Some(i)
            );
        }
        assert_eq!(t.len(), 100_000);
        assert!(t.bytes() <= 100_000 * 12 * 16 / FILL_SIXTEENTHS * 2);
    }

    #[test]
    fn the_largest_e164_number_is_a_key_like_any_other() {
        let mut t = FirstRows::with_capacity(1);
        assert_eq!(t.first_or_insert(999_999_999_999_999, 1), None);
        assert_eq!(t.first_or_insert(999_999_999_999_999, 5), Some(1));
    }
}
