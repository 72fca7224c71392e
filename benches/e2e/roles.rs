//! The baselines that run as their own processes (the bench binary re-runs
//! itself with `--role NAME ...`), so that they pay for a process, a pipe and
//! a socket exactly like the daemon does.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read, Write};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;

use crate::parser_micro::count_newlines;

/// Starts this binary in a baseline role.
pub fn command(role: &str) -> Command {
    let exe = std::env::current_exe().expect("the bench binary's own path");
    let mut command = Command::new(exe);
    command.arg("--role").arg(role);
    command
}

/// Runs a role; the process exits with its status.
pub fn run(role: &str, args: &[String]) -> ! {
    let result = match (role, args) {
        ("bare-reader", [fifo]) => bare_reader(Path::new(fifo)),
        ("bare-echo", [fifo, socket]) => bare_echo(Path::new(fifo), Path::new(socket)),
        ("dgram-sender", [socket, count]) => match count.parse() {
            Ok(count) => dgram_sender(Path::new(socket), count),
            Err(e) => Err(io::Error::other(format!("bad count {count:?}: {e}"))),
        },
        _ => Err(io::Error::other(format!("unknown role {role} {args:?}"))),
    };
    match result {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("bench role {role}: {e}");
            std::process::exit(1)
        }
    }
}

/// The bare read loop: blocking `read()` of 64 KiB into one buffer, count
/// `\n` (vectorised), stop at end-of-file, print `lines=N bytes=N`.
fn bare_reader(fifo: &Path) -> io::Result<()> {
    let mut file = File::open(fifo)?;
    let mut buf = vec![0u8; 64 * 1024];
    let (mut lines, mut bytes) = (0u64, 0u64);
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        bytes += n as u64;
        lines += count_newlines(&buf[..n]);
    }
    println!("lines={lines} bytes={bytes}");
    Ok(())
}

/// The bare logging loop, the latency reference: the FIFO held read-write
/// (no end-of-file), blocking `read()`, one `send()` of the daemon's line per
/// `\n` read. Prints `ready` once both are open; runs until killed.
fn bare_echo(fifo: &Path, socket: &Path) -> io::Result<()> {
    let mut file = OpenOptions::new().read(true).write(true).open(fifo)?;
    let sock = UnixDatagram::unbound()?;
    sock.connect(socket)?;
    let line = format!(
        "<30>Nov 26 15:00:00 fifo-pingd[{}]: received ping",
        std::process::id()
    );
    println!("ready");
    io::stdout().flush()?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for _ in 0..count_newlines(&buf[..n]) {
            sock.send(line.as_bytes())?;
        }
    }
}

/// The bare datagram sender: the daemon's syslog line for a ping, sent
/// `count` times with blocking `send()` to the sink. Prints `ready`, waits
/// for one byte on stdin (so start-up is not timed), sends, prints
/// `sent=N errors=N`.
fn dgram_sender(socket: &Path, count: u64) -> io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    sock.connect(socket)?;
    // Same length and shape as the daemon's RFC 3164 line (its timestamp
    // header is cached per second, so a constant line is the fair match).
    let line = format!(
        "<30>Nov 26 15:00:00 fifo-pingd[{}]: received ping",
        std::process::id()
    );
    println!("ready");
    io::stdout().flush()?;
    let mut go = String::new();
    io::stdin().lock().read_line(&mut go)?;
    let mut errors = 0u64;
    for _ in 0..count {
        loop {
            match sock.send(line.as_bytes()) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ENOBUFS: the kernel is short of memory for the queue; retry.
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    std::thread::yield_now();
                }
                Err(_) => {
                    errors += 1;
                    break;
                }
            }
        }
    }
    println!("sent={count} errors={errors}");
    Ok(())
}
