//! The threads plugin code runs on, apart from the host's own.
//!
//! A plugin call is CPU-bound while the plugin computes: eight calls of a looping plugin on the
//! host's runtime took its worker threads in 5 ms slices between epoch yields, and a
//! well-behaved product's package list went from p99 5.8 ms to 289 ms. Calls run on runtimes
//! of their own ([`CallPool`]): the edge, the store and the relay keep the host's threads, and
//! the kernel shares the cores between the sets of threads.
//!
//! **Three lanes.** One pool for every call still let a looping product slow the others: a
//! call waited behind the loops' 1 ms epoch slices on the pool's threads, and the kernel let
//! the loops finish their slice before the edge's thread ran (`scripts/probe-fairness.py` on a
//! quiet machine: a well-behaved product's package list p50 0.2 → 1.1 ms, p99 6.5–21× alone,
//! beside eight looping calls; 23–35× beside eight memory-hungry ones). So a call starts on
//! the *quick lane* (threads at nice [`CALL_THREAD_NICE`]) and may compute there for
//! [`QUICK_LANE_BUDGET`], counted as the CPU time its polls took. Past it, at its next epoch
//! yield, the call moves to the *idle lane*: the same number of threads in the kernel's idle
//! class (`SCHED_IDLE`), which run only on a core no other thread wants and give it up when
//! one wakes: at once as a rule, but for a fraction of a percent of wake-ups only at the
//! scheduler's next tick (4 ms on the 2-core test machine), which was most of what was left of
//! the looping product's cost to the others (RELIABILITY.md, "The probe's window"). So the
//! idle lane's threads offer their core back at every epoch yield, which ends such a wait
//! within 1 ms (`to_the_end`; RELIABILITY.md, "The idle class's tick"); and every thread the
//! host wakes for a request is one more chance of it, which is why the log is written in
//! batches (RELIABILITY.md, "Fewer wake-ups per request"). Moving is handing the call's
//! boxed future to the other runtime (wasmtime's call futures are `Send` and may be polled
//! from any thread).
//!
//! The lane is remembered per product ([`LaneMemo`], in the product's `CallSlots`): once one
//! of its calls moved, the product's other calls on the quick lane move at their next yield
//! and its new calls start on the *long lane*, threads at nice [`LONG_LANE_NICE`], until
//! [`QUICK_CALLS_TO_RETURN`] calls in a row finish within the budget. A call there that
//! computes past the budget itself moves on to the idle lane. So a product that loops or
//! grows big memories costs the quick lane one budget, not one per call, and the well-behaved
//! products never wait behind it; and only calls that have shown they compute long are left
//! to the idle class. (The long lane alone at nice 19 let a looping thread finish a slice of
//! up to 1.7 ms before the edge's thread ran; the idle class alone starved short calls of a
//! product that had looped before, whenever the host's threads kept the cores busy.)
//!
//! What the idle lane costs: when the cores are busy with the host's own work or with quick
//! calls, a long call gets almost none of them and may reach its deadline (retryable, like any
//! timeout). That is the intended order: the edge first, short calls next, long calls with
//! what is left. The caller waits for the deadline on its own thread as well (`plugin`), so a
//! long call that gets no core still answers in time.
//!
//! **Paced growth.** A product that runs long may still hold up the others through the
//! process's memory map: every `memory.grow` of a pooled memory is an `mprotect`, which takes
//! the process's `mmap_lock` for writing, and every call's reset takes it for reading (wasmtime's
//! `PAGEMAP_SCAN`). Eight calls of a memory-hungry plugin made about 3,100 growths a second,
//! each thread of it at nice 19 preempted while holding the lock (held up to 4.45 ms), and a
//! well-behaved call's reset waited behind them. So once a product runs long, its growths
//! share one token bucket: [`GROWTH_BURST`] at once, then one per [`GROWTH_PACE`], the wait
//! spent in the store's async limiter (the call's task sleeps; the thread runs other calls).
//! Growing at instantiation is not paced. A hostile plugin's calls then take longer to reach
//! their limits, and count against their own deadline while they wait.
//!
//! **Reclaim.** A call that grew a big linear memory ends with the kernel taking that memory
//! back (`madvise(MADV_DONTNEED)` on everything past what the pooling allocator keeps
//! resident), which is one system call that cannot yield: 25 to 60 MiB took 20 to 55 ms each
//! on a busy 2-core machine. Such stores are handed to the [`Reclaimer`]: one thread of its
//! own, at the quick lane's priority, drops them one after another, so the lanes' threads go
//! straight back to the calls and at most one core is busy giving memory back. What the memory
//! budget and the product's call bound count is only given back once the memory is (the
//! store's limiter and the call's slot are dropped with it), so neither resident memory nor
//! instance slots can run past their bounds while stores wait.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

