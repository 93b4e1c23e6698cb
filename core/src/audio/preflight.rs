//! Header fields checked before symphonia reads them.
//!
//! Symphonia trusts a few fields it sizes things from: a WAV's sample rate becomes a
//! time base (a rate of 0 panics inside the reader); a FLAC comment or picture field is
//! allocated at the length it claims; an MP4's sample tables become vectors allocated
//! for their declared entry count before a single entry is read (a 2 KB file declaring
//! 4 billion entries asks for 32 GB, and a failed allocation aborts the process: there
//! is no panic to catch). This reads those fields first. A FLAC field longer than its
//! block, an MP4 table that cannot fit in its box or a box that cannot fit in its
//! parent is refused, so what symphonia allocates from them is bounded by the file's
//! size; a WAV header gets a reason a person can act on ("the sample rate is 0").
//! Only files laid out the standard way (the container's signature at the start) are
//! looked at; anything else goes to symphonia as it is, whose panics are caught in any
//! case (see `decode`).

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
    // Symphonia also finds a container after leading junk (it scans the first MB for a
    // signature), so the checks follow it there.
    let start = match container_at(&head[..n]) {
        Some(_) => 0,
        None if starts_like_a_stream(&head[..n]) => 0,
        None => find_container(source).map_err(io)?.unwrap_or(0),
    };
    source.seek(SeekFrom::Start(start)).map_err(io)?;
    let n = read_up_to(source, &mut head).map_err(io)?;
    let result = match container_at(&head[..n]) {
        Some(Container::Wav) => wav(source, path).map_err(io)?,
        Some(Container::Flac) => {
            source.seek(SeekFrom::Start(start + 4)).map_err(io)?;
            flac(source, path).map_err(io)?
        }
        Some(Container::Mp4) => {
            let len = source.seek(SeekFrom::End(0)).map_err(io)?;
            let mut walk = Mp4Walk {
                source,
                path,
                boxes: 0,
            };
            walk.children(start, len, 0, true).map_err(io)?
        }
        None => Ok(()),
    };
    source.seek(SeekFrom::Start(0)).map_err(io)?;
    result
}

/// The containers whose headers are checked here.
enum Container {
    Wav,
    Flac,
    Mp4,
}

/// The container whose signature `head` starts with, if one of those checked.
fn container_at(head: &[u8]) -> Option<Container> {
    if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WAVE" {
        Some(Container::Wav)
    } else if head.starts_with(b"fLaC") {
        Some(Container::Flac)
    } else if head.len() >= 8 && &head[4..8] == b"ftyp" {
        Some(Container::Mp4)
    } else {
        None
    }
}

/// MP3 (an ID3 tag or a frame sync) and Ogg start with their own signatures: a file that
/// does is not searched for another container inside it (a cover image may hold one).
fn starts_like_a_stream(head: &[u8]) -> bool {
    head.starts_with(b"ID3")
        || head.starts_with(b"OggS")
        || (head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0)
}

/// How far symphonia's probe looks for a signature.
const PROBE_BYTES: u64 = 1 << 20;

/// The offset of the first checked container signature in the first MB, if any.
fn find_container(source: &mut dyn MediaSource) -> std::io::Result<Option<u64>> {
    source.seek(SeekFrom::Start(0))?;
    let mut head = Vec::new();
    (&mut *source).take(PROBE_BYTES).read_to_end(&mut head)?;
    Ok((1..head.len())
        .find(|&i| container_at(&head[i..]).is_some())
        .map(|i| i as u64))
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
                VORBIS_COMMENT => comment_fits(&body, len),
                _ => picture_fits(&body, len),
            };
            if !fits {
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

/// Why a walk over a block's fields stopped early.
enum Stop {
    /// A field claims more bytes than the block declares: symphonia would allocate it.
    Overrun,
    /// The file ends inside the block: symphonia stops there too, having allocated no
    /// more than the block's own length allows.
    End,
}

/// Walks length-prefixed (u32) fields through a block of `budget` declared bytes, of
/// which `rest` are in the file.
struct Fields<'a> {
    rest: &'a [u8],
    budget: u64,
    little_endian: bool,
}

impl Fields<'_> {
    fn u32(&mut self) -> std::result::Result<u32, Stop> {
        self.budget = self.budget.checked_sub(4).ok_or(Stop::Overrun)?;
        let (n, rest) = self.rest.split_first_chunk::<4>().ok_or(Stop::End)?;
        self.rest = rest;
        Ok(match self.little_endian {
            true => u32::from_le_bytes(*n),
            false => u32::from_be_bytes(*n),
        })
    }

    fn skip_sized(&mut self) -> std::result::Result<(), Stop> {
        let len = self.u32()?;
        self.budget = self
            .budget
            .checked_sub(u64::from(len))
            .ok_or(Stop::Overrun)?;
        self.rest = self.rest.get(len as usize..).unwrap_or(&[]);
        Ok(())
    }
}

/// Vendor string, then a count of comments, each length-prefixed (little-endian).
fn comment_fits(body: &[u8], declared: u32) -> bool {
    let mut f = Fields {
        rest: body,
        budget: u64::from(declared),
        little_endian: true,
    };
    let mut walk = || -> std::result::Result<(), Stop> {
        f.skip_sized()?;
        for _ in 0..f.u32()? {
            f.skip_sized()?;
        }
        Ok(())
    };
    !matches!(walk(), Err(Stop::Overrun))
}

