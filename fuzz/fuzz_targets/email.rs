//! Email normalization on any string: never a panic, and a normalized email is a
//! fixed point (normalizing it again changes nothing), so two spellings that reach
//! the same stored form are one account and no stored form has a second spelling.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::domain::{Email, MAX_EMAIL_BYTES};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(email) = Email::parse(raw) else {
        return;
    };
    let stored = email.as_str();
    assert!(stored.len() <= MAX_EMAIL_BYTES);
    assert!(stored.contains('@'));
    let again = Email::parse(stored).expect("a normalized email parses");
    assert_eq!(again.as_str(), stored, "normalizing twice changed {raw:?}");
});