/// The nice value of the quick lane's threads (0 is the host's; higher runs later when cores
/// are contended). Setting it needs no privilege.
pub const CALL_THREAD_NICE: i32 = 10;

/// The nice value of the long lane's threads (the calls of a product that ran long, until they
/// compute past the budget themselves) and of the idle lane's, should the idle class be
/// refused: the lowest, so a waking quick-lane or host thread takes the core from them. Not the
/// idle class itself: it starved the short calls of a product that had looped before whenever
/// the host's threads kept both cores busy (the integration suite's own load took a TypeScript
/// call past its 500 ms deadline). RELIABILITY.md has the figures.
pub const LONG_LANE_NICE: i32 = 19;

/// How long a call may compute on the quick or long lane before it moves to the idle lane:
/// the CPU time of the call's polls (the thread's own clock), that is running plugin code and the
/// host's synchronous work for it; not time waiting on a request, nor time the thread spent
/// preempted inside a poll, which on a busy machine would move a short call for the machine's
/// load rather than its own work. A package list takes 0.02 ms (Rust) to 1.1 ms (Python); a
/// plugin looping to its deadline takes everything it is given.
pub const QUICK_LANE_BUDGET: Duration = Duration::from_millis(2);

/// How many calls in a row a product on the long lane must finish within
/// [`QUICK_LANE_BUDGET`] to start its calls on the quick lane again. One is not enough: a
/// memory-hungry plugin's calls alternate between running long and failing at once when the
/// memory budget is spent, and each return to the quick lane cost it another budget there.
pub const QUICK_CALLS_TO_RETURN: u32 = 16;

/// How often a product that runs long (see [`LaneMemo`]) may grow a linear memory, once its
/// [`GROWTH_BURST`] is spent: one growth per `GROWTH_PACE` across all of its calls (250 a
/// second). See "Paced growth" in the module docs.
pub const GROWTH_PACE: Duration = Duration::from_millis(4);

/// How many growths a product that runs long may make at once before they are paced: a
/// plugin that grows its heap a few dozen times in a call is not slowed.
pub const GROWTH_BURST: u32 = 64;

/// Which lane a product's calls start on, remembered between its calls (see the module docs),
/// and the pace of its memory growths while it runs long.
#[derive(Debug, Default)]
pub struct LaneMemo {
    runs_long: AtomicBool,
    /// Calls in a row within the budget while on the long lane.
    quick_in_a_row: AtomicU32,
    /// When the product's paced growths are due ("theoretical arrival time" of a token
    /// bucket): a growth takes the next [`GROWTH_PACE`] after it, and waits for whatever of it
    /// lies more than [`GROWTH_BURST`] paces ahead.
    growths_due: Mutex<Option<Instant>>,
}

impl LaneMemo {
    /// Whether the product's calls outran [`QUICK_LANE_BUDGET`] lately: its calls start on the
    /// long lane, and its calls still on the quick lane move at their next yield.
    pub fn runs_long(&self) -> bool {
        self.runs_long.load(Ordering::Relaxed)
    }

    /// How long a growth of one of the product's memories must wait first: nothing on the
    /// quick lane or within the burst, else until its turn at [`GROWTH_PACE`].
    pub(crate) fn growth_wait(&self) -> Option<Duration> {
        if !self.runs_long() {
            return None;
        }
        let now = Instant::now();
        let mut due = self
            .growths_due
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = due.map_or(now, |due| due.max(now)) + GROWTH_PACE;
        *due = Some(next);
        let ahead = next - now;
        let wait = ahead.saturating_sub(GROWTH_PACE * GROWTH_BURST);
        (!wait.is_zero()).then_some(wait)
    }

    /// A call ran past the budget.
    fn ran_long(&self) {
        self.quick_in_a_row.store(0, Ordering::Relaxed);
        if !self.runs_long.swap(true, Ordering::Relaxed) {
            tracing::debug!("a product's calls move to the long lane");
        }
    }

