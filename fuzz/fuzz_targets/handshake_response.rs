//! Hostile response heads into `handshake::check_response`: refusals, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mosquitto_matrix::wire::handshake::check_response;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fuzz_target!(|data: &[u8]| {
    // The bytes as a whole head, with the RFC 6455 sample key.
    if let Err(e) = check_response(data, KEY) {
        let _ = e.to_string();
    }
    // The bytes as headers after a plausible 101 status line, so the fuzzer
    // reaches the header checks without having to guess the status line.
    let mut head = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
    head.extend_from_slice(data);
    head.extend_from_slice(b"\r\n\r\n");
    match check_response(&head, KEY) {
        Ok(sub) => {
            // An upgrade is only accepted with the right accept key somewhere in the head.
            let text = String::from_utf8_lossy(&head);
            assert!(text.contains(ACCEPT), "accepted without the accept key: {text:?}");
            let _ = sub;
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    // The bytes split at the first NUL into a key and a head.
    if let Some(nul) = data.iter().position(|&b| b == 0) {
        let key = String::from_utf8_lossy(&data[..nul]);
        let _ = check_response(&data[nul + 1..], &key);
    }
});
