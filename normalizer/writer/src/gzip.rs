//! Gzip members compressed by deflate states that are kept for the next object.
//!
//! zlib makes a deflate state of about 330 KB (the 64 KB window, the hash chains, the pending
//! output) and zeroes 256 KB of it: about 445,000 instructions a state in callgrind. A batch
//! opens one per table × day it touches, up to [`crate::assembler::MAX_OPEN_ENCODERS`]
//! (20 for the 6 MB benchmark event under the example spec), and used to drop them all at its
//! end, so every batch made them again.
//!
//! A [`GzipMember`] takes its state from the normalizer's spares ([`SpareStates`], one set
//! for every thread the normalizer works on) and gives it back, reset, when it is done: a
//! reset (flate2's `Compress::reset`, zlib's `deflateReset`) clears only the 128 KB of
//! hash heads, and the state then writes the same stream a new one would. The spares hold at
//! most as many states as one batch has open, so they keep no more memory between batches
//! than a batch takes while it runs. The member's framing is the one
//! `flate2::write::GzEncoder` writes (no name, no time, XFL by level, OS 255) and its deflate
//! stream is made by flate2's `Compress` in the calls that writer would make, with the output
//! room it would give ([`State::run`]), so a member's bytes are `GzEncoder`'s for the same
//! rows and level: the tests below compare them at every level, and `lake-digest` the lake.
//!
//! A member keeps its writes ([`KEEP_BYTES`]) and hands them to deflate in runs, each write
//! still in a call of its own (see [`GzipMember`]): the same calls, so the same bytes, with
//! the state's memory in the caches for a run of them.

use std::sync::Mutex;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// Deflate states kept between objects, reset. Shared by the threads of one normalizer.
pub(crate) struct SpareStates {
    states: Mutex<Vec<State>>,
    cap: usize,
}

/// A deflate state and the room its member keeps writes in ([`GzipMember::write`]).
struct State {
    level: Compression,
    deflate: Compress,
    /// Bytes written to the member and not yet handed to deflate.
    kept: Vec<u8>,
    /// Where each of those writes ends in `kept`.
    ends: Vec<usize>,
}

impl SpareStates {
    /// Spares for up to `cap` states.
    pub(crate) fn new(cap: usize) -> Self {
        SpareStates { states: Mutex::new(Vec::new()), cap }
    }

    fn take(&self, level: Compression) -> Option<State> {
        let mut states = self.states.lock().ok()?;
        let at = states.iter().rposition(|s| s.level == level)?;
        Some(states.swap_remove(at))
    }

    fn give_back(&self, state: State) {
        if let Ok(mut states) = self.states.lock() {
            if states.len() < self.cap {
                states.push(state);
            }
        }
    }

    /// How many states are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.states.lock().map(|s| s.len()).unwrap_or(0)
    }
}

impl std::fmt::Debug for SpareStates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.states.lock().map(|s| s.len()).unwrap_or(0);
        write!(f, "SpareStates {{ kept: {kept}, cap: {} }}", self.cap)
    }
}

/// One gzip member (a whole `.gz` object) being written into memory.
///
/// Writes are kept, up to [`KEEP_BYTES`], and then handed to deflate one by one, as they
/// came. Deflate's output depends on where its input is cut (each call that brings input
/// enters one more string into the hash table), so the calls stay the same and so do the
/// bytes. What changes is that they come in runs: a batch writes each record's rows to
/// several objects in turn (7 under the example spec), and each deflate state (its 64 KB
/// window, 128 KB of hash heads) found its memory gone from the caches every few hundred
/// bytes. The room travels with the state into the spares, so it is not allocated again.
pub(crate) struct GzipMember<'p> {
    /// `None` only once the state has gone back to the spares.
    state: Option<State>,
    /// The member so far: header and compressed bytes.
    out: Vec<u8>,
    crc: Crc,
    spare: Option<&'p SpareStates>,
}

/// Bytes of writes a member keeps before it hands them to deflate.
pub(crate) const KEEP_BYTES: usize = 32 * 1024;