    /// A call on the long lane finished within the budget.
    fn ran_quick(&self) {
        let in_a_row = self.quick_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
        if in_a_row >= QUICK_CALLS_TO_RETURN && self.runs_long.swap(false, Ordering::Relaxed) {
            self.quick_in_a_row.store(0, Ordering::Relaxed);
            tracing::debug!("a product's calls return to the quick lane");
        }
    }
}

/// The three lanes plugin calls run on (the quick, the long and the idle lane), shut down in
/// the background when the last plugin holding them is dropped.
#[derive(Debug)]
pub struct CallPool {
    quick: Lane,
    long: Lane,
    idle: Lane,
    reclaimer: Reclaimer,
}

/// One lane: a thread per core, each running a single-threaded runtime of its own, and a
/// call goes to the thread with the fewest calls in flight.
///
/// Not one multi-threaded runtime: its worker that is woken for a call wakes another in turn
/// (so there is always one looking for more work), and on a core the idle lane shares, that
/// second wake-up preempted the call's thread, which then waited up to the next scheduler
/// event (the epoch tick, 1 ms) while an idle-class thread ran in its place: a `perf` trace of
/// the slow requests beside the looping product (RELIABILITY.md, "Fewer wake-ups per
/// request"). Here a call wakes the one thread it is given to. What is lost is work stealing:
/// a call waits behind the other calls of its thread's runtime, which yield at every epoch
/// tick and, on the quick lane, leave it past [`QUICK_LANE_BUDGET`].
#[derive(Debug)]
struct Lane {
    threads: Vec<LaneThread>,
}

#[derive(Debug)]
struct LaneThread {
    handle: tokio::runtime::Handle,
    /// Calls given to this thread and not yet done.
    in_flight: Arc<AtomicUsize>,
    /// Dropped with the lane: the thread's runtime then shuts down in the background.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Lane {
    fn new(name: &str, on_start: fn()) -> std::io::Result<Self> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::with_threads(name, on_start, threads)
    }

    fn with_threads(name: &str, on_start: fn(), threads: usize) -> std::io::Result<Self> {
        let threads = (0..threads.max(1))
            .map(|_| LaneThread::start(name, on_start))
            .collect::<std::io::Result<_>>()?;
        Ok(Lane { threads })
    }

    /// Runs `job` on the lane's least busy thread and waits for it; a panic in `job` is
    /// resumed in the caller.
    async fn run<F>(&self, job: F) -> Option<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let thread = self
            .threads
            .iter()
            .min_by_key(|t| t.in_flight.load(Ordering::Relaxed))?;
        // Counted until the call ends on the thread, which may be after its caller gave up.
        let counted = InFlight::count(Arc::clone(&thread.in_flight));
        let job = async move {
            let _counted = counted;
            job.await
        };
        match thread.handle.spawn(job).await {
            Ok(output) => Some(output),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The pool is shutting down with the host.
            Err(_) => None,
        }
    }
}

impl LaneThread {
    /// Starts the thread and its runtime; returns once the runtime runs.
    fn start(name: &str, on_start: fn()) -> std::io::Result<Self> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, handle) = channel();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                on_start();
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                let _ = ready.send(Ok(runtime.handle().clone()));
                // Runs the calls given to it until the lane is dropped.
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                runtime.shutdown_background();
            })?;
        let handle = handle
            .recv()
            .map_err(|_| std::io::Error::other("a lane's thread ended before its runtime ran"))??;
        Ok(LaneThread {
            handle,
            in_flight: Arc::new(AtomicUsize::new(0)),
            _stop: stop,
        })
    }
}