/// Picture type, MIME type, description, four dimensions, then the data (big-endian).
fn picture_fits(body: &[u8], declared: u32) -> bool {
    let mut f = Fields {
        rest: body,
        budget: u64::from(declared),
        little_endian: false,
    };
    let mut walk = || -> std::result::Result<(), Stop> {
        f.u32()?;
        f.skip_sized()?;
        f.skip_sized()?;
        for _ in 0..4 {
            f.u32()?;
        }
        f.skip_sized()
    };
    !matches!(walk(), Err(Stop::Overrun))
}

/// Boxes looked at before an MP4 is taken for a maze rather than a file (a long one
/// has a few dozen).
const MAX_MP4_BOXES: usize = 100_000;

/// Nesting deeper than any MP4 has (moov/trak/mdia/minf/stbl is five).
const MAX_MP4_DEPTH: usize = 16;

/// Boxes holding the boxes symphonia reads into memory.
const MP4_CONTAINERS: [&[u8; 4]; 11] = [
    b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"mvex", b"udta", b"moof",
    b"traf",
];

/// The sample tables symphonia allocates by entry count: (type, bytes before the
/// entries, bytes per entry). `stsz` has entries only when its sample size is 0.
const MP4_TABLES: [(&[u8; 4], u64, u64); 5] = [
    (b"stsz", 12, 4),
    (b"stts", 8, 8),
    (b"stsc", 8, 12),
    (b"stco", 8, 4),
    (b"co64", 8, 8),
];

struct Mp4Walk<'s, 'p> {
    source: &'s mut dyn MediaSource,
    path: Option<&'p Path>,
    boxes: usize,
}

impl Mp4Walk<'_, '_> {
    /// Check the boxes in `[start, end)`. At the top level only the boxes symphonia
    /// reads into memory must fit in the file (media data may be cut short: that is
    /// the decoder's "truncated"); inside them every box must fit in its parent.
    fn children(
        &mut self,
        start: u64,
        end: u64,
        depth: usize,
        top: bool,
    ) -> std::io::Result<Result<()>> {
        let path = self.path;
        let refuse = |why: String| Ok(Err(audio_err(path, format!("malformed MP4: {why}"))));
        if depth > MAX_MP4_DEPTH {
            return refuse("boxes nested deeper than any MP4's".into());
        }
        let mut pos = start;
        while pos + 8 <= end {
            self.boxes += 1;
            if self.boxes > MAX_MP4_BOXES {
                return refuse(format!("more than {MAX_MP4_BOXES} boxes"));
            }
            self.source.seek(SeekFrom::Start(pos))?;
            let mut header = [0u8; 16];
            let n = read_up_to(self.source, &mut header)?;
            let kind: [u8; 4] = header[4..8].try_into().expect("4 bytes");
            let name = String::from_utf8_lossy(&kind).into_owned();
            let (size, header_len) = match u32::from_be_bytes(header[0..4].try_into().expect("4")) {
                // To the end of the parent (of the file, at the top).
                0 => (end - pos, 8),
                1 if n == 16 => (u64::from_be_bytes(header[8..16].try_into().expect("8")), 16),
                1 => return refuse(format!("{name} box cut off in its header")),
                s => (u64::from(s), 8),
            };
            if size < header_len {
                return refuse(format!("{name} box of {size} bytes"));
            }
            let Some(box_end) = pos.checked_add(size) else {
                return refuse(format!("{name} box of {size} bytes"));
            };
            let container = MP4_CONTAINERS.contains(&&kind);
            if box_end > end && (!top || container) {
                return refuse(format!(
                    "{name} box of {size} bytes at {pos} extends past {} ({end})",
                    if top {
                        "the end of the file"
                    } else {
                        "its parent box"
                    }
                ));
            }
            if container {
                if let Err(e) = self.children(pos + header_len, box_end, depth + 1, false)? {
                    return Ok(Err(e));
                }
            } else if let Some(&(_, prefix, entry)) = MP4_TABLES.iter().find(|t| *t.0 == kind) {
                if let Err(e) =
                    self.table(&name, pos + header_len, size - header_len, prefix, entry)?
                {
                    return Ok(Err(e));
                }
            }
            pos = box_end;
        }
        Ok(Ok(()))
    }

    /// A sample table's entry count must fit in its box.
    fn table(
        &mut self,
        name: &str,
        payload_start: u64,
        payload: u64,
        prefix: u64,
        entry: u64,
    ) -> std::io::Result<Result<()>> {
        let path = self.path;
        let refuse = |why: String| Ok(Err(audio_err(path, format!("malformed MP4: {why}"))));
        if payload < prefix {
            return refuse(format!("{name} table of {payload} bytes"));
        }
        self.source.seek(SeekFrom::Start(payload_start))?;
        let mut fields = [0u8; 12];
        if read_up_to(self.source, &mut fields[..prefix as usize])? < prefix as usize {
            return refuse(format!("{name} table cut off"));
        }
        let word = |i: usize| u32::from_be_bytes(fields[i..i + 4].try_into().expect("4"));
        let count = u64::from(word(prefix as usize - 4));
        // stsz: a constant sample size (its second word) means no entries follow.
        if name == "stsz" && word(4) != 0 {
            return Ok(Ok(()));
        }
        if count * entry > payload - prefix {
            return refuse(format!(
                "{name} table declares {count} entries, its box holds {}",
                (payload - prefix) / entry
            ));
        }
        Ok(Ok(()))
    }
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
