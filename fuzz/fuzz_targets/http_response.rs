//! The HTTP/1.1 response parser under the updater's fetchers and the report sender
//! (`keypin::__fuzz::http_response`, an in-memory stream): never panics; an accepted 2xx body
//! is within the cap; the status is from 100 to 599; and the result, accepted or refused with its
//! message, is the same when the stream arrives one byte per read and in 7-byte pieces (the
//! bounded line reader must not depend on where reads split).
#![no_main]

use keypin::__fuzz::{HTTP_BODY_MAX, http_response, http_response_in_pieces};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let whole = http_response(data);
    if let Ok(r) = &whole {
        assert!((100..=599).contains(&r.status), "status {}", r.status);
        assert!(
            r.body.len() <= HTTP_BODY_MAX,
            "body of {} bytes",
            r.body.len()
        );
        assert!(r.body.len() <= data.len());
    }
    for piece in [1, 7] {
        assert_eq!(
            http_response_in_pieces(data, piece),
            whole,
            "the result changes with {piece}-byte reads"
        );
    }
});
