//! Leases and the configuration generation over key-value stores that keep
//! the wasi:keyvalue contract, and over stores that break it the ways
//! Spin 4.0.2's do (see `storage::lease` and `storage::generation`).

use vreg_core::storage::lease::{
    end_lease, forget_creation, lease_key, release_lease, take_lease, take_lease_seen, Seen,
};
use vreg_core::storage::{generation, Kv, StoreError};
use vreg_core::CoreError;
use vreg_testkit::MemoryKv;

/// How a store's compare-and-swap departs from the contract.
#[derive(Clone, Copy)]
enum SwapFlaw {
    /// A swap from "absent" writes whatever is there, as Spin's
    /// SQLite-backed store does: two callers that saw the key absent both
    /// succeed.
    FromAbsentOverwrites,
    /// Every swap is made and then reported as failed, as Spin's Redis
    /// store does.
    ReportedFailed,
    /// No swap is ever made.
    NeverTakes,
}

struct FlawedKv {
    inner: MemoryKv,
    flaw: SwapFlaw,
}

impl FlawedKv {
    fn new(flaw: SwapFlaw) -> Self {
        FlawedKv {
            inner: MemoryKv::default(),
            flaw,
        }
    }
}

impl Kv for FlawedKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        match (self.flaw, expected) {
            (SwapFlaw::FromAbsentOverwrites, None) => {
                if self.inner.get(key)?.is_some() {
                    return Ok(false);
                }
                // Others may look now, and see it absent too.
                std::thread::yield_now();
                self.inner.set(key, new)?;
                Ok(true)
            }
            (SwapFlaw::FromAbsentOverwrites, Some(_)) => {
                self.inner.compare_and_swap(key, expected, new)
            }
            (SwapFlaw::ReportedFailed, _) => {
                self.inner.compare_and_swap(key, expected, new)?;
                Ok(false)
            }
            (SwapFlaw::NeverTakes, _) => Ok(false),
        }
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.inner.increment(key, delta)
    }
}

/// How many of `callers` concurrent takers of one lease win it.
fn winners(kv: &(dyn Kv + Sync), callers: usize, now: i64) -> usize {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..callers)
            .map(|_| {
                scope.spawn(move || take_lease(kv, "contested", now, 60_000).unwrap().is_some())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|won| *won)
            .count()
    })
}

#[test]
fn a_lease_is_taken_once_by_a_hundred_concurrent_callers() {
    let kv = MemoryKv::default();
    assert_eq!(winners(&kv, 100, 1000), 1);
    assert!(
        take_lease(&kv, "contested", 2000, 60_000)
            .unwrap()
            .is_none(),
        "held until it expires"
    );
    let holder = take_lease(&kv, "contested", 61_001, 60_000).unwrap();
    assert!(holder.is_some(), "expired leases can be taken again");
    // Only the holder gives it back early.
    assert!(!release_lease(&kv, "contested", "someone else").unwrap());
    assert!(take_lease(&kv, "contested", 62_000, 60_000)
        .unwrap()
        .is_none());
    assert!(release_lease(&kv, "contested", &holder.unwrap()).unwrap());
    assert!(take_lease(&kv, "contested", 62_000, 60_000)
        .unwrap()
        .is_some());
}

/// A lease that does not exist yet is created by one caller however the
/// store swaps from "absent"; once it exists, taking it again (expired,
/// or given back) is a swap from a value, which such a store keeps.
#[test]
fn a_new_lease_is_taken_once_where_a_swap_from_absent_overwrites() {
    for round in 0..20 {
        let kv = FlawedKv::new(SwapFlaw::FromAbsentOverwrites);
        assert_eq!(winners(&kv, 40, 1000), 1, "round {round}: a new lease");
        assert_eq!(winners(&kv, 40, 70_000), 1, "round {round}: expired");
    }
}

/// A creator that counted itself first and then failed to write the lease
/// (its store call failed, or it was stopped) holds the lease up until the
/// next minute, no longer.
#[test]
fn a_creator_that_never_wrote_the_lease_holds_it_up_for_a_minute_at_most() {
    let kv = MemoryKv::default();
    // What such a creator leaves: its count, and no lease.
    kv.increment("lease-created:0:stuck", 1).unwrap();
    assert!(take_lease(&kv, "stuck", 1_000, 5_000).unwrap().is_none());
    assert!(take_lease(&kv, "stuck", 59_999, 5_000).unwrap().is_none());
    let holder = take_lease(&kv, "stuck", 60_000, 5_000).unwrap();
    assert!(
        holder.is_some(),
        "the next minute's first caller creates it"
    );
    assert!(take_lease(&kv, "stuck", 60_001, 5_000).unwrap().is_none());
}

