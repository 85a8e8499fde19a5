//! CRC-16/XMODEM with twemproxy's unmasked register (twemproxy: hashkit/nc_crc16.c).
//!
//! The 32-bit register is never cut to 16 bits: its low half is the XMODEM
//! CRC, its high half the shifted-out bits, and all 32 bits are returned.

/// Lookup table for polynomial 0x1021, MSB first (`T[1] == 0x1021`).
const CRC16_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut r = (i as u32) << 8;
        let mut bit = 0;
        while bit < 8 {
            r = if r & 0x8000 != 0 {
                (r << 1) ^ 0x1021
            } else {
                r << 1
            };
            bit += 1;
        }
        t[i] = r & 0xFFFF;
        i += 1;
    }
    t
};

/// `crc16` (§HASH.3). Bytes are unsigned here.
pub fn hash_crc16(key: &[u8]) -> u32 {
    key.iter().fold(0u32, |r, &b| {
        (r << 8) ^ CRC16_TABLE[(((r >> 8) ^ u32::from(b)) & 0xFF) as usize]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_xmodem() {
        assert_eq!(CRC16_TABLE[1], 0x1021);
        assert_eq!(CRC16_TABLE[255], 0x1EF0);
        // the low 16 bits are the standard CRC-16/XMODEM check value
        assert_eq!(hash_crc16(b"123456789") & 0xFFFF, 0x31C3);
        assert_eq!(hash_crc16(b"123456789"), 0x8690_31C3);
    }
}
