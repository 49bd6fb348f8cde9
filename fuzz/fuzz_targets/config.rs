//! Config files: any text must give a config or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = palisade_config::Config::parse(std::path::Path::new("/fuzz/palisade.toml"), text);
});
