//! Hostile bytes into `frame::decode`: it must never panic, never allocate past
//! `MAX_PAYLOAD` for a frame, and read the same frames however the bytes arrive.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mosquitto_matrix::wire::frame::{self, opcode, FrameError, RawFrame, MAX_CONTROL_PAYLOAD, MAX_PAYLOAD};

/// Generous ceiling on what the buffer may hold: the input itself plus one
/// frame's worth of reservation (BytesMut may round up by doubling).
fn capacity_bound(input: usize) -> usize {
    2 * (input + MAX_PAYLOAD as usize + 14) + 64
}

/// Decodes frames until the decoder asks for more or refuses.
fn drain(buf: &mut BytesMut, out: &mut Vec<RawFrame>, input: usize) -> Result<(), FrameError> {
    loop {
        let before = buf.clone();
        match frame::decode(buf) {
            Ok(Some(f)) => {
                assert!(f.payload.len() as u64 <= MAX_PAYLOAD, "payload of {} bytes", f.payload.len());
                if f.opcode >= opcode::CLOSE {
                    assert!(f.payload.len() <= MAX_CONTROL_PAYLOAD && f.fin, "bad control frame passed: {f:?}");
                }
                assert!(matches!(f.opcode, 0x0..=0x2 | 0x8..=0xA), "reserved opcode passed: {f:?}");
                // A frame is at least a two-byte header plus its payload.
                assert!(buf.len() + 2 + f.payload.len() <= before.len(), "buffer did not shrink enough");
                if f.opcode == opcode::CLOSE {
                    let (code, reason) = frame::parse_close(&f.payload);
                    assert_eq!(code.is_some(), f.payload.len() >= 2);
                    assert!(reason.len() <= 3 * f.payload.len());
                }
                out.push(f);
            }
            Ok(None) => {
                assert_eq!(&buf[..], &before[..], "Ok(None) changed the buffer");
                assert!(buf.capacity() <= capacity_bound(input), "capacity {} for {input} input bytes", buf.capacity());
                return Ok(());
            }
            Err(e) => {
                let _ = e.to_string();
                return Err(e);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else { return };
    let _ = frame::parse_close(stream);

    // All at once.
    let mut whole = BytesMut::from(stream);
    let mut frames_whole = Vec::new();
    let end_whole = drain(&mut whole, &mut frames_whole, stream.len());

    // In chunks whose sizes follow the seed byte, as reads from a socket would.
    let mut chunked = BytesMut::new();
    let mut frames_chunked = Vec::new();
    let mut end_chunked = Ok(());
    let mut rest = stream;
    let mut step = seed as usize;
    while !rest.is_empty() {
        step = step.wrapping_mul(31).wrapping_add(7);
        let n = (step % 17 + 1).min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        chunked.extend_from_slice(chunk);
        end_chunked = drain(&mut chunked, &mut frames_chunked, stream.len());
        if end_chunked.is_err() {
            break;
        }
    }
    if stream.is_empty() {
        end_chunked = drain(&mut chunked, &mut frames_chunked, 0);
    }

    assert_eq!(frames_whole, frames_chunked, "chunking changed the frames read");
    assert_eq!(end_whole, end_chunked, "chunking changed the outcome");
    if end_whole.is_ok() {
        assert_eq!(&whole[..], &chunked[..], "chunking changed the bytes left over");
    }
});
