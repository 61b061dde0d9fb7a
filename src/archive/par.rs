//! An ordered parallel map with a bounded number of jobs in flight: the one piece of
//! machinery behind the parallel compressors (gzip chunks, zstd frames) and the
//! parallel decompressors. Jobs are numbered as submitted; results come back in that
//! order whatever thread finished first, so output bytes never depend on scheduling.
//! Memory is bounded by `max_in_flight` jobs and their results.

use std::collections::BTreeMap;
use std::io;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

type Done<O> = (u64, io::Result<O>);

pub struct Ordered<J: Send + 'static, O: Send + 'static> {
    jobs: Option<mpsc::Sender<(u64, J)>>,
    done: mpsc::Receiver<Done<O>>,
    pending: BTreeMap<u64, io::Result<O>>,
    next_seq: u64,
    next_out: u64,
    in_flight: usize,
    max_in_flight: usize,
    workers: Vec<thread::JoinHandle<()>>,
}

impl<J: Send + 'static, O: Send + 'static> Ordered<J, O> {
    /// `threads` workers; each builds its own state with `make` (a compressor context,
    /// say) and runs `f` on the jobs it takes. At most `max_in_flight` jobs (at least
    /// one) are submitted and not yet returned by [`Ordered::take_next`].
    pub fn new<S, M, F>(threads: usize, max_in_flight: usize, make: M, f: F) -> Self
    where
        S: 'static,
        M: Fn() -> S + Send + Sync + 'static,
        F: Fn(&mut S, J) -> io::Result<O> + Send + Sync + 'static,
    {
        let threads = threads.max(1);
        let (jtx, jrx) = mpsc::channel::<(u64, J)>();
        let jrx = Arc::new(Mutex::new(jrx));
        let (dtx, drx) = mpsc::channel::<Done<O>>();
        let make = Arc::new(make);
        let f = Arc::new(f);
        let workers = (0..threads)
            .map(|_| {
                let (jrx, dtx, make, f) = (jrx.clone(), dtx.clone(), make.clone(), f.clone());
                thread::spawn(move || {
                    let mut state = make();
                    loop {
                        let job = match jrx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok((seq, job)) = job else { return };
                        if dtx.send((seq, f(&mut state, job))).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        Ordered {
            jobs: Some(jtx),
            done: drx,
            pending: BTreeMap::new(),
            next_seq: 0,
            next_out: 0,
            in_flight: 0,
            max_in_flight: max_in_flight.max(1),
            workers,
        }
    }

    /// True when a job must be taken out (with `take_next`) before another is submitted.
    pub fn is_full(&self) -> bool {
        self.in_flight >= self.max_in_flight
    }

    /// Jobs submitted and not yet returned.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Submit a job; the caller takes results out first when [`Ordered::is_full`].
    pub fn submit(&mut self, job: J) -> io::Result<()> {
        let jobs = self
            .jobs
            .as_ref()
            .ok_or_else(|| io::Error::other("worker pool already closed"))?;
        jobs.send((self.next_seq, job))
            .map_err(|_| io::Error::other("worker thread stopped"))?;
        self.next_seq += 1;
        self.in_flight += 1;
        Ok(())
    }

    /// The result of the oldest job still out, waiting for it; None when none is out.
    pub fn take_next(&mut self) -> Option<io::Result<O>> {
        if self.in_flight == 0 {
            return None;
        }
        loop {
            if let Some(r) = self.pending.remove(&self.next_out) {
                self.next_out += 1;
                self.in_flight -= 1;
                return Some(r);
            }
            match self.done.recv() {
                Ok((seq, r)) => {
                    self.pending.insert(seq, r);
                }
                Err(_) => {
                    self.in_flight = 0;
                    return Some(Err(io::Error::other("worker thread stopped")));
                }
            }
        }
    }
}

impl<J: Send + 'static, O: Send + 'static> Drop for Ordered<J, O> {
    fn drop(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// Threads to use when the caller does not say: every core.
pub fn default_threads() -> usize {
    thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_submission_order_and_errors_pass_through() {
        let mut p = Ordered::new(
            4,
            3,
            || 0u64,
            |calls: &mut u64, n: u64| {
                *calls += 1;
                // later jobs finish first
                std::thread::sleep(std::time::Duration::from_millis(10 - n % 10));
                if n == 7 {
                    return Err(io::Error::other("seven"));
                }
                Ok(n * 2)
            },
        );
        let mut got = Vec::new();
        for n in 0..20u64 {
            if p.is_full() {
                got.push(p.take_next().unwrap().map_err(|e| e.to_string()));
            }
            p.submit(n).unwrap();
        }
        while let Some(r) = p.take_next() {
            got.push(r.map_err(|e| e.to_string()));
        }
        let want: Vec<_> = (0..20u64)
            .map(|n| {
                if n == 7 {
                    Err("seven".to_string())
                } else {
                    Ok(n * 2)
                }
            })
            .collect();
        assert_eq!(got, want);
        assert!(p.take_next().is_none());
    }
}
