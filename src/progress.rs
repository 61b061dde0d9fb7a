//! Progress bars on stderr, only when stderr is a terminal and not `--quiet`.
//!
//! A known total is drawn as a bar with bytes done / total and an ETA; an unknown total
//! (0: a pipe, a phase whose size is not known yet) as a spinner with a byte counter,
//! never as a full bar over "0 B".

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
}

/// How a phase is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// A bar: done / total, rate, ETA.
    Bar,
    /// A spinner with the bytes done and the rate (the total is unknown).
    Counter,
}

impl Look {
    /// The look for a phase of `total` bytes (0: unknown).
    pub fn for_total(total: u64) -> Look {
        if total == 0 {
            Look::Counter
        } else {
            Look::Bar
        }
    }

    fn template(self) -> &'static str {
        match self {
            Look::Bar => {
                "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}"
            }
            Look::Counter => "{msg:>12} {spinner} {bytes} {binary_bytes_per_sec}",
        }
    }

    fn style(self) -> ProgressStyle {
        ProgressStyle::with_template(self.template())
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ")
    }
}

impl Progress {
    /// A byte-count bar (a counter while `total` is 0, unknown); hidden unless `enabled`
    /// and stderr is a terminal.
    pub fn bytes(enabled: bool, phase: &str, total: u64) -> Progress {
        let bar = if enabled && std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        let p = Progress { bar };
        p.phase(phase, total);
        p
    }
    pub fn hidden() -> Progress {
        Progress {
            bar: ProgressBar::hidden(),
        }
    }
    /// Start a new phase: label, total (0: unknown) and position 0.
    pub fn phase(&self, phase: &str, total: u64) {
        let look = Look::for_total(total);
        self.bar.set_message(phase.to_string());
        self.bar.set_position(0);
        match look {
            Look::Bar => self.bar.set_length(total),
            Look::Counter => self.bar.unset_length(),
        }
        self.bar.set_style(look.style());
    }
    /// Whether the bar is drawn (so callers can skip work only the bar needs).
    pub fn visible(&self) -> bool {
        !self.bar.is_hidden()
    }
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_totals_are_counters_not_full_bars() {
        assert_eq!(Look::for_total(0), Look::Counter);
        assert_eq!(Look::for_total(1), Look::Bar);
        assert_eq!(Look::for_total(u64::MAX), Look::Bar);
        // a counter never draws a total or a bar
        let t = Look::Counter.template();
        assert!(!t.contains("total") && !t.contains("{bar") && !t.contains("eta"));
        assert!(Look::Bar.template().contains("{total_bytes}"));
        // both templates parse (a bad one would fall back to indicatif's default bar)
        for l in [Look::Bar, Look::Counter] {
            ProgressStyle::with_template(l.template()).unwrap();
        }
    }

    #[test]
    fn phases_switch_between_bar_and_counter() {
        let p = Progress::hidden();
        p.phase("reading", 0);
        assert_eq!(p.bar.length(), None, "unknown total: no length");
        p.inc(660 << 20);
        p.phase("verifying", 1000);
        assert_eq!((p.bar.length(), p.bar.position()), (Some(1000), 0));
        p.phase("writing", 0);
        assert_eq!(p.bar.length(), None);
    }
}
