#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| murmur_tests::fuzz::requests(data));
