//! The built-in profiles' runtime: `mosquitto-matrix client --profile P --runtime` keeps the
//! runtime protocol's other side (the book's "The runtime protocol"), so that an accelerated
//! run plays every cell of a built-in profile in one process on the brokers' clock instead of
//! one process per cell (issue 31).
//!
//! Each connection is a cell: its header (the contract's `NAME=VALUE` lines and an empty
//! line) becomes the cell's [`ContractEnv`], [`serve::serve`] plays the profile as the
//! per-process `client` does, and the lines it would print go back on the connection, then
//! `exit: N`. The harness closing its side ends the cell's session at once; the other cells go
//! on. End of file on stdin (the harness is gone) ends the process.
//!
//! Does I/O: a loopback listener, the cells' connections, stdin.

use std::collections::BTreeMap;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::client::contract::ContractEnv;
use crate::client::runtime::{EXIT_PREFIX, READY_PREFIX};
use crate::client::serve::{self, ExitReport, Tuning};
use crate::plan::Profile;

/// The most a cell's header may take before its empty line.
pub const HEADER_MAX: usize = 64 * 1024;

/// The variables of a header's text (its lines before the empty one), or what is wrong, in
/// the protocol's words.
pub fn parse_header(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut vars = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        match line.split_once('=') {
            Some((name, value)) if !name.is_empty() => {
                vars.insert(name.to_string(), value.to_string());
            }
            _ => return Err(format!("header line {} is not NAME=VALUE: {line:?}", n + 1)),
        }
    }
    Ok(vars)
}

/// Serves cells of `profile` until stdin ends: binds `127.0.0.1:0`, prints the ready line,
/// then plays each connection as a cell of its own.
pub async fn host(profile: Profile, tuning: Tuning) -> std::io::Result<()> {
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    serve::print(&ExitReport { stdout: vec![format!("{READY_PREFIX}{}", listener.local_addr()?)], stderr: Vec::new(), status: 0 });
    let mut stdin_end = tokio::spawn(async {
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    });
    loop {
        tokio::select! {
            _ = &mut stdin_end => return Ok(()),
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(cell(stream, profile, tuning));
                }
            }
        }
    }
}

/// One cell: header, session, lines, `exit:`; or nothing more once the harness closed its side.
async fn cell(stream: TcpStream, profile: Profile, tuning: Tuning) {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let header = read_header(&mut (&mut read).take(HEADER_MAX as u64 + 2)).await;
    let env = match header {
        Ok(vars) => ContractEnv::read(|k| vars.get(k).cloned()).map_err(|e| format!("the cell's environment: {e}")),
        Err(e) => Err(e),
    };
    let env = match env {
        Ok(env) => env,
        Err(why) => {
            let _ = write.write_all(format!("error: {why}\n{EXIT_PREFIX}2\n").as_bytes()).await;
            return;
        }
    };
    if write.write_all(format!("{}\n", serve::client_line(profile)).as_bytes()).await.is_err() {
        return;
    }
    let mut session = tokio::spawn(async move { serve::serve(profile, &env, tuning).await });
    let mut rest = Vec::new();
    let said = tokio::select! {
        said = &mut session => said,
        // The harness closed its side: the cell ends here, its session with it.
        _ = read.read_to_end(&mut rest) => {
            session.abort();
            return;
        }
    };
    let said = said.unwrap_or_else(|e| ExitReport { stdout: Vec::new(), stderr: vec![format!("mosquitto-matrix client: the session panicked: {e}")], status: 2 });
    let mut text = String::new();
    for line in said.stdout.iter().chain(&said.stderr) {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(&format!("{EXIT_PREFIX}{}\n", said.status));
    let _ = write.write_all(text.as_bytes()).await;
    let _ = write.shutdown().await;
}

/// Reads a header up to its empty line, at most [`HEADER_MAX`] bytes.
async fn read_header(read: &mut (impl AsyncBufReadExt + Unpin)) -> Result<BTreeMap<String, String>, String> {
    let mut text = String::new();
    loop {
        let mut line = String::new();
        let n = read.read_line(&mut line).await.map_err(|e| format!("the header could not be read: {e}"))?;
        if n == 0 {
            return Err("the header ended before its empty line".into());
        }
        if line == "\n" || line == "\r\n" {
            return parse_header(&text);
        }
        text.push_str(&line);
        if text.len() > HEADER_MAX {
            return Err(format!("no empty line within {HEADER_MAX} bytes"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_splits_each_line_at_its_first_equals_sign() {
        let vars = parse_header("MATRIX_HOST=127.0.0.1\nMATRIX_PASSWORD=a=b\nMATRIX_PATH=\n").expect("a good header");
        assert_eq!(vars.get("MATRIX_PASSWORD").map(String::as_str), Some("a=b"));
        assert_eq!(vars.get("MATRIX_PATH").map(String::as_str), Some(""));
        assert_eq!(vars.len(), 3);
    }

    #[test]
    fn a_line_without_a_name_is_named_by_its_number() {
        assert_eq!(parse_header("A=1\n=2\n"), Err("header line 2 is not NAME=VALUE: \"=2\"".to_string()));
        assert_eq!(parse_header("A=1\nnothing\n"), Err("header line 2 is not NAME=VALUE: \"nothing\"".to_string()));
    }
}
