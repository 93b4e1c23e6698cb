//! Header fields checked before symphonia reads them.
//!
//! Symphonia trusts a few fields it sizes things from: a WAV's sample rate becomes a
//! time base (a rate of 0 panics inside the reader). This reads those fields first, so
//! that a malformed header is refused with a reason a person can act on ("the sample
//! rate is 0") rather than a panic message. Only files laid out the standard way (the
//! container's signature at the start) are looked at; anything else goes to symphonia
//! as it is, whose panics are caught in any case (see `decode`).

use std::io::{Read, SeekFrom};
use std::path::Path;

use symphonia::core::io::MediaSource;

use super::limits::{audio_err, check_channels, check_sample_rate};
use crate::error::Result;

/// RIFF chunks looked at before giving up on finding `fmt ` (a WAV has a handful).
const MAX_WAV_CHUNKS: usize = 64;

/// Check what can be checked of `source`'s header, and rewind it.
pub fn check(source: &mut dyn MediaSource, path: Option<&Path>) -> Result<()> {
    let io = |e: std::io::Error| audio_err(path, format!("reading the header: {e}"));
    let mut head = [0u8; 12];
    let n = read_up_to(source, &mut head).map_err(io)?;
    let result = if n == 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WAVE" {
        wav(source, path).map_err(io)?
    } else if n >= 4 && &head[0..4] == b"fLaC" {
        source.seek(SeekFrom::Start(4)).map_err(io)?;
        flac(source, path).map_err(io)?
    } else {
        Ok(())
    };
    source.seek(SeekFrom::Start(0)).map_err(io)?;
    result
}

/// A WAV's `fmt ` chunk: its channel count and sample rate must be usable.
fn wav(source: &mut dyn MediaSource, path: Option<&Path>) -> std::io::Result<Result<()>> {
    for _ in 0..MAX_WAV_CHUNKS {
        let mut header = [0u8; 8];
        if read_up_to(source, &mut header)? < 8 {
            break;
        }
        let len = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
        if &header[0..4] == b"fmt " {
            let mut fmt = [0u8; 8];
            if read_up_to(source, &mut fmt)? < 8 {
                break;
            }
            let channels = u16::from_le_bytes([fmt[2], fmt[3]]);
            let rate = u32::from_le_bytes(fmt[4..8].try_into().expect("4 bytes"));
            return Ok(check_channels(path, channels as usize)
                .and_then(|()| check_sample_rate(path, rate)));
        }
        // Chunks are padded to an even length.
        source.seek(SeekFrom::Current(i64::from(len) + i64::from(len & 1)))?;
    }
    Ok(Ok(()))
}

/// Metadata blocks looked at before the audio frames (a FLAC file has a handful).
const MAX_FLAC_BLOCKS: usize = 128;

/// A FLAC file's comment and picture blocks: every length inside one must fit in the
/// block. Symphonia allocates what such a length says before reading (a comment that
/// claims 4 GB was found by the audio fuzz target).
fn flac(source: &mut dyn MediaSource, path: Option<&Path>) -> std::io::Result<Result<()>> {
    const VORBIS_COMMENT: u8 = 4;
    const PICTURE: u8 = 6;
    for _ in 0..MAX_FLAC_BLOCKS {
        let mut header = [0u8; 4];
        if read_up_to(source, &mut header)? < 4 {
            break;
        }
        let (last, kind) = (header[0] & 0x80 != 0, header[0] & 0x7f);
        let len = u32::from_be_bytes([0, header[1], header[2], header[3]]);
        if kind == VORBIS_COMMENT || kind == PICTURE {
            // At most 16 MB (a 24-bit length), and only what the file holds.
            let mut body = Vec::new();
            (&mut *source).take(u64::from(len)).read_to_end(&mut body)?;
            let fits = match kind {
                VORBIS_COMMENT => comment_fits(&body),
                _ => picture_fits(&body),
            };
            if body.len() == len as usize && !fits {
                return Ok(Err(audio_err(
                    path,
                    "a FLAC metadata block has a field longer than the block",
                )));
            }
        } else {
            source.seek(SeekFrom::Current(i64::from(len)))?;
        }
        if last {
            break;
        }
    }
    Ok(Ok(()))
}

/// Walks length-prefixed (u32) fields through a block, refusing any that overrun it.
struct Fields<'a> {
    rest: &'a [u8],
    little_endian: bool,
}

impl Fields<'_> {
    fn u32(&mut self) -> Option<u32> {
        let (n, rest) = self.rest.split_first_chunk::<4>()?;
        self.rest = rest;
        Some(match self.little_endian {
            true => u32::from_le_bytes(*n),
            false => u32::from_be_bytes(*n),
        })
    }

    fn skip_sized(&mut self) -> Option<()> {
        let len = self.u32()? as usize;
        self.rest = self.rest.get(len..)?;
        Some(())
    }
}

/// Vendor string, then a count of comments, each length-prefixed (little-endian).
fn comment_fits(body: &[u8]) -> bool {
    let mut f = Fields {
        rest: body,
        little_endian: true,
    };
    let mut walk = || -> Option<()> {
        f.skip_sized()?;
        for _ in 0..f.u32()? {
            f.skip_sized()?;
        }
        Some(())
    };
    walk().is_some()
}

/// Picture type, MIME type, description, four dimensions, then the data (big-endian).
fn picture_fits(body: &[u8]) -> bool {
    let mut f = Fields {
        rest: body,
        little_endian: false,
    };
    let mut walk = || -> Option<()> {
        f.u32()?;
        f.skip_sized()?;
        f.skip_sized()?;
        for _ in 0..4 {
            f.u32()?;
        }
        f.skip_sized()
    };
    walk().is_some()
}

/// Fill `buf` as far as the source goes; the count read.
fn read_up_to(source: &mut dyn MediaSource, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match source.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
