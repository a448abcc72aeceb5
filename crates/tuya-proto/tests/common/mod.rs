//! Helpers shared by the integration tests.

/// A 55AA frame built by hand (CRC32 trailer, no encryption): the shape of the real device
/// frames quoted in public issues, and of stubs that send plaintext.
pub fn frame55(seq: u32, cmd: u32, body: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 0, 0x55, 0xaa];
    f.extend(seq.to_be_bytes());
    f.extend(cmd.to_be_bytes());
    f.extend(((body.len() + 8) as u32).to_be_bytes());
    f.extend(body);
    let crc = crc32fast::hash(&f);
    f.extend(crc.to_be_bytes());
    f.extend([0, 0, 0xaa, 0x55]);
    f
}