/// One call counted on a lane's thread until dropped with the call.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn count(in_flight: Arc<AtomicUsize>) -> Self {
        in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(in_flight)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl CallPool {
    /// One worker thread per core in each lane.
    pub fn new() -> std::io::Result<Arc<Self>> {
        Ok(Arc::new(CallPool {
            quick: Lane::new("assay-plugin", lower_priority)?,
            long: Lane::new("assay-plugin-long", lowest_priority)?,
            idle: Lane::new("assay-plugin-idle", idle_class)?,
            reclaimer: Reclaimer::start()?,
        }))
    }

    /// Drops `what` on the reclaim thread rather than the caller's (see [`Reclaimer`]).
    pub fn reclaim<T: Send + 'static>(&self, what: T) {
        self.reclaimer.drop_later(what);
    }

    /// Runs `job` (one call of the product whose lane `memo` remembers) and waits for it; a
    /// panic in `job` is resumed here. `None` when the pool is shutting down.
    pub async fn run<F>(&self, job: F, memo: &Arc<LaneMemo>) -> Option<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let job = Box::pin(job);
        let started_long = memo.runs_long();
        let stage = if started_long {
            self.long
                .run(on_lane(job, Duration::ZERO, past_budget))
                .await?
        } else {
            // Out of budget, or another call of the product was: move on.
            let memo = Arc::clone(memo);
            let leave = move |busy| past_budget(busy) || memo.runs_long();
            self.quick.run(on_lane(job, Duration::ZERO, leave)).await?
        };
        // A call that left the quick lane only because its product runs long computes on at
        // nice 19 until it is past the budget itself.
        let stage = match stage {
            Stage::Moved(job, busy) if !past_budget(busy) => {
                memo.ran_long();
                self.long.run(on_lane(job, busy, past_budget)).await?
            }
            stage => stage,
        };
        let (output, busy) = match stage {
            Stage::Done(output, busy) => (output, busy),
            Stage::Moved(job, busy) => self.idle.run(to_the_end(job, busy)).await?,
        };
        if past_budget(busy) {
            memo.ran_long();
        } else if started_long {
            memo.ran_quick();
        }
        Some(output)
    }
}

/// Whether a call has computed past [`QUICK_LANE_BUDGET`].
fn past_budget(busy: Duration) -> bool {
    busy > QUICK_LANE_BUDGET
}

/// Where a call's time on one lane ended: done, or handed on at a yield; either way with the
/// CPU time its polls took so far.
enum Stage<F: Future> {
    Done(F::Output, Duration),
    Moved(Pin<Box<F>>, Duration),
}

/// Polls `job` (which has computed for `busy` so far) until it is done, or until, at a yield,
/// `leave` says from its CPU time that it belongs on another lane. Whatever woke the task from
/// then on wakes nothing; the next lane polls the job at once, so no wake-up is lost.
async fn on_lane<F: Future>(
    mut job: Pin<Box<F>>,
    mut busy: Duration,
    leave: impl Fn(Duration) -> bool,
) -> Stage<F> {
    let done = poll_fn(|cx| match timed_poll(job.as_mut(), cx, &mut busy) {
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending if leave(busy) => Poll::Ready(None),
        Poll::Pending => Poll::Pending,
    })
    .await;
    match done {
        Some(output) => Stage::Done(output, busy),
        None => Stage::Moved(job, busy),
    }
}

/// Polls `job` (which has computed for `busy` so far) until it is done: the idle lane, which
/// keeps its calls. Its output and the CPU time of all its polls.
///
/// After every poll that did not finish (an epoch yield, 1 ms apart while a call computes),
/// the thread offers its core to the kernel (`sched_yield`). An idle-class thread otherwise
/// keeps a core until the scheduler's next tick (4 ms at 250 Hz) whenever the kernel picks it
/// over a host thread that was preempted there, which it does for a fraction of a percent of
/// wake-ups (`scripts/probe-idle-class.py`); the offer ends that wait at the next epoch tick.
/// RELIABILITY.md, "The idle class's tick", has the figures.
async fn to_the_end<F: Future>(mut job: Pin<Box<F>>, mut busy: Duration) -> (F::Output, Duration) {
    let output = poll_fn(|cx| {
        let polled = timed_poll(job.as_mut(), cx, &mut busy);
        if polled.is_pending() {
            std::thread::yield_now();
        }
        polled
    })
    .await;
    (output, busy)
}

/// Polls `job` once, adding the CPU time the poll took to `busy`.
fn timed_poll<F: Future + ?Sized>(
    job: Pin<&mut F>,
    cx: &mut std::task::Context<'_>,
    busy: &mut Duration,
) -> Poll<F::Output> {
    let started = thread_cpu_time();
    let polled = job.poll(cx);
    *busy += thread_cpu_time().saturating_sub(started);
    polled
}

/// The CPU time the calling thread has used, user and system (a poll runs on one thread
/// from start to end, so the difference of two readings around it is the poll's).
fn thread_cpu_time() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

/// A thread that drops what it is given, one after another, at the pool's priority: where the
/// stores of calls that grew big memories are released, off the pool's threads.
#[derive(Debug)]
pub struct Reclaimer {
    queue: Sender<Box<dyn Send>>,
}

