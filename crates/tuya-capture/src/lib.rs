//! # tuya-capture
//!
//! Decoding of packet captures. (Being built: see issue 6.)
