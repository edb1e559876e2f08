//! Measuring one phase of a benchmark: wall time, CPU time of the whole
//! process (`getrusage`, every thread, including librdkafka's and the
//! embedded broker's), CPU time of the embedded broker's own thread, and
//! resident memory (the peak mark is reset at the start of each phase, so
//! the peak is the phase's own).

use std::time::{Duration, Instant};

/// The thread name librdkafka gives the mock cluster (the embedded broker).
const BROKER_THREAD: &str = "rdk:mock";

/// A phase being measured.
#[derive(Debug, Clone)]
pub struct Meter {
    wall: Instant,
    cpu: Duration,
    broker_cpu: Duration,
    start_rss: Option<u64>,
    peak_reset: bool,
}

/// What a phase cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// Wall-clock time.
    pub wall: Duration,
    /// CPU time of the process (user + system, all threads).
    pub cpu: Duration,
    /// Of which the embedded broker's thread (zero without one).
    pub broker_cpu: Duration,
    /// Resident memory when the phase started (bytes).
    pub start_rss: Option<u64>,
    /// Peak resident memory (bytes): of the phase when the kernel let the
    /// mark be reset, else of the process so far.
    pub peak_rss: Option<u64>,
    /// True when `peak_rss` is the phase's own peak.
    pub peak_is_phase: bool,
}

impl Meter {
    /// Starts measuring: resets the peak-RSS mark and takes the readings.
    pub fn start() -> Meter {
        // Writing 5 to clear_refs resets VmHWM to the current RSS (Linux).
        let peak_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        Meter {
            start_rss: status_bytes("VmRSS:"),
            broker_cpu: thread_cpu(BROKER_THREAD),
            cpu: process_cpu(),
            wall: Instant::now(),
            peak_reset,
        }
    }

    /// What the phase cost so far.
    pub fn stop(&self) -> Usage {
        let wall = self.wall.elapsed();
        let cpu = process_cpu().saturating_sub(self.cpu);
        Usage {
            wall,
            cpu,
            broker_cpu: thread_cpu(BROKER_THREAD).saturating_sub(self.broker_cpu),
            start_rss: self.start_rss,
            peak_rss: status_bytes("VmHWM:"),
            peak_is_phase: self.peak_reset,
        }
    }
}

impl Usage {
    /// `events` per second of process CPU time (events per second per
    /// core).
    pub fn per_core(&self, events: u64) -> f64 {
        rate(events, self.cpu)
    }

    /// `events` per second of CPU time outside the embedded broker's
    /// thread: what the process would cost beside a separate broker.
    pub fn per_core_without_broker(&self, events: u64) -> f64 {
        rate(events, self.cpu.saturating_sub(self.broker_cpu))
    }

    /// `events` per second of wall time.
    pub fn per_wall_second(&self, events: u64) -> f64 {
        rate(events, self.wall)
    }
}

fn rate(events: u64, time: Duration) -> f64 {
    let secs = time.as_secs_f64();
    if secs > 0.0 {
        events as f64 / secs
    } else {
        f64::INFINITY
    }
}

/// CPU time (user + system) of the whole process, every thread that ever
/// ran in it.
pub fn process_cpu() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a `rusage` into the valid pointer it is
    // given; RUSAGE_SELF is always a valid target.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return Duration::ZERO;
    }
    // SAFETY: getrusage succeeded, so the struct is initialized (it was
    // zeroed before, so it is initialized either way).
    let usage = unsafe { usage.assume_init() };
    timeval(usage.ru_utime) + timeval(usage.ru_stime)
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
}

/// CPU time of the live threads of this process named `name`.
pub fn thread_cpu(name: &str) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks <= 0 {
        return Duration::ZERO;
    }
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let mut total = 0u64;
    for task in tasks.flatten() {
        let path = task.path();
        let named = std::fs::read_to_string(path.join("comm"))
            .map(|c| c.trim_end() == name)
            .unwrap_or(false);
        if !named {
            continue;
        }
        if let Ok(stat) = std::fs::read_to_string(path.join("stat")) {
            total += stat_cpu_ticks(&stat).unwrap_or(0);
        }
    }
    Duration::from_secs_f64(total as f64 / ticks as f64)
}

/// utime + stime (fields 14 and 15) of a `/proc/.../stat` line, in ticks.
/// The command name (field 2) may hold spaces, so fields are counted after
/// its closing parenthesis.
fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// A `kB` line of `/proc/self/status` (`VmRSS:`, `VmHWM:`), in bytes.
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_ticks_after_the_command_name() {
        let line = "6122 (rdk:a b) c) R 6113 6113 3418 0 -1 4194304 141 0 0 0 22 13 0 0 20 0 1";
        assert_eq!(stat_cpu_ticks(line), Some(35));
    }

    #[test]
    fn measures_this_process() {
        let meter = Meter::start();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        std::hint::black_box(x);
        let usage = meter.stop();
        assert!(usage.wall > Duration::ZERO);
        assert!(usage.peak_rss.unwrap_or(0) > 0);
    }
}
