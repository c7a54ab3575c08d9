//! Captures: pcap and pcapng files read into memory (one contiguous buffer, so a replay does
//! no I/O), and a pcap writer for the packets a replay lets through.

use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::{Block, PcapBlockOwned, PcapNGSlice};
use std::io::Write;

/// A capture that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// Neither a pcap nor a pcapng file, or a damaged one.
    #[error("not a valid pcap or pcapng file: {0}")]
    Format(String),
    /// A pcapng packet names an interface the file did not describe.
    #[error("packet {packet} refers to interface {interface}, which is not described")]
    Interface {
        /// Packet number, from 1.
        packet: usize,
        /// The interface id.
        interface: u32,
    },
}

/// One packet of a [`Capture`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Capture time, nanoseconds since the Unix epoch (0 when the file has none).
    pub ts_ns: u64,
    /// The captured bytes.
    pub data: &'a [u8],
    /// The packet's length on the wire (at least `data.len()`).
    pub orig_len: u32,
    /// The link type (`LINKTYPE_ETHERNET` = 1).
    pub linktype: u32,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    ts_ns: u64,
    start: usize,
    len: u32,
    orig_len: u32,
    linktype: u32,
}

/// The packets of a pcap or pcapng file, in file order.
#[derive(Clone, Debug, Default)]
pub struct Capture {
    data: Vec<u8>,
    entries: Vec<Entry>,
}

struct Interface {
    linktype: u32,
    /// Units per second.
    resolution: u64,
    offset_s: i64,
}

impl Capture {
    /// Parse `bytes` (pcap in either byte order, micro- or nanosecond, or pcapng).
    pub fn parse(bytes: &[u8]) -> Result<Capture, CaptureError> {
        let bad = |e: String| CaptureError::Format(e);
        let mut c = Capture::default();
        if bytes.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
            let mut ifaces: Vec<Interface> = Vec::new();
            let blocks = PcapNGSlice::from_slice(bytes).map_err(|e| bad(format!("{e:?}")))?;
            for block in blocks {
                match block.map_err(|e| bad(format!("{e:?}")))? {
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => ifaces.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        ifaces.push(Interface {
                            linktype: idb.linktype.0 as u32,
                            resolution: idb.ts_resolution().unwrap_or(1_000_000),
                            offset_s: idb.ts_offset(),
                        })
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(b)) => {
                        let iface =
                            ifaces
                                .get(b.if_id as usize)
                                .ok_or(CaptureError::Interface {
                                    packet: c.entries.len() + 1,
                                    interface: b.if_id,
                                })?;
                        let ts = (u128::from(b.ts_high) << 32) | u128::from(b.ts_low);
                        let ns = ts * 1_000_000_000 / u128::from(iface.resolution.max(1));
                        let ns = (ns as i128 + i128::from(iface.offset_s) * 1_000_000_000)
                            .clamp(0, i128::from(u64::MAX)) as u64;
                        c.push(ns, b.packet_data(), b.origlen, iface.linktype);
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(b)) => {
                        let linktype = ifaces.first().map_or(1, |i| i.linktype);
                        c.push(0, b.packet_data(), b.origlen, linktype);
                    }
                    _ => {}
                }
            }
        } else {
            // pcap-parser's LegacyPcapSlice reads records little-endian whatever the header
            // says; the header's byte order picks the record parser here.
            let (mut rem, h) =
                pcap_parser::parse_pcap_header(bytes).map_err(|e| bad(format!("{e:?}")))?;
            let nanos = h.is_nanosecond_precision();
            let linktype = h.network.0 as u32;
            while !rem.is_empty() {
                let (next, b) = if h.is_bigendian() {
                    pcap_parser::parse_pcap_frame_be(rem)
                } else {
                    pcap_parser::parse_pcap_frame(rem)
                }
                .map_err(|e| bad(format!("packet {}: {e:?}", c.entries.len() + 1)))?;
                rem = next;
                let frac = if nanos {
                    u64::from(b.ts_usec)
                } else {
                    u64::from(b.ts_usec) * 1000
                };
                let ns = u64::from(b.ts_sec) * 1_000_000_000 + frac;
                c.push(ns, b.data, b.origlen, linktype);
            }
        }
        Ok(c)
    }

    fn push(&mut self, ts_ns: u64, data: &[u8], orig_len: u32, linktype: u32) {
        self.entries.push(Entry {
            ts_ns,
            start: self.data.len(),
            len: data.len() as u32,
            orig_len: orig_len.max(data.len() as u32),
            linktype,
        });
        self.data.extend_from_slice(data);
    }

    /// Number of packets.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no packet.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total captured bytes.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Packet `i` (from 0).
    pub fn get(&self, i: usize) -> Option<Packet<'_>> {
        let e = self.entries.get(i)?;
        Some(Packet {
            ts_ns: e.ts_ns,
            data: &self.data[e.start..e.start + e.len as usize],
            orig_len: e.orig_len,
            linktype: e.linktype,
        })
    }

    /// The packets in file order.
    pub fn packets(&self) -> impl ExactSizeIterator<Item = Packet<'_>> + '_ {
        self.entries.iter().map(|e| Packet {
            ts_ns: e.ts_ns,
            data: &self.data[e.start..e.start + e.len as usize],
            orig_len: e.orig_len,
            linktype: e.linktype,
        })
    }
}

/// Writes a nanosecond pcap file (`a1b23c4d`), packet by packet.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Write the file header for `linktype` (1 for Ethernet) to `out`.
    pub fn new(mut out: W, linktype: u32) -> std::io::Result<PcapWriter<W>> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&262_144u32.to_le_bytes());
        h.extend_from_slice(&linktype.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out })
    }

    /// Append a packet captured at `ts_ns` whose wire length was `orig_len`.
    pub fn write(&mut self, ts_ns: u64, data: &[u8], orig_len: u32) -> std::io::Result<()> {
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((ts_ns / 1_000_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((ts_ns % 1_000_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
        h[12..16].copy_from_slice(&orig_len.max(data.len() as u32).to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(data)
    }

    /// Flush and return the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}
