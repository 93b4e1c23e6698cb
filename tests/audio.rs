//! Audio in (real files, re-encodings made with SoX, raw PCM, broken files) and the
//! log-mel front end against mlx-whisper's goldens. No model needed: fast.

use std::path::{Path, PathBuf};
use std::process::Command;

use murmur_core::audio::{
    AudioInput, AudioStream, decode_bytes, decode_file, decode_prefix, load_16k_mono, to_16k_mono,
};
use murmur_core::mlx::Array;
use murmur_core::mlx::transforms::eval;
use murmur_core::whisper::load::{parse_npy, read_npz};
use murmur_core::whisper::mel::{log_mel_spectrogram, mel_filters};
use murmur_core::{CancelToken, Error};
use murmur_tests::fixture;

/// Re-encode `input` into `dir/name` with SoX (format from the extension).
fn sox(input: &Path, dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("sox")
        .arg(input)
        .arg(&out)
        .status()
        .expect("sox is installed (scripts/test.sh installs sox and libsox-fmt-mp3)");
    assert!(status.success(), "sox {} failed", out.display());
    out
}

fn jfk() -> PathBuf {
    fixture("audio/jfk.wav")
}

fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for i in 0..n {
        ab += a[i] as f64 * b[i] as f64;
        aa += a[i] as f64 * a[i] as f64;
        bb += b[i] as f64 * b[i] as f64;
    }
    ab / (aa.sqrt() * bb.sqrt())
}

#[test]
fn wav_decodes_to_its_samples() {
    let d = decode_file(&jfk()).unwrap();
    assert_eq!((d.sample_rate, d.channels), (16_000, 1));
    assert_eq!(d.samples.len(), 176_000);
    let pcm = load_16k_mono(&AudioInput::Path(jfk())).unwrap();
    assert_eq!(pcm.len(), 176_000);
    // Same samples as reading the s16 `data` chunk by hand.
    let bytes = std::fs::read(jfk()).unwrap();
    let data = bytes.windows(4).position(|w| w == b"data").unwrap() + 8;
    let by_hand: Vec<f32> = bytes[data..]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
        .collect();
    assert!(
        pcm == by_hand[..pcm.len()],
        "samples differ from the data chunk"
    );
    // And from memory.
    let mem = load_16k_mono(&AudioInput::Encoded(bytes)).unwrap();
    assert!(mem == pcm, "in-memory decoding differs");
}

#[test]
fn flac_mp3_ogg_reencodings_decode_to_the_same_speech() {
    let dir = tempfile::tempdir().unwrap();
    let wav = load_16k_mono(&AudioInput::Path(jfk())).unwrap();
    // FLAC is lossless: identical samples.
    let flac = load_16k_mono(&AudioInput::Path(sox(&jfk(), dir.path(), "jfk.flac"))).unwrap();
    assert!(flac == wav, "FLAC samples differ from the WAV");
    // MP3 and Vorbis are lossy and may pad: same length within a frame, and the same
    // waveform (correlation) once aligned.
    for name in ["jfk.mp3", "jfk.ogg"] {
        let path = sox(&jfk(), dir.path(), name);
        let d = decode_file(&path).unwrap();
        assert_eq!(d.sample_rate, 16_000, "{name}");
        let pcm = load_16k_mono(&AudioInput::Path(path)).unwrap();
        // SoX's MP3 has no gapless header: the codec delay stays (1408 samples here).
        assert!(
            pcm.len().abs_diff(wav.len()) <= 2 * 1152,
            "{name}: {} vs {} samples",
            pcm.len(),
            wav.len()
        );
        let best = (0..2000)
            .step_by(1)
            .map(|lag| correlation(&wav, &pcm[lag.min(pcm.len())..]))
            .fold(f64::MIN, f64::max);
        assert!(best > 0.95, "{name}: correlation {best}");
    }
}

