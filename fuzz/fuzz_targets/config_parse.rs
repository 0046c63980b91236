//! Any bytes into the keepalived.conf reader: it must not panic, and the
//! model it builds must survive postcard and JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use vigil::config::{Config, LoadOptions, load_str, to_json};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let opts = LoadOptions { config_id: Some("fuzz".into()) };
    // A name in a directory that does not exist keeps includes inert.
    let loaded = load_str(&text, Path::new("/nonexistent/vigil-fuzz/keepalived.conf"), &opts);
    let _ = loaded.is_valid();
    let _ = to_json(&loaded.config);
    if let Ok(bytes) = postcard::to_allocvec(&loaded.config) {
        let back: Result<Config, _> = postcard::from_bytes(&bytes);
        assert_eq!(back.ok().as_ref(), Some(&loaded.config));
    }
});