impl<'p> GzipMember<'p> {
    /// An empty member at `level`, its output first given room for `capacity` bytes, its
    /// state taken from `spare` when it has one and given back to it.
    pub(crate) fn new(level: Compression, capacity: usize, spare: Option<&'p SpareStates>) -> Self {
        let mut out = Vec::with_capacity(capacity.max(HEADER_LEN));
        out.extend_from_slice(&header(level));
        let state = spare.and_then(|s| s.take(level)).unwrap_or_else(|| State {
            level,
            deflate: Compress::new(level, false),
            kept: Vec::new(),
            ends: Vec::new(),
        });
        GzipMember { state: Some(state), out, crc: Crc::new(), spare }
    }

    /// Compresses `bytes` onto the member: keeps them, or hands them and the writes kept
    /// before them to deflate, each write in one call as `GzEncoder::write_all` would.
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        let state = self.state.as_mut().expect("a member keeps its state until it is dropped");
        if state.kept.len() + bytes.len() > KEEP_BYTES {
            state.hand_over(&mut self.crc, &mut self.out);
            if bytes.len() > KEEP_BYTES {
                self.crc.update(bytes);
                state.run(&mut self.out, bytes, FlushCompress::None);
                return;
            }
        }
        // The room is taken whole, once per state (it travels with the state through the
        // spares): grown by doubling instead, its freed sizes kept the allocator's pages of
        // each size busy, 2-4 MB more at the peak of a process normalizing event after event.
        if state.kept.capacity() == 0 {
            state.kept.reserve_exact(KEEP_BYTES);
        }
        state.kept.extend_from_slice(bytes);
        state.ends.push(state.kept.len());
    }

    /// The whole member: header, compressed bytes, CRC-32 and length of what was written.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        let state = self.state.as_mut().expect("a member keeps its state until it is dropped");
        state.hand_over(&mut self.crc, &mut self.out);
        state.run(&mut self.out, &[], FlushCompress::Finish);
        let mut out = std::mem::take(&mut self.out);
        out.extend_from_slice(&self.crc.sum().to_le_bytes());
        out.extend_from_slice(&self.crc.amount().to_le_bytes());
        out
    }
}

impl State {
    /// Hands the kept writes to deflate, one call each, in order, and adds them to `crc` in
    /// one go (a CRC over a run folds 64 bytes a step; over one short write, few steps).
    fn hand_over(&mut self, crc: &mut Crc, out: &mut Vec<u8>) {
        crc.update(&self.kept);
        let (kept, ends) = (std::mem::take(&mut self.kept), std::mem::take(&mut self.ends));
        let mut start = 0;
        for &end in &ends {
            self.run(out, &kept[start..end], FlushCompress::None);
            start = end;
        }
        (self.kept, self.ends) = (kept, ends);
        self.kept.clear();
        self.ends.clear();
    }

    /// Deflates all of `input` onto `out` (with `Finish`, to the end of the stream), in the
    /// calls `flate2::write::DeflateEncoder::write_all` (and `try_finish`) would make, each
    /// given the output room that writer gives: its buffer, exactly [`ROOM`] bytes, copied
    /// onto `out` after the call. Deflate's bytes depend on that room: stored blocks (level
    /// 0) are as long as it, and levels 2-9 cut their blocks differently when it is small (a
    /// room of 64 bytes changed level 5's output in the tests).
    ///
    /// The room is the thread's, not the state's: a call fills it and empties it onto `out`,
    /// so every state on a thread can use one (32 KB each, 20 states for the 6 MB event, kept
    /// the process 2 MB larger at its peak).
    fn run(&mut self, out: &mut Vec<u8>, input: &[u8], flush: FlushCompress) {
        thread_local! {
            static ROOM_OF_THREAD: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        ROOM_OF_THREAD.with_borrow_mut(|room| self.run_in(room, out, input, flush));
    }

    fn run_in(&mut self, room: &mut Vec<u8>, out: &mut Vec<u8>, mut input: &[u8], flush: FlushCompress) {
        loop {
            let (total_in, total_out) = (self.deflate.total_in(), self.deflate.total_out());
            room.clear();
            room.reserve_exact(ROOM);
            // Deflating into a Vec with room cannot fail.
            let status = self.deflate.compress_vec(input, room, flush);
            out.extend_from_slice(room);
            let consumed = (self.deflate.total_in() - total_in) as usize;
            input = &input[consumed..];
            let progress = consumed > 0 || self.deflate.total_out() > total_out;
            let done = match flush {
                FlushCompress::Finish => matches!(status, Ok(Status::StreamEnd)),
                _ => input.is_empty(),
            };
            if done || !progress || status.is_err() {
                return;
            }
        }
    }
}

impl Drop for GzipMember<'_> {
    /// The state goes back to the spares, reset, unless they are full.
    fn drop(&mut self) {
        let (Some(spare), Some(mut state)) = (self.spare, self.state.take()) else { return };
        // A stream is finished before the reset, if its member was not: zlib-rs's reset
        // leaves the block deflate_quick has open as open, and the next stream would differ.
        // The output goes with the member; unwritten writes are forgotten.
        if !self.out.is_empty() {
            let mut out = std::mem::take(&mut self.out);
            state.run(&mut out, &[], FlushCompress::Finish);
        }
        state.deflate.reset();
        state.kept.clear();
        state.ends.clear();
        spare.give_back(state);
    }
}

