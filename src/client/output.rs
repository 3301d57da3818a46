//! A program's output (a command cell's, a column service's): read to the end of its pipes,
//! whatever it prints, but kept bounded — the last lines, each cut to a length.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::io::{AsyncRead, AsyncReadExt};

/// How many lines of a program's output are kept.
pub const TAIL_LINES: usize = 12;
/// How long a kept line may be; the rest of a longer line is dropped.
pub const MAX_LINE: usize = 400;

/// Where the lines read from a pipe go.
pub(crate) trait LineSink {
    /// Takes one line (without its newline; it may be longer than [`MAX_LINE`]).
    fn push(&mut self, line: &str);
}

/// The last [`TAIL_LINES`] non-empty lines, each at most [`MAX_LINE`] characters.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tail {
    lines: VecDeque<String>,
}

impl Tail {
    /// The kept lines, oldest first.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.lines.iter().cloned().collect()
    }

    /// The kept lines as an error message quotes them.
    pub(crate) fn shown(&self) -> String {
        shown(&self.lines())
    }
}

impl LineSink for Tail {
    fn push(&mut self, line: &str) {
        let line = line.trim_end();
        if line.is_empty() {
            return;
        }
        if self.lines.len() == TAIL_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(cut(line));
    }
}

/// `its last output: a | b`, or `it printed nothing`.
pub(crate) fn shown(tail: &[String]) -> String {
    if tail.is_empty() {
        "it printed nothing".to_string()
    } else {
        format!("its last output: {}", tail.join(" | "))
    }
}

/// The line cut to [`MAX_LINE`] characters, with `…` where it was cut.
pub(crate) fn cut(line: &str) -> String {
    match line.char_indices().nth(MAX_LINE) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

/// Reads a pipe to its end, a line at a time, holding at most one line of `4 × MAX_LINE`
/// bytes.
pub(crate) async fn drain<S: LineSink>(mut pipe: impl AsyncRead + Unpin, out: &Mutex<S>) {
    let mut buf = vec![0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    loop {
        let n = match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                if let Ok(mut o) = out.lock() {
                    o.push(&String::from_utf8_lossy(&line));
                }
                line.clear();
            } else if line.len() < MAX_LINE * 4 {
                line.push(b);
            }
        }
    }
    if !line.is_empty() {
        if let Ok(mut o) = out.lock() {
            o.push(&String::from_utf8_lossy(&line));
        }
    }
}