impl Reclaimer {
    /// Starts the thread.
    pub fn start() -> std::io::Result<Self> {
        let (sender, receiver) = channel::<Box<dyn Send>>();
        std::thread::Builder::new()
            .name("assay-reclaim".into())
            .spawn(move || {
                set_nice(CALL_THREAD_NICE, "the reclaim thread");
                // Each item is dropped as it is received; the loop ends when the sender is.
                for item in receiver {
                    drop(item);
                }
            })?;
        Ok(Reclaimer { queue: sender })
    }

    /// Drops `what` on the reclaim thread, or here if that thread is gone (it only ends when
    /// this is dropped, or if a drop panicked there).
    pub fn drop_later<T: Send + 'static>(&self, what: T) {
        if let Err(refused) = self.queue.send(Box::new(what)) {
            drop(refused.0);
        }
    }
}

/// Sets the calling thread's nice value (per thread on Linux; raising it needs no privilege);
/// `who` names the threads in the log line of a refusal.
pub(crate) fn set_nice(nice: i32, who: &str) {
    if let Err(e) = rustix::process::setpriority_process(None, nice) {
        tracing::debug!(error = %e, "{who} keeps the host's priority");
    }
}

fn lower_priority() {
    set_nice(CALL_THREAD_NICE, "the quick lane");
}

fn lowest_priority() {
    set_nice(LONG_LANE_NICE, "the long lane");
}

/// The idle lane's threads: the kernel's idle class (`SCHED_IDLE`), at nice 19 should the
/// class be refused.
fn idle_class() {
    set_nice(LONG_LANE_NICE, "the idle lane");
    if let Err(e) = set_idle_class() {
        tracing::debug!(error = %e, "the idle lane stays at nice {LONG_LANE_NICE}");
    }
}

