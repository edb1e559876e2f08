//! Printing benchmark figures: one table per query, with the machine, the
//! build and the date, so the output can be pasted into benches/README.md.

use std::io::Write;

use super::bench::{PhaseFigures, QueryFigures};
use super::generator::EventKind;
use super::load::LoadReport;
use super::measure::Usage;

/// `1234567.8` → `1,234,568`.
pub fn thousands(v: f64) -> String {
    if !v.is_finite() {
        return "inf".to_string();
    }
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(bytes: Option<u64>) -> String {
    match bytes {
        Some(b) => format!("{:.0} MiB", b as f64 / (1024.0 * 1024.0)),
        None => "n/a".to_string(),
    }
}

fn rss(u: &Usage) -> String {
    let growth = match (u.peak_rss, u.start_rss) {
        (Some(p), Some(s)) if u.peak_is_phase => {
            format!(" (+{:.0})", p.saturating_sub(s) as f64 / (1024.0 * 1024.0))
        }
        _ => String::new(),
    };
    format!("{}{growth}", mib(u.peak_rss))
}

/// The machine, build and date line.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let build = if cfg!(debug_assertions) {
        "DEBUG build (figures are not representative; use --release)"
    } else {
        "release build"
    };
    format!(
        "machine: {cores} cores, {model}; sluice {} {build}; {}",
        env!("CARGO_PKG_VERSION"),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    )
}

/// The generator's figures.
pub fn load(out: &mut dyn Write, report: &LoadReport, target: &str) -> std::io::Result<()> {
    let u = &report.usage;
    writeln!(
        out,
        "generated {} events (person {}, auction {}, bid {}; average JSON sizes {:.0} / {:.0} / {:.0} bytes) into {target}",
        thousands(report.events as f64),
        thousands(report.per_kind[0] as f64),
        thousands(report.per_kind[1] as f64),
        thousands(report.per_kind[2] as f64),
        report.average_size(EventKind::Person),
        report.average_size(EventKind::Auction),
        report.average_size(EventKind::Bid),
    )?;
    for t in &report.topics {
        writeln!(
            out,
            "  topic '{}': {} partitions, ~{:.0} MiB",
            t.name,
            t.partitions,
            t.bytes as f64 / (1024.0 * 1024.0)
        )?;
    }
    writeln!(
        out,
        "  {:.2} s wall, {:.2} s CPU ({:.2} s in the embedded broker thread): {} events/s/core, {} without the broker thread, {} events/s wall; peak RSS {}",
        u.wall.as_secs_f64(),
        u.cpu.as_secs_f64(),
        u.broker_cpu.as_secs_f64(),
        thousands(u.per_core(report.events)),
        thousands(u.per_core_without_broker(report.events)),
        thousands(u.per_wall_second(report.events)),
        rss(u)
    )
}

fn phase_line(out: &mut dyn Write, p: &PhaseFigures) -> std::io::Result<()> {
    let u = &p.usage;
    writeln!(
        out,
        "  {:<48} {:>12} {:>15} {:>9.2} s {:>8.2} s {:>8.2} s  {}",
        p.name,
        thousands(p.records as f64),
        thousands(u.per_core(p.records)),
        u.wall.as_secs_f64(),
        u.cpu.as_secs_f64(),
        u.broker_cpu.as_secs_f64(),
        rss(u),
    )
}

fn percent(a: f64, b: f64) -> String {
    if b > 0.0 && b.is_finite() && a.is_finite() {
        format!("{:.1}%", 100.0 * a / b)
    } else {
        "n/a".to_string()
    }
}

/// One query's table.
pub fn query(out: &mut dyn Write, q: &QueryFigures, runs: usize) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(out, "== Nexmark {}: {}", q.name, q.title)?;
    writeln!(out, "  sluice runs: {}", q.statement)?;
    writeln!(
        out,
        "  {:<48} {:>12} {:>15} {:>11} {:>10} {:>10}  peak RSS (+phase)",
        "phase (median of runs by CPU time)", "records", "events/s/core", "wall", "CPU", "broker"
    )?;
    phase_line(out, &q.sluice)?;
    if let Some(c) = &q.ceiling {
        phase_line(out, c)?;
    }
    phase_line(out, &q.ports)?;
    phase_line(out, &q.compute)?;
    if let Some(c) = &q.compute_sluice_aggregates {
        phase_line(out, c)?;
    }
    phase_line(out, &q.decode)?;
    phase_line(out, &q.encode)?;
    let sluice = q.sluice.usage.per_core(q.sluice.records);
    let mut ratios = Vec::new();
    if let Some(c) = &q.ceiling {
        ratios.push(format!(
            "sluice / rdkafka ceiling: {}",
            percent(sluice, c.usage.per_core(c.records))
        ));
    }
    ratios.push(format!(
        "sluice / ports copy: {}",
        percent(sluice, q.ports.usage.per_core(q.ports.records))
    ));
    ratios.push(format!(
        "sluice / DataFusion compute: {}",
        percent(sluice, q.compute.usage.per_core(q.compute.records))
    ));
    writeln!(out, "  {}", ratios.join("; "))?;
    if let Some(c) = &q.ceiling {
        let s = q.sluice.usage.per_core_without_broker(q.sluice.records);
        let k = c.usage.per_core_without_broker(c.records);
        writeln!(
            out,
            "  without the embedded broker's thread: sluice {} events/s/core, ceiling {} ({})",
            thousands(s),
            thousands(k),
            percent(s, k)
        )?;
    }
    let per_record = |p: &PhaseFigures| p.usage.cpu.as_secs_f64() * 1e9 / p.records.max(1) as f64;
    writeln!(
        out,
        "  CPU per bid: sluice {:.0} ns; decode {:.0} ns + DataFusion {:.0} ns + encode {:.0} ns = {:.0} ns in-process floor",
        per_record(&q.sluice),
        per_record(&q.decode),
        per_record(&q.compute),
        per_record(&q.encode),
        per_record(&q.decode) + per_record(&q.compute) + per_record(&q.encode),
    )?;
    if let Some(g) = &q.groups {
        return writeln!(
            out,
            "  rows out: sluice {} updates ({} read back) holding {} groups, DataFusion {} groups; \
             latest row per group {}; {} run(s)",
            thousands(q.sluice_rows_out as f64),
            thousands(g.records as f64),
            thousands(g.sluice_groups as f64),
            thousands(g.datafusion_groups as f64),
            match &g.mismatch {
                None => "the same as DataFusion's".to_string(),
                Some(m) => format!("MISMATCH: {m}"),
            },
            runs
        );
    }
    writeln!(
        out,
        "  rows out: sluice {}, DataFusion {}{}; {} run(s)",
        thousands(q.sluice_rows_out as f64),
        thousands(q.compute_rows_out as f64),
        if q.sluice_rows_out == q.compute_rows_out {
            " (same)"
        } else {
            " (MISMATCH)"
        },
        runs
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1234567.8), "1,234,568");
    }
}