#[test]
fn stereo_and_48k_are_mixed_down_and_resampled() {
    let dir = tempfile::tempdir().unwrap();
    // ALSA's 48 kHz mono sample: a third as many samples at 16 kHz.
    let front = fixture("audio/alsa/Front_Center.wav");
    let d = decode_file(&front).unwrap();
    assert_eq!(d.sample_rate, 48_000);
    let pcm = load_16k_mono(&AudioInput::Path(front.clone())).unwrap();
    assert_eq!(pcm.len(), (d.samples.len() as f64 / 3.0).round() as usize);
    // A 44.1 kHz stereo copy made by SoX comes out the same length and waveform.
    let stereo = dir.path().join("stereo.wav");
    let ok = Command::new("sox")
        .arg(&front)
        .args(["-r", "44100", "-c", "2"])
        .arg(&stereo)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let d2 = decode_file(&stereo).unwrap();
    assert_eq!((d2.sample_rate, d2.channels), (44_100, 2));
    let pcm2 = load_16k_mono(&AudioInput::Path(stereo)).unwrap();
    assert!(
        pcm2.len().abs_diff(pcm.len()) <= 2,
        "{} vs {}",
        pcm2.len(),
        pcm.len()
    );
    assert!(correlation(&pcm, &pcm2) > 0.98);
    // Interleaved PCM buffers from memory go the same way.
    let mem = load_16k_mono(&AudioInput::PcmF32 {
        samples: d2.samples.clone(),
        sample_rate: 44_100,
        channels: 2,
    })
    .unwrap();
    assert!(mem.len().abs_diff(pcm.len()) <= 2);
}

#[test]
fn raw_pcm_is_taken_as_is() {
    let bytes = std::fs::read(fixture("audio/goforward.raw")).unwrap();
    let samples: Vec<i16> = bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let pcm = load_16k_mono(&AudioInput::PcmS16 {
        samples: samples.clone(),
        sample_rate: 16_000,
        channels: 1,
    })
    .unwrap();
    assert_eq!(pcm.len(), samples.len());
    assert_eq!(pcm[1000], samples[1000] as f32 / 32768.0);
}

fn audio_error(r: murmur_core::Result<Vec<f32>>) -> String {
    match r {
        Err(e @ Error::Audio { .. }) => e.to_string(),
        other => panic!("expected Error::Audio, got {other:?}"),
    }
}

#[test]
fn broken_audio_gets_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let load = |path: PathBuf| load_16k_mono(&AudioInput::Path(path));

    std::fs::write(p("empty.wav"), b"").unwrap();
    assert!(audio_error(load(p("empty.wav"))).contains("empty"));

    // A WAV cut in the middle of its data: the header still declares the full length.
    let wav = std::fs::read(jfk()).unwrap();
    std::fs::write(p("cut.wav"), &wav[..wav.len() / 2]).unwrap();
    assert!(audio_error(load(p("cut.wav"))).contains("truncated"));
    // Cut inside the header.
    std::fs::write(p("stub.wav"), &wav[..20]).unwrap();
    audio_error(load(p("stub.wav")));

    // A FLAC cut short (its STREAMINFO declares the length).
    let flac = std::fs::read(sox(&jfk(), dir.path(), "jfk.flac")).unwrap();
    std::fs::write(p("cut.flac"), &flac[..flac.len() / 3]).unwrap();
    audio_error(load(p("cut.flac")));

    // Not audio at all, whatever the extension says.
    std::fs::write(p("text.mp3"), "this is not an mp3 file\n".repeat(200)).unwrap();
    audio_error(load(p("text.mp3")));
    let noise: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(p("noise.ogg"), &noise).unwrap();
    audio_error(load(p("noise.ogg")));
    // A WAV header followed by garbage in a format field.
    let mut bad = wav[..44].to_vec();
    bad[20] = 0x55; // audio format code 0x55 (MP3-in-WAV) with PCM data: not decodable
    bad.extend_from_slice(&wav[44..10_044]);
    std::fs::write(p("badfmt.wav"), &bad).unwrap();
    audio_error(load(p("badfmt.wav")));

    // Missing file: an I/O error naming it.
    match load(p("missing.wav")) {
        Err(Error::Io { path, .. }) => assert!(path.ends_with("missing.wav")),
        other => panic!("expected Error::Io, got {other:?}"),
    }
    // In-memory buffers.
    audio_error(load_16k_mono(&AudioInput::Encoded(Vec::new())));
    audio_error(load_16k_mono(&AudioInput::Encoded(vec![0u8; 1000])));
    audio_error(load_16k_mono(&AudioInput::PcmF32 {
        samples: vec![f32::NAN; 16],
        sample_rate: 16_000,
        channels: 1,
    }));
}

