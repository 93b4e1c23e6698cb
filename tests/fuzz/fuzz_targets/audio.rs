#![no_main]
libfuzzer_sys::fuzz_target!(init: murmur_tests::fuzz::init_audio(), |data: &[u8]| murmur_tests::fuzz::audio(data));
