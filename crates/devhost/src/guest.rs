//! Where guests run: as tasks on the runtime's worker threads, their brief
//! store calls in place, their long ones handed off.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::task::{Context, Poll};

/// Workers per core: a guest's key-value or Redis call blocks its worker for
/// a round trip (see [`blocking`]), and the other workers keep the cores busy
/// meanwhile (measured, cached pom on 2 cores: 2 workers ~5,600, 8 ~6,500
/// requests/s).
const WORKERS_PER_CORE: usize = 4;

/// The runtime's worker threads (set once by [`runtime`]).
static WORKERS: OnceLock<usize> = OnceLock::new();

/// Guests started and not yet finished.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// devhost's runtime: [`WORKERS_PER_CORE`] workers per core, or
/// `TOKIO_WORKER_THREADS`.
pub fn runtime() -> tokio::runtime::Runtime {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let workers = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(cores * WORKERS_PER_CORE);
    let _ = WORKERS.set(workers);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Whether fewer guests run than there are workers, so that a worker is
/// likely idle to take over a guest that yields.
pub fn workers_to_spare() -> bool {
    RUNNING.load(Ordering::Relaxed) < WORKERS.get().copied().unwrap_or(1)
}

thread_local! {
    /// Whether this thread is polling a guest (see [`spawn`]).
    static IN_GUEST: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs a guest's call to its end as a task on the runtime's workers, beside
/// the connections' I/O. Handing each guest to a thread of tokio's blocking
/// pool instead cost three thread switches per request (measured: ~27,000
/// switches/s at ~9,000 requests/s of the one-get probe; ~7,500 here), and
/// the probe, a cached pom and a 1 MiB jar each went 5-20% faster on 2
/// cores without them.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    RUNNING.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(GuestTask {
        guest: Box::pin(future),
    })
}

/// A guest's future, marked while it is polled so that its store calls know
/// where they run.
struct GuestTask<F> {
    guest: Pin<Box<F>>,
}

impl<F> Drop for GuestTask<F> {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<F: Future> Future for GuestTask<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        IN_GUEST.with(|g| g.set(true));
        let polled = self.guest.as_mut().poll(cx);
        IN_GUEST.with(|g| g.set(false));
        polled
    }
}

/// Runs a brief blocking call (a key-value or Redis command: a local read or
/// one round trip). A guest runs it in place: moving the worker's other
/// tasks to another thread and back (`block_in_place`) costs more than the
/// call (measured: the one-get probe ~4,400 -> ~5,600-6,100 requests/s).
/// The runtime has more workers than cores (see [`runtime`]) so that a worker
/// waiting on Redis leaves the cores to the others.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    if IN_GUEST.with(|g| g.get()) {
        return f();
    }
    blocking_long(f)
}

/// Runs a blocking call that may wait long (SQLite, which waits up to its
/// busy timeout for another writer) without holding up the tasks queued on
/// this worker.
pub fn blocking_long<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
