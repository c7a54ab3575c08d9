//! The daemon's protocol decoder on arbitrary frame payloads: it must never panic (the
//! daemon replies EINVAL to whatever does not decode and serves the next frame).
#![no_main]

use libfuzzer_sys::fuzz_target;
use waggle_daemon::proto::{Request, Response, decode, encode, frame_len};

fuzz_target!(|data: &[u8]| {
    if let Some((prefix, _)) = data.split_first_chunk::<4>() {
        let _ = frame_len(*prefix);
    }
    if let Ok(req) = decode::<Request>(data) {
        // Whatever decodes re-encodes to the same message.
        let frame = encode(&req);
        assert_eq!(decode::<Request>(&frame[4..]).ok(), Some(req));
    }
    let _ = decode::<Response>(data);
});