fn npy(name: &str) -> Array {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("goldens/whisper")
        .join(name);
    parse_npy(&std::fs::read(&path).unwrap()).unwrap()
}

#[test]
fn mel_filters_equal_mlx_whispers_asset() {
    let npz = read_npz(&fixture("mlx-whisper/mel_filters.npz")).unwrap();
    for n in [80usize, 128] {
        let want = &npz[&format!("mel_{n}")];
        eval([want]).unwrap();
        assert_eq!(want.shape(), [n as i32, 201]);
        let want: &[f32] = want.as_slice();
        let got = mel_filters(n);
        let max = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(max < 1e-7, "mel_{n}: max difference {max}");
    }
}

#[test]
fn log_mel_matches_mlx_whisper() {
    let jfk = load_16k_mono(&AudioInput::Path(jfk())).unwrap();
    let bytes = std::fs::read(fixture("audio/goforward.raw")).unwrap();
    let goforward: Vec<f32> = bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
        .collect();
    for (name, samples) in [("jfk4s", &jfk[..64_000]), ("goforward", &goforward[..])] {
        for n_mels in [80, 128] {
            let want = npy(&format!("mel_{name}_{n_mels}.npy"));
            let got = log_mel_spectrogram(samples, n_mels, 0).unwrap();
            eval([&want, &got]).unwrap();
            assert_eq!(got.shape(), want.shape(), "{name} {n_mels}");
            let (g, w): (&[f32], &[f32]) = (got.as_slice(), want.as_slice());
            let max = g
                .iter()
                .zip(w)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            // Values span about [-1, 1.5]; the same MLX kernels run on the same input.
            assert!(max < 1e-4, "{name} {n_mels}: max difference {max}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Hostile and broken input: mutated copies of the real fixtures. Audio input must never
// take the engine down: every one of these is an `Error::Audio`, found before anything
// is sized from the lie.

/// jfk.wav's first `len` bytes with its RIFF and `data` sizes made to agree: a small,
/// valid WAV of real speech, ready to be mutated.
fn jfk_head(len: usize) -> Vec<u8> {
    let mut b = std::fs::read(jfk()).unwrap();
    b.truncate(len);
    let data = b.windows(4).position(|w| w == b"data").unwrap();
    put(&mut b, 4, &(len as u32 - 8).to_le_bytes());
    put(&mut b, data + 4, &((len - data - 8) as u32).to_le_bytes());
    b
}

fn put(b: &mut [u8], at: usize, bytes: &[u8]) {
    b[at..at + bytes.len()].copy_from_slice(bytes);
}

/// Offsets in a canonical WAV header.
const WAV_CHANNELS: usize = 22;
const WAV_RATE: usize = 24;

/// The same bytes as a file, as memory and through the fuzzing entry point: each must
/// be refused with an `Error::Audio` whose reason contains `why`.
fn refused_every_way(dir: &Path, name: &str, bytes: &[u8], why: &str) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let ext = Path::new(name).extension().and_then(|e| e.to_str());
    let started = std::time::Instant::now();
    for (how, r) in [
        ("file", load_16k_mono(&AudioInput::Path(path.clone()))),
        (
            "memory",
            load_16k_mono(&AudioInput::Encoded(bytes.to_vec())),
        ),
        ("decode_prefix", decode_prefix(bytes, ext, 30.0)),
        ("decode_file", decode_file(&path).map(|d| d.samples)),
    ] {
        let e = audio_error(r);
        assert!(
            e.contains(why),
            "{name} ({how}): {e:?} does not say {why:?}"
        );
    }
    assert!(
        started.elapsed().as_secs() < 10,
        "{name}: {:?}",
        started.elapsed()
    );
}

#[test]
fn header_rates_and_channel_counts_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let head = jfk_head(3000);
    // The unmutated 3 KB copy is fine: 1461 samples of speech.
    assert_eq!(
        load_16k_mono(&AudioInput::Encoded(head.clone()))
            .unwrap()
            .len(),
        1461
    );
    let with = |at: usize, bytes: &[u8]| {
        let mut b = head.clone();
        put(&mut b, at, bytes);
        b
    };
    // Reported: 4,294,967,295 Hz made the resampler allocate until the process died
    // (23 GB; it killed the daemon), and 0 Hz panicked inside the decoder.
    let cases: [(&str, Vec<u8>, &str); 6] = [
        (
            "max_rate.wav",
            with(WAV_RATE, &u32::MAX.to_le_bytes()),
            "4294967295 Hz",
        ),
        (
            "zero_rate.wav",
            with(WAV_RATE, &0u32.to_le_bytes()),
            "sample rate is 0",
        ),
        (
            "low_rate.wav",
            with(WAV_RATE, &999u32.to_le_bytes()),
            "999 Hz",
        ),
        (
            "high_rate.wav",
            with(WAV_RATE, &384_001u32.to_le_bytes()),
            "384001 Hz",
        ),
        (
            "no_channels.wav",
            with(WAV_CHANNELS, &0u16.to_le_bytes()),
            "channel count is 0",
        ),
        (
            "65535_channels.wav",
            with(WAV_CHANNELS, &u16::MAX.to_le_bytes()),
            "65535 channels",
        ),
    ];
    for (name, bytes, why) in &cases {
        refused_every_way(dir.path(), name, bytes, why);
    }
    // The bounds themselves are usable rates.
    for (rate, samples) in [(384_000u32, 61), (1_000, 23_376)] {
        let pcm = load_16k_mono(&AudioInput::Encoded(with(WAV_RATE, &rate.to_le_bytes())));
        assert_eq!(pcm.unwrap().len(), samples, "{rate} Hz");
    }
    // Raw PCM from memory is held to the same bounds.
    for (rate, channels) in [(u32::MAX, 1), (0, 1), (16_000, 0), (16_000, 33)] {
        audio_error(load_16k_mono(&AudioInput::PcmS16 {
            samples: vec![0; 33 * 100],
            sample_rate: rate,
            channels,
        }));
    }
}

/// Deterministic noise (a multiplicative hash), `n` bytes of it.
fn noise(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[test]
fn garbage_and_sampleless_audio_are_errors_not_empty_transcripts() {
    let dir = tempfile::tempdir().unwrap();
    // Reported: random bytes named .mp3 gave an empty transcript and exit status 0.
    refused_every_way(dir.path(), "noise.mp3", &noise(300_000, 7), "");
    // A real MP3 (jfk through SoX) whose every byte after its first frame header is
    // noise: the header gets it past the probe, the rest is garbage.
    let mp3 = std::fs::read(sox(&jfk(), dir.path(), "jfk.mp3")).unwrap();
    let first_frame = mp3
        .windows(2)
        .position(|w| w[0] == 0xff && w[1] & 0xe0 == 0xe0);
    let keep = first_frame.unwrap() + 4;
    let mut garbled = mp3[..keep].to_vec();
    garbled.extend(noise(200_000, 11));
    refused_every_way(dir.path(), "garbled.mp3", &garbled, "");
    // Decodes to zero samples: jfk.wav with its data chunk emptied.
    let empty = jfk_head(78);
    refused_every_way(
        dir.path(),
        "no_data.wav",
        &empty,
        "no audio could be decoded",
    );
    // One frame at 48 kHz: decoded (it is one sample at its own rate), but less than
    // one 16 kHz sample.
    let mut one = jfk_head(80);
    put(&mut one, WAV_RATE, &48_000u32.to_le_bytes());
    assert_eq!(decode_bytes(one.clone(), None).unwrap().samples.len(), 1);
    for r in [
        load_16k_mono(&AudioInput::Encoded(one.clone())),
        decode_prefix(&one, None, 1.0),
    ] {
        assert!(audio_error(r).contains("shorter than one 16 kHz sample"));
    }
}

#[test]
fn streamed_samples_equal_a_whole_file_conversion() {
    // The stream decodes a packet at a time and resamples chunk by chunk; converting the
    // whole decoded file at once must give the very same samples.
    let dir = tempfile::tempdir().unwrap();
    let front = fixture("audio/alsa/Front_Center.wav");
    let stereo = dir.path().join("stereo.wav");
    let ok = Command::new("sox")
        .arg(&front)
        .args(["-r", "44100", "-c", "2"])
        .arg(&stereo)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let files = [
        jfk(),
        front,
        stereo,
        sox(&jfk(), dir.path(), "jfk.mp3"),
        sox(&jfk(), dir.path(), "jfk.ogg"),
    ];
    for path in files {
        let whole = to_16k_mono(None, &decode_file(&path).unwrap()).unwrap();
        let mut stream = AudioStream::open_owned(AudioInput::Path(path.clone())).unwrap();
        let (mut streamed, mut chunks) = (Vec::new(), 0);
        while let Some(c) = stream.next_chunk(&CancelToken::new()).unwrap() {
            streamed.extend_from_slice(&c);
            chunks += 1;
        }
        assert!(chunks > 3, "{}: {chunks} chunks", path.display());
        assert!(streamed == whole, "{}", path.display());
        if let Some(d) = stream.declared_duration() {
            let actual = streamed.len() as f64 / 16_000.0;
            assert!(
                (d - actual).abs() < 0.1,
                "{}: {d} vs {actual}",
                path.display()
            );
        }
    }
}

#[test]
fn a_long_file_is_read_on_demand_and_a_cancel_stops_the_decoding() {
    let dir = tempfile::tempdir().unwrap();
    // Ten minutes of speech.
    let long = dir.path().join("long.flac");
    let ok = Command::new("sox")
        .arg(jfk())
        .arg(&long)
        .args(["repeat", "54"])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let started = std::time::Instant::now();
    let mut stream = AudioStream::open_owned(AudioInput::Path(long)).unwrap();
    // The header says how long it is before anything is decoded.
    assert!((stream.declared_duration().unwrap() - 605.0).abs() < 0.01);
    let cancel = CancelToken::new();
    let first = stream.next_chunk(&cancel).unwrap().unwrap();
    assert!(first.len() <= 65_536, "{} samples at once", first.len());
    assert!(started.elapsed().as_secs() < 2, "{:?}", started.elapsed());
    cancel.cancel();
    assert!(matches!(stream.next_chunk(&cancel), Err(Error::Cancelled)));
}

#[test]
fn decode_prefix_is_bounded_and_answers_every_input() {
    // The fuzzing entry point: the stream's samples, cut at the bound.
    let bytes = std::fs::read(jfk()).unwrap();
    let all = load_16k_mono(&AudioInput::Path(jfk())).unwrap();
    let two = decode_prefix(&bytes, Some("wav"), 2.0).unwrap();
    assert!(two[..] == all[..32_000]);
    // Truncations and bit flips of real files in each container: samples or an
    // `Error::Audio`, never a panic or another error.
    let dir = tempfile::tempdir().unwrap();
    let mut files = vec![("wav", jfk_head(20_000))];
    for ext in ["mp3", "flac", "ogg"] {
        let path = sox(&jfk(), dir.path(), &format!("jfk.{ext}"));
        files.push((ext, std::fs::read(path).unwrap()));
    }
    for (ext, bytes) in &files {
        let mut cases = Vec::new();
        for cut in [1, 4, 12, 44, 100, 1000, bytes.len() / 2] {
            cases.push(bytes[..cut.min(bytes.len())].to_vec());
        }
        for i in 0..40 {
            let mut b = bytes.clone();
            let at = (i * 7919 + 13) % b.len().min(4096);
            b[at] ^= 1 << (i % 8);
            cases.push(b);
        }
        for case in cases {
            match decode_prefix(&case, Some(ext), 1.0) {
                Ok(s) => assert!(s.len() <= 16_000),
                Err(Error::Audio { .. }) => {}
                Err(e) => panic!("{ext}: {e:?}"),
            }
        }
    }
}

/// A FLAC whose comment or picture block has a field that claims more bytes than the
/// block holds (symphonia would allocate what it claims: 4 GB, found by the audio fuzz
/// target) is refused before symphonia reads it.
#[test]
fn flac_metadata_fields_longer_than_their_block_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let flac = std::fs::read(sox(&jfk(), dir.path(), "jfk.flac")).unwrap();
    assert_eq!(&flac[..4], b"fLaC");
    // Find the comment block (type 4) that SoX writes, walking the block headers.
    let mut at = 4;
    let comment = loop {
        let (kind, len) = (
            flac[at] & 0x7f,
            u32::from_be_bytes([0, flac[at + 1], flac[at + 2], flac[at + 3]]) as usize,
        );
        if kind == 4 {
            break at + 4;
        }
        assert!(flac[at] & 0x80 == 0, "SoX writes a comment block");
        at += 4 + len;
    };
    let mut vendor = flac.clone();
    put(&mut vendor, comment, &0xFFFF_FFF0u32.to_le_bytes());
    refused_every_way(dir.path(), "vendor.flac", &vendor, "longer than the block");
    // Also after leading junk, where symphonia's probe still finds the FLAC.
    let mut junk = b"not audio at all, then a FLAC: ".to_vec();
    junk.extend_from_slice(&vendor);
    refused_every_way(dir.path(), "junk.flac", &junk, "longer than the block");
    // Also when the file ends inside the block (the fuzzer's second find).
    refused_every_way(
        dir.path(),
        "cut.flac",
        &vendor[..comment + 6],
        "longer than the block",
    );
    let vendor_len = u32::from_le_bytes(flac[comment..comment + 4].try_into().unwrap()) as usize;
    let mut count = flac.clone();
    put(
        &mut count,
        comment + 4 + vendor_len,
        &u32::MAX.to_le_bytes(),
    );
    refused_every_way(dir.path(), "count.flac", &count, "longer than the block");
    // The untouched file still decodes.
    assert!(!decode_prefix(&flac, Some("flac"), 1.0).unwrap().is_empty());
}

/// An MP4 box: size, type, payload.
fn mp4_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut b = ((8 + payload.len()) as u32).to_be_bytes().to_vec();
    b.extend_from_slice(kind);
    b.extend_from_slice(payload);
    b
}

/// A full box (version 0, no flags).
fn mp4_full(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    mp4_box(kind, &[&[0u8; 4][..], payload].concat())
}

fn be(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

/// jfk.wav's samples in an MP4 (QuickTime `sowt`: 16-bit little-endian PCM), the
/// smallest file symphonia's MP4 reader takes: ftyp, moov (mvhd, trak: tkhd, mdia:
/// mdhd, hdlr, minf: smhd, stbl: stsd, stts, stsc, stsz, stco), mdat.
fn jfk_mp4() -> Vec<u8> {
    let wav = std::fs::read(jfk()).unwrap();
    let pcm = &wav[78..];
    let n = (pcm.len() / 2) as u32;
    let ftyp = mp4_box(b"ftyp", b"M4A \0\0\0\0M4A mp42isom");
    let mut mvhd = be(&[0, 0, 16_000, n, 0x10000]);
    mvhd.extend([1, 0]);
    mvhd.extend([0; 10 + 36 + 24]);
    mvhd.extend(be(&[2]));
    let mut tkhd = be(&[0, 0, 1, 0, n, 0, 0]);
    tkhd.extend([0, 0, 0, 0, 1, 0, 0, 0]);
    tkhd.extend([0; 36 + 8]);
    let mut mdhd = be(&[0, 0, 16_000, n]);
    mdhd.extend([0x55, 0xc4, 0, 0]);
    let mut hdlr = be(&[0]);
    hdlr.extend(b"soun");
    hdlr.extend([0; 12]);
    hdlr.extend(b"sound\0");
    let mut sowt = vec![0u8; 6];
    sowt.extend([0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    sowt.extend([0, 1, 0, 16, 0, 0, 0, 0]);
    sowt.extend(be(&[16_000 << 16]));
    let stbl = |chunk_offset: u32| {
        [
            mp4_full(b"stsd", &[be(&[1]), mp4_box(b"sowt", &sowt)].concat()),
            mp4_full(b"stts", &be(&[1, n, 1])),
            mp4_full(b"stsc", &be(&[1, 1, n, 1])),
            mp4_full(b"stsz", &be(&[2, n])),
            mp4_full(b"stco", &be(&[1, chunk_offset])),
        ]
        .concat()
    };
    let head = |chunk_offset: u32| {
        let minf = [
            mp4_full(b"smhd", &[0; 4]),
            mp4_box(b"stbl", &stbl(chunk_offset)),
        ]
        .concat();
        let mdia = [
            mp4_full(b"mdhd", &mdhd),
            mp4_full(b"hdlr", &hdlr),
            mp4_box(b"minf", &minf),
        ]
        .concat();
        let trak = [mp4_full(b"tkhd", &tkhd), mp4_box(b"mdia", &mdia)].concat();
        let moov = [mp4_full(b"mvhd", &mvhd), mp4_box(b"trak", &trak)].concat();
        [ftyp.clone(), mp4_box(b"moov", &moov)].concat()
    };
    let data_at = head(0).len() as u32 + 8;
    [head(data_at), mp4_box(b"mdat", pcm)].concat()
}

#[test]
fn mp4_tables_and_boxes_must_fit_before_symphonia_sizes_anything_from_them() {
    let dir = tempfile::tempdir().unwrap();
    let mp4 = jfk_mp4();
    // The real speech in an MP4 decodes to the WAV's samples.
    let wav = load_16k_mono(&AudioInput::Path(jfk())).unwrap();
    assert!(load_16k_mono(&AudioInput::Encoded(mp4.clone())).unwrap() == wav);
    let at = |kind: &[u8; 4]| mp4.windows(4).position(|w| w == kind).unwrap() - 4;
    let with = |kind: &[u8; 4], offset: usize, words: &[u32]| {
        let mut b = mp4.clone();
        put(&mut b, at(kind) + offset, &be(words));
        b
    };
    // Each of these asked symphonia for 16–48 GB up front (an abort, not an error): a
    // sample table declaring 4,294,967,295 entries in a box of a few bytes.
    for (name, bytes) in [
        ("stsz.m4a", with(b"stsz", 12, &[0, u32::MAX])),
        ("stts.m4a", with(b"stts", 12, &[u32::MAX])),
        ("stsc.m4a", with(b"stsc", 12, &[u32::MAX])),
        ("stco.m4a", with(b"stco", 12, &[u32::MAX])),
    ] {
        refused_every_way(dir.path(), name, &bytes, "declares 4294967295 entries");
    }
    // A box larger than its parent (the handler name would be read at its claimed
    // size), and an index larger than the file.
    let hdlr = with(b"hdlr", 0, &[0x7fff_0000]);
    refused_every_way(dir.path(), "hdlr.m4a", &hdlr, "extends past its parent box");
    let moov = with(b"moov", 0, &[0xffff_fff0]);
    refused_every_way(
        dir.path(),
        "moov.m4a",
        &moov,
        "extends past the end of the file",
    );
}
