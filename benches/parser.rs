//! Parser micro-benchmark: `cargo bench --bench parser [-- --quick]`.
//!
//! Prints bytes/s of `fifo_pingd::protocol::Parser` over each framing next to
//! a vectorised newline count of the same bytes. The end-to-end bench
//! (`scripts/bench`) prints the same rows in its table.

#[path = "common/parser_micro.rs"]
mod parser_micro;
#[path = "common/stats.rs"]
#[allow(dead_code)]
mod stats;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --all-targets`: only check that the counts are exact.
        for m in parser_micro::measure(1 << 20, 1) {
            assert!(m.error.is_none(), "{}: {:?}", m.name, m.error);
        }
        println!("parser bench: counts exact (timings only under cargo bench)");
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let (bytes, rounds) = if quick { (64 << 20, 3) } else { (512 << 20, 7) };
    println!("| framing | parser bytes/s | newline scan bytes/s | parser / scan | counts |");
    println!("|---|---|---|---|---|");
    let mut failed = false;
    for m in parser_micro::measure(bytes, rounds) {
        let parser = stats::summarize(&m.parser).expect("rounds > 0");
        let scan = stats::summarize(&m.scan).expect("rounds > 0");
        let ratios: Vec<f64> = m.parser.iter().zip(&m.scan).map(|(p, s)| p / s).collect();
        let ratio = stats::summarize(&ratios).expect("rounds > 0");
        failed |= m.error.is_some();
        println!(
            "| {} | {} | {} | {} | {} |",
            m.name,
            stats::si_spread(&parser, "B/s"),
            stats::si_spread(&scan, "B/s"),
            stats::ratio_spread(&ratio),
            m.error.as_deref().unwrap_or("exact")
        );
    }
    println!(
        "\n{rounds} rounds of {} MiB each, median (min–max)",
        bytes >> 20
    );
    if failed {
        std::process::exit(1);
    }
}