/// Puts the calling thread in the idle scheduling class (per thread on Linux; entering it
/// needs no privilege).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn set_idle_class() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `sched_setscheduler` reads `param`, a valid `sched_param` that outlives the
    // call; pid 0 is the calling thread.
    let result = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn set_idle_class() -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "the idle scheduling class is Linux's",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
    use std::time::Duration;

    /// A call as the pool sees it: it computes for `per_poll` in each poll and yields between
    /// polls, as a plugin does at an epoch tick, and reports the threads its polls ran on.
    /// [`Computing::waiting`] sleeps through its polls instead, as a thread preempted or
    /// blocked inside a poll does.
    struct Computing {
        polls: u32,
        per_poll: Duration,
        sleeps: bool,
        threads: Vec<String>,
    }

    impl Computing {
        fn new(polls: u32, per_poll: Duration) -> Self {
            Computing {
                polls,
                per_poll,
                sleeps: false,
                threads: Vec::new(),
            }
        }

        fn waiting(polls: u32, per_poll: Duration) -> Self {
            Computing {
                sleeps: true,
                ..Self::new(polls, per_poll)
            }
        }
    }

    impl Future for Computing {
        type Output = Vec<String>;

        fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Vec<String>> {
            let this = self.get_mut();
            let name = std::thread::current().name().unwrap_or("?").to_owned();
            this.threads.push(name);
            if this.sleeps {
                std::thread::sleep(this.per_poll);
            } else {
                // Computed time, as the budget counts it: a preempted thread spins on.
                let until = thread_cpu_time() + this.per_poll;
                while thread_cpu_time() < until {
                    std::hint::spin_loop();
                }
            }
            this.polls -= 1;
            if this.polls == 0 {
                return Poll::Ready(std::mem::take(&mut this.threads));
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    fn run(pool: &CallPool, job: Computing, memo: &Arc<LaneMemo>) -> Vec<String> {
        let caller = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        caller
            .block_on(pool.run(job, memo))
            .expect("the pool is running")
    }

    const QUICK: &str = "assay-plugin";
    const LONG: &str = "assay-plugin-long";
    const IDLE: &str = "assay-plugin-idle";

    #[test]
    fn calls_in_flight_on_a_lane_go_to_different_threads() {
        let lane = Lane::with_threads("test-lane", || {}, 2).expect("lane");
        let (a_started, a_seen) = sync_channel(1);
        let (b_started, b_seen) = sync_channel(1);
        let caller = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        // Each call holds its thread until it sees the other start: on one thread, the second
        // could not start while the first waits, and both would time out.
        let (a, b) = caller.block_on(async {
            tokio::join!(
                lane.run(async move {
                    let _ = a_started.send(());
                    b_seen.recv_timeout(Duration::from_secs(10)).is_ok()
                }),
                lane.run(async move {
                    let _ = b_started.send(());
                    a_seen.recv_timeout(Duration::from_secs(10)).is_ok()
                }),
            )
        });
        assert_eq!((a, b), (Some(true), Some(true)), "both ran at once");
        let left: Vec<usize> = lane
            .threads
            .iter()
            .map(|t| t.in_flight.load(Ordering::Relaxed))
            .collect();
        assert_eq!(left, [0, 0], "no call is counted once done");
    }

    #[test]
    fn a_call_within_the_budget_stays_on_the_quick_lane() {
        let pool = CallPool::new().expect("pool");
        let memo = Arc::new(LaneMemo::default());
        // Three polls computing nothing, yielding between them: microseconds in all (a longer
        // computation could be preempted past the budget on a busy machine).
        let threads = run(&pool, Computing::new(3, Duration::ZERO), &memo);
        assert_eq!(threads.len(), 3);
        assert!(threads.iter().all(|t| t == QUICK), "{threads:?}");
        assert!(!memo.runs_long());
    }

    #[test]
    fn only_computing_counts_against_the_budget() {
        let pool = CallPool::new().expect("pool");
        let memo = Arc::new(LaneMemo::default());
        // 4 polls of 3 ms each: 12 ms inside polls, six budgets of wall time, and almost no
        // CPU time.
        let threads = run(
            &pool,
            Computing::waiting(4, Duration::from_millis(3)),
            &memo,
        );
        assert_eq!(threads.len(), 4);
        assert!(threads.iter().all(|t| t == QUICK), "{threads:?}");
        assert!(!memo.runs_long());
    }

    #[test]
    fn a_call_past_the_budget_moves_and_its_product_follows_until_it_runs_quick_again() {
        let pool = CallPool::new().expect("pool");
        let memo = Arc::new(LaneMemo::default());
        // 1 ms of CPU a poll: past the 2 ms budget after the second poll (the third, if timing
        // overhead rounds the second down), which is where it moves.
        let threads = run(&pool, Computing::new(10, Duration::from_millis(1)), &memo);
        assert_eq!(threads.len(), 10);
        assert_eq!(
            threads.first().map(String::as_str),
            Some(QUICK),
            "{threads:?}"
        );
        assert_eq!(
            threads.last().map(String::as_str),
            Some(IDLE),
            "{threads:?}"
        );
        let moved_at = threads.iter().position(|t| t == IDLE).expect("moved");
        assert!((1..=3).contains(&moved_at), "moved after {moved_at} polls");
        assert!(threads[moved_at..].iter().all(|t| t == IDLE), "{threads:?}");
        assert!(memo.runs_long());

        // The product's next calls start on the long lane, quick or not, until enough of them
        // in a row were quick; one that computes past the budget moves on to the idle lane.
        let threads = run(&pool, Computing::new(6, Duration::from_millis(1)), &memo);
        assert_eq!(threads.first().map(String::as_str), Some(LONG));
        assert_eq!(threads.last().map(String::as_str), Some(IDLE));
        for _ in 0..QUICK_CALLS_TO_RETURN {
            assert!(memo.runs_long());
            let threads = run(&pool, Computing::new(1, Duration::ZERO), &memo);
            assert_eq!(threads, [LONG]);
        }
        assert!(!memo.runs_long());
        assert_eq!(
            run(&pool, Computing::new(1, Duration::ZERO), &memo),
            [QUICK]
        );
    }

    #[test]
    fn a_long_call_on_the_long_lane_restarts_the_count_of_quick_ones() {
        let pool = CallPool::new().expect("pool");
        let memo = Arc::new(LaneMemo::default());
        run(&pool, Computing::new(4, Duration::from_millis(1)), &memo);
        for _ in 1..QUICK_CALLS_TO_RETURN {
            run(&pool, Computing::new(1, Duration::ZERO), &memo);
        }
        run(&pool, Computing::new(4, Duration::from_millis(1)), &memo);
        run(&pool, Computing::new(1, Duration::ZERO), &memo);
        assert!(
            memo.runs_long(),
            "one quick call after a long one is not a return"
        );
    }

    #[test]
    fn growths_are_paced_only_on_the_long_lane_and_past_the_burst() {
        let memo = LaneMemo::default();
        for _ in 0..2 * GROWTH_BURST {
            assert_eq!(memo.growth_wait(), None, "the quick lane is never paced");
        }
        memo.ran_long();
        for n in 0..GROWTH_BURST {
            assert_eq!(memo.growth_wait(), None, "growth {n} is within the burst");
        }
        // Then one growth per pace: each waits about one pace longer than the one before
        // (less the microseconds this loop takes).
        let waits: Vec<Duration> = (0..4).map(|_| memo.growth_wait().expect("paced")).collect();
        for (n, wait) in waits.iter().enumerate() {
            let turn = GROWTH_PACE * (n as u32 + 1);
            assert!(
                *wait <= turn && *wait > turn - GROWTH_PACE / 2,
                "growth {n} past the burst waits {wait:?}, about {turn:?}"
            );
        }
        // A product back on the quick lane grows freely again.
        for _ in 0..QUICK_CALLS_TO_RETURN {
            memo.ran_quick();
        }
        assert!(!memo.runs_long());
        assert_eq!(memo.growth_wait(), None);
    }

    /// The scheduling policy of the calling thread (`/proc/thread-self/stat`, field 41).
    #[cfg(target_os = "linux")]
    fn policy() -> u32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        // Fields after the command (in parentheses, which may hold spaces) start at field 3.
        let after = &stat[stat.rfind(')').expect("comm") + 2..];
        after
            .split(' ')
            .nth(41 - 3)
            .expect("policy")
            .parse()
            .expect("a number")
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_call_past_the_budget_runs_on_in_the_idle_class() {
        let pool = CallPool::new().expect("pool");
        let memo = Arc::new(LaneMemo::default());
        // Computes 3 ms of CPU, yields, then reports its thread's policy.
        let mut computed = false;
        let job = poll_fn(move |cx| {
            if computed {
                return Poll::Ready(policy());
            }
            let until = thread_cpu_time() + Duration::from_millis(3);
            while thread_cpu_time() < until {
                std::hint::spin_loop();
            }
            computed = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        });
        let caller = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let idle = caller.block_on(pool.run(job, &memo));
        assert_eq!(idle, Some(libc::SCHED_IDLE as u32));
        // The quick lane's calls keep the ordinary class.
        let quick = caller.block_on(pool.run(async { policy() }, &Arc::default()));
        assert_eq!(quick, Some(libc::SCHED_OTHER as u32));
    }

    #[test]
    fn each_lane_runs_at_its_nice_value() {
        let pool = CallPool::new().expect("pool");
        let memo = Arc::new(LaneMemo::default());
        let caller = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let nice = || rustix::process::getpriority_process(None).expect("nice");
        let quick = caller.block_on(pool.run(async move { nice() }, &memo));
        assert_eq!(quick, Some(CALL_THREAD_NICE));
        memo.ran_long();
        let long = caller.block_on(pool.run(async move { nice() }, &memo));
        assert_eq!(long, Some(LONG_LANE_NICE));
    }

    /// Blocks its drop until released, then reports the thread it was dropped on.
    struct Held {
        release: Receiver<()>,
        dropped: SyncSender<Option<String>>,
    }

    impl Drop for Held {
        fn drop(&mut self) {
            let _ = self.release.recv();
            let name = std::thread::current().name().map(str::to_owned);
            let _ = self.dropped.send(name);
        }
    }

    #[test]
    fn the_reclaimer_drops_on_its_own_thread_without_holding_the_caller() {
        let reclaimer = Arc::new(Reclaimer::start().expect("reclaimer"));
        let (release, release_rx) = sync_channel(1);
        let (dropped_tx, dropped) = sync_channel(1);
        let (returned_tx, returned) = sync_channel(1);
        // A drop that blocks until released: `drop_later` returns before it ends only if the
        // drop runs elsewhere.
        let caller = Arc::clone(&reclaimer);
        std::thread::spawn(move || {
            caller.drop_later(Held {
                release: release_rx,
                dropped: dropped_tx,
            });
            let _ = returned_tx.send(());
        });
        let returned = returned.recv_timeout(Duration::from_secs(10));
        release.send(()).expect("the item is alive until released");
        assert!(returned.is_ok(), "drop_later waited for the drop");
        let thread = dropped
            .recv_timeout(Duration::from_secs(10))
            .expect("dropped once released");
        assert_eq!(thread.as_deref(), Some("assay-reclaim"));
    }
}
