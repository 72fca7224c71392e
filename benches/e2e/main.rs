//! The benchmark of issue 6: the real `fifo-pingd` binary over a real FIFO,
//! side by side with baselines written in this project, in one run.
//!
//! Run it with `scripts/bench [--quick] [--rounds N] [--only CASE,...]`
//! (which is `cargo bench --bench e2e -- ...`). It prints one Markdown table
//! on stdout (progress goes to stderr): case, fifo-pingd, baseline, ratio,
//! target, pass/fail, then the machine, its load and the command.
//!
//! Cases: `batched`, `per-message`, `logged`, `seed`, `seed-pair`,
//! `latency`, `startup`, `rss`, `idle`, `parser`. Daemon (A) and baseline
//! (B) runs alternate A B A B; rates are medians over the rounds with
//! min–max, ratios are taken round by round. A run whose counts differ from
//! what was sent fails its row whatever the speed. Rows with a target say
//! PASS or FAIL; the others report (`–`) and only FAIL when a run failed.
//!
//! Exit status: 0 when no row FAILs (every target holds and every run
//! counted exactly), 1 otherwise, after listing the failed rows; 64 on a
//! bad argument.
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it does nothing:
//! the test suite checks correctness, never timing.

mod cases;
mod harness;
#[path = "../common/parser_micro.rs"]
mod parser_micro;
mod roles;
#[path = "../common/stats.rs"]
mod stats;

use std::process::Command;
use std::time::Instant;

use cases::{Params, Row, Verdict};

const CASES: &[&str] = &[
    "batched",
    "per-message",
    "logged",
    "seed",
    "seed-pair",
    "latency",
    "startup",
    "rss",
    "idle",
    "parser",
];

fn usage() -> ! {
    eprintln!(
        "usage: scripts/bench [--quick] [--rounds N] [--only CASE[,CASE...]]\n  cases: {}",
        CASES.join(", ")
    );
    std::process::exit(64)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--role") {
        match args.get(1) {
            Some(role) => roles::run(role, &args[2..]),
            None => usage(),
        }
    }
    if !args.iter().any(|a| a == "--bench") {
        println!("e2e bench: not run under `cargo test`; use scripts/bench");
        return;
    }
    let mut quick = false;
    let mut rounds = None;
    let mut only: Vec<String> = Vec::new();
    let mut it = args.iter().filter(|a| *a != "--bench");
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--rounds" => rounds = it.next().and_then(|v| v.parse().ok()).or_else(|| usage()),
            "--only" => {
                let list = it.next().unwrap_or_else(|| usage());
                only.extend(list.split(',').map(str::to_owned));
            }
            _ => usage(),
        }
    }
    if let Some(bad) = only.iter().find(|c| !CASES.contains(&c.as_str())) {
        eprintln!("unknown case {bad}");
        usage();
    }
    let params = Params::new(quick, rounds);
    let load_before = loadavg();
    let started = Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    for case in CASES {
        if !only.is_empty() && !only.iter().any(|c| c == case) {
            continue;
        }
        rows.extend(match *case {
            "batched" => cases::batched(&params),
            "per-message" => cases::per_message(&params),
            "logged" => cases::logged(&params),
            "seed" => cases::seed(&params),
            "seed-pair" => cases::seed_pair(&params),
            "latency" => cases::latency(&params),
            "startup" => cases::startup(&params),
            "rss" => cases::rss(&params),
            "idle" => cases::idle(&params),
            "parser" => cases::parser(&params),
            _ => unreachable!(),
        });
    }
    let elapsed = started.elapsed();
    let load_after = loadavg();

    let mut command = String::from("scripts/bench");
    for a in args.iter().filter(|a| *a != "--bench") {
        command.push(' ');
        command.push_str(a);
    }
    print_table(&rows);
    println!();
    println!("- Machine: {}", machine());
    println!(
        "- Load average (1 min) {load_before} before, {load_after} after; shared machine, other jobs may have run during the bench"
    );
    println!(
        "- Command: `{command}` ({} rounds A B A B, seed case {} rounds; medians, spread = min–max; ratios per round; took {:.0} s)",
        params.rounds,
        params.seed_rounds,
        elapsed.as_secs_f64()
    );
    let targets = rows
        .iter()
        .filter(|r| !matches!(r.verdict, Verdict::Report))
        .count();
    let failures: Vec<(&Row, &str)> = rows
        .iter()
        .filter_map(|r| match &r.verdict {
            Verdict::Fail(why) => Some((r, why.as_str())),
            _ => None,
        })
        .collect();
    let verdict = if failures.is_empty() {
        format!("all {targets} target rows PASS")
    } else {
        format!(
            "{} row(s) FAIL: {}",
            failures.len(),
            failures
                .iter()
                .map(|(r, _)| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    println!("- Result: {verdict}");
    for (row, why) in &failures {
        println!("  - FAIL {}: {why}", row.name);
    }
    // Also the last line on stderr, after the progress lines.
    eprintln!("[bench] {verdict}");
    if !failures.is_empty() {
        std::process::exit(1);
    }
}

fn print_table(rows: &[Row]) {
    println!("| case | fifo-pingd | baseline | ratio | target | pass/fail |");
    println!("|---|---|---|---|---|---|");
    for r in rows {
        let verdict = match &r.verdict {
            Verdict::Pass => "PASS",
            Verdict::Fail(_) => "**FAIL**",
            Verdict::Report => "–",
        };
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.case, r.daemon, r.baseline, r.ratio, r.target, verdict
        );
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// `lscpu` model name and CPU count, and the kernel.
fn machine() -> String {
    let lscpu = Command::new("lscpu")
        .env("LC_ALL", "C")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let field = |key: &str| {
        lscpu
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| "?".into())
    };
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".into());
    format!(
        "{} ({} CPUs, {} core(s) per socket, {}), Linux {kernel}",
        field("Model name:"),
        field("CPU(s):"),
        field("Core(s) per socket:"),
        field("Hypervisor vendor:").replace('?', "bare metal"),
    )
}