const HEADER_LEN: usize = 10;

/// Output room of each call into deflate: the size of `flate2::write`'s buffer.
const ROOM: usize = 32 * 1024;

/// The 10-byte gzip header `GzEncoder` writes: magic, deflate, no flags, no time, XFL 4 at
/// the fastest levels (0 and 1) and 2 at the best (9), no operating system named (255).
fn header(level: Compression) -> [u8; HEADER_LEN] {
    let xfl = match level.level() {
        l if l >= Compression::best().level() => 2,
        l if l <= Compression::fast().level() => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use proptest::prelude::*;

    use super::*;

    /// What `flate2::write::GzEncoder` writes for `chunks`, one `write_all` each.
    fn reference(chunks: &[Vec<u8>], level: u32) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::new(level));
        for c in chunks {
            gz.write_all(c).unwrap();
        }
        gz.finish().unwrap()
    }

    fn member(chunks: &[Vec<u8>], level: u32, spare: Option<&SpareStates>) -> Vec<u8> {
        let mut m = GzipMember::new(Compression::new(level), 64, spare);
        for c in chunks {
            m.write(c);
        }
        m.finish()
    }

    /// Rows as the lake has them: repeated columns, some noise, now and then a long run.
    fn rows(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed | 1;
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match x % 4 {
                0 => out.extend_from_slice(b"MODIFY\t49000000000000000000001\t2026-11-05 10:00:00.000\tcustomer-7\t"),
                1 => out.extend_from_slice(format!("fieldMappings[{}].jiraField\tS\t{:x}\n", x % 97, x).as_bytes()),
                2 => out.extend(std::iter::repeat_n(b'a' + (x % 26) as u8, (x % 700) as usize)),
                _ => out.extend_from_slice(&x.to_le_bytes()),
            }
        }
        out.truncate(len);
        out
    }

    #[test]
    fn a_member_is_the_bytes_gzencoder_writes_at_every_level() {
        let chunks: Vec<Vec<u8>> =
            [0, 1, 300, 70_000, 5, 260_000, 0, 40_000].iter().map(|&n| rows(n as u64, n)).collect();
        let spare = SpareStates::new(4);
        for level in 0..=9 {
            let want = reference(&chunks, level);
            assert_eq!(member(&chunks, level, None), want, "level {level}, a new state");
            assert_eq!(member(&chunks, level, Some(&spare)), want, "level {level}, a new state kept");
            assert_eq!(member(&chunks, level, Some(&spare)), want, "level {level}, the kept state");
        }
        assert_eq!(member(&[], 1, None), reference(&[], 1), "an empty member");
    }

    #[test]
    fn a_reused_state_writes_what_a_new_one_does() {
        let spare = SpareStates::new(4);
        // The first member leaves its window and hash chains in the state it gives back;
        // each next one takes that state.
        let first = vec![rows(7, 300_000)];
        assert_eq!(member(&first, 1, Some(&spare)), reference(&first, 1));
        assert_eq!(spare.len(), 1, "a finished member gives its state back");
        for seed in 1..6 {
            let chunks = vec![rows(seed, 1000 * seed as usize), rows(seed + 100, 90_000)];
            assert_eq!(member(&chunks, 1, Some(&spare)), reference(&chunks, 1), "member {seed} after another");
            assert_eq!(spare.len(), 1, "one state serves members one after another");
        }
        // A member dropped half-way gives back a state that starts over cleanly.
        let mut half = GzipMember::new(Compression::new(1), 64, Some(&spare));
        half.write(&rows(99, 200_000));
        drop(half);
        assert_eq!(spare.len(), 1);
        assert_eq!(member(&first, 1, Some(&spare)), reference(&first, 1));
    }

    #[test]
    fn spares_are_kept_per_level_and_capped() {
        let spare = SpareStates::new(3);
        let open: Vec<GzipMember> = (0..5).map(|_| GzipMember::new(Compression::new(6), 64, Some(&spare))).collect();
        drop(open);
        assert_eq!(spare.len(), 3, "no more states than the cap");
        // A state of level 6 is not taken for a member of level 9, which makes its own.
        let chunks = vec![rows(3, 100_000)];
        let nine = GzipMember::new(Compression::new(9), 64, Some(&spare));
        assert_eq!(spare.len(), 3);
        drop(nine);
        assert_eq!(member(&chunks, 9, Some(&spare)), reference(&chunks, 9));
        assert_eq!(member(&chunks, 6, Some(&spare)), reference(&chunks, 6));
    }

    #[test]
    fn a_small_member_keeps_no_room_it_does_not_use() {
        // A batch on 1,000 days keeps thousands of small bodies until it is written: each
        // must hold about its own bytes (32 KB of room each made one batch take 156 MB).
        for level in 0..=9 {
            let body = member(&[rows(3, 300), rows(4, 200)], level, None);
            assert!(body.capacity() < 4 * 1024, "level {level}: {} bytes of room for {}", body.capacity(), body.len());
        }
    }

    #[test]
    fn many_short_writes_are_kept_and_handed_over_as_they_came() {
        // Rows of a few hundred bytes, as a batch hands a table's rows of one record over,
        // with now and then one longer than what a member keeps.
        let mut chunks: Vec<Vec<u8>> = (0..2_000u64).map(|i| rows(i, (i as usize * 37) % 900)).collect();
        chunks.insert(700, rows(5, KEEP_BYTES + 1));
        chunks.insert(1_400, rows(6, KEEP_BYTES));
        let spare = SpareStates::new(2);
        for level in 0..=9 {
            let want = reference(&chunks, level);
            assert_eq!(member(&chunks, level, None), want, "level {level}, a new state");
            assert_eq!(member(&chunks, level, Some(&spare)), want, "level {level}, a new state kept");
            assert_eq!(member(&chunks, level, Some(&spare)), want, "level {level}, the kept state");
        }
        // A member dropped with writes kept and not handed over leaves none of them behind.
        let mut half = GzipMember::new(Compression::new(1), 64, Some(&spare));
        half.write(&rows(98, 5_000));
        drop(half);
        assert_eq!(member(&chunks, 1, Some(&spare)), reference(&chunks, 1));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn members_of_many_short_writes_are_gzencoders(
            seed in any::<u64>(),
            cuts in proptest::collection::vec(prop_oneof![8 => 0usize..2_000, 1 => 0usize..80_000], 0..120),
            level in prop_oneof![Just(0u32), Just(1u32), Just(6u32)],
        ) {
            static SPARE: std::sync::LazyLock<SpareStates> = std::sync::LazyLock::new(|| SpareStates::new(3));
            let chunks: Vec<Vec<u8>> = cuts.iter().enumerate().map(|(i, &n)| rows(seed ^ i as u64, n)).collect();
            prop_assert_eq!(member(&chunks, level, Some(&SPARE)), reference(&chunks, level));
        }

        #[test]
        fn members_of_any_rows_and_cuts_are_gzencoders(
            seed in any::<u64>(),
            cuts in proptest::collection::vec(0usize..150_000, 0..6),
            level in prop_oneof![Just(0u32), Just(1u32), Just(6u32)],
        ) {
            // One set of spares for every case: each case's member takes the state the
            // case before it left.
            static SPARE: std::sync::LazyLock<SpareStates> = std::sync::LazyLock::new(|| SpareStates::new(3));
            let chunks: Vec<Vec<u8>> = cuts.iter().enumerate().map(|(i, &n)| rows(seed ^ i as u64, n)).collect();
            prop_assert_eq!(member(&chunks, level, Some(&SPARE)), reference(&chunks, level));
        }
    }
}
