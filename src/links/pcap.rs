//! Packet capture to classic pcap files (`LINKTYPE_RAW`: every record is a
//! bare IPv4 or IPv6 packet), timestamped with virtual time.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, PcapError, TsResolution};

use crate::time::Instant;

/// Largest number of bytes recorded per packet; longer packets are truncated
/// (their original length is still recorded). 262144 is what tcpdump uses.
pub const SNAPLEN: u32 = 262_144;

/// A pcap file being written.
///
/// Writes are buffered; the buffer is flushed by [`flush`](Self::flush) and
/// when the capture is dropped. Write errors do not interrupt the caller
/// (a simulation should not die because a disk filled up): the first one is
/// kept and returned by the next `write_packet` or `flush`.
///
/// ```no_run
/// use synfin::links::pcap::PcapCapture;
/// use synfin::time::Instant;
///
/// let mut cap = PcapCapture::create("/tmp/out.pcap".as_ref())?;
/// cap.write_packet(Instant::from_millis(3), &[0x45, 0, 0, 20])?;
/// cap.flush()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct PcapCapture {
    writer: PcapWriter<SharedFile>,
    // A second handle on the writer's sink: `PcapWriter` offers no access to
    // its inner writer, and we need one to flush.
    file: SharedFile,
    error: Option<io::Error>,
}

impl PcapCapture {
    /// Creates (truncating) `path` and writes the pcap file header.
    pub fn create(path: &Path) -> io::Result<Self> {
        let file = SharedFile(Arc::new(Mutex::new(BufWriter::new(File::create(path)?))));
        let header = PcapHeader {
            snaplen: SNAPLEN,
            datalink: DataLink::RAW,
            ts_resolution: TsResolution::MicroSecond,
            ..PcapHeader::default()
        };
        let writer = PcapWriter::with_header(file.clone(), header).map_err(to_io)?;
        Ok(PcapCapture {
            writer,
            file,
            error: None,
        })
    }

    /// Appends one packet captured at `at`.
    ///
    /// Returns the first error seen so far, if any (the packet is then not
    /// written).
    pub fn write_packet(&mut self, at: Instant, packet: &[u8]) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let orig_len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let incl = packet.get(..SNAPLEN as usize).unwrap_or(packet);
        let ts = core::time::Duration::from_micros(at.total_micros());
        self.writer
            .write_packet(&PcapPacket::new(ts, orig_len, incl))
            .map(drop)
            .map_err(to_io)
    }

    /// Like [`write_packet`](Self::write_packet), but keeps the error for
    /// later instead of returning it.
    pub(crate) fn record(&mut self, at: Instant, packet: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.write_packet(at, packet) {
            tracing::debug!(error = %e, "pcap write failed; capture stops");
            self.error = Some(e);
        }
    }

    /// Flushes buffered packets to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.file.flush()
    }
}

impl Drop for PcapCapture {
    fn drop(&mut self) {
        if let Err(e) = self.file.flush() {
            tracing::debug!(error = %e, "pcap flush on drop failed");
        }
    }
}

/// A buffered file shared between the `PcapWriter` and its owner.
#[derive(Clone, Debug)]
struct SharedFile(Arc<Mutex<BufWriter<File>>>);

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // A poisoned lock only means another writer panicked mid-write; the
        // buffer is still a valid BufWriter, so carry on.
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .flush()
    }
}

fn to_io(e: PcapError) -> io::Error {
    match e {
        PcapError::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}