/// A lease ended for good leaves nothing in the store once its creation's
/// count is forgotten, and only its holder can end it; the name can then
/// be taken afresh, even in the same minute.
/// A lease's value seen earlier in a request (in a batch get) stands in
/// for its read, however stale: seen held, it is not read again; seen
/// free, it is taken only if it is still as seen.
#[test]
fn a_lease_seen_earlier_is_not_read_again_and_is_taken_only_as_seen() {
    let kv = MemoryKv::default();
    let seen = |kv: &MemoryKv| Seen::Read(kv.get(&lease_key("job")).unwrap());
    let reads = |kv: &MemoryKv| kv.reads_of(&lease_key("job"));
    // Seen absent, and still absent: taken.
    let absent = seen(&kv);
    assert!(take_lease_seen(&kv, "job", absent.clone(), 1_000, 60_000)
        .unwrap()
        .is_some());
    // Seen held: no read of its own, not taken.
    let held = seen(&kv);
    let before = reads(&kv);
    assert_eq!(
        take_lease_seen(&kv, "job", held, 2_000, 60_000).unwrap(),
        None
    );
    assert_eq!(reads(&kv), before, "not read again");
    // Seen absent before another took it: not taken (the first to count
    // created it).
    assert_eq!(
        take_lease_seen(&kv, "job", absent, 3_000, 60_000).unwrap(),
        None
    );
    // Seen expired, then taken by another before this caller: not taken.
    let expired = seen(&kv);
    assert!(take_lease(&kv, "job", 70_000, 60_000).unwrap().is_some());
    assert_eq!(
        take_lease_seen(&kv, "job", expired, 70_001, 60_000).unwrap(),
        None
    );
    // Seen expired and still as seen: taken.
    let expired_now = seen(&kv);
    assert!(take_lease_seen(&kv, "job", expired_now, 200_000, 60_000)
        .unwrap()
        .is_some());
}

#[test]
fn an_ended_lease_leaves_no_keys_and_can_be_taken_afresh() {
    let kv = MemoryKv::default();
    let holder = take_lease(&kv, "done", 1_000, 3_600_000).unwrap().unwrap();
    assert_eq!(kv.keys().len(), 2, "the lease and its creation's count");
    assert!(!end_lease(&kv, "done", "someone else").unwrap());
    assert!(take_lease(&kv, "done", 2_000, 3_600_000).unwrap().is_none());
    assert!(end_lease(&kv, "done", &holder).unwrap());
    forget_creation(&kv, "done", 1_000).unwrap();
    assert_eq!(kv.keys(), Vec::<String>::new());
    assert!(!end_lease(&kv, "done", &holder).unwrap(), "already ended");
    assert!(take_lease(&kv, "done", 3_000, 3_600_000).unwrap().is_some());
}

/// Spin's Redis store: every swap made, and reported failed. The lease is
/// judged by what the store holds afterwards (in the Spin implementation of
/// the store; here the generation, which the core reads back itself).
#[test]
fn the_generation_moves_on_where_swaps_are_reported_failed_after_they_are_made() {
    let kv = FlawedKv::new(SwapFlaw::ReportedFailed);
    for expected in 1..=3 {
        generation::advance(&kv).unwrap();
        assert_eq!(generation::current(&kv).unwrap(), expected);
    }
}

/// Concurrent changes each leave the generation past the one they found:
/// whichever caller's swap lands, every caller returns, and it has moved
/// on at least once.
#[test]
fn concurrent_changes_all_move_the_generation_past_what_they_found() {
    let kv = MemoryKv::default();
    let kv = &kv;
    std::thread::scope(|scope| {
        for _ in 0..32 {
            scope.spawn(move || generation::advance(kv).unwrap());
        }
    });
    let now = generation::current(kv).unwrap();
    assert!((1..=32).contains(&now), "{now}");
}

/// A store whose swaps never take cannot hang a request: the advance gives
/// up, as a busy store (503), after a bounded number of tries.
#[test]
fn the_generation_gives_up_where_no_swap_ever_takes() {
    let kv = FlawedKv::new(SwapFlaw::NeverTakes);
    match generation::advance(&kv) {
        Err(CoreError::Store(StoreError::Busy)) => {}
        other => panic!("expected a busy store, got {other:?}"),
    }
}
