//! # tuya-sim
//!
//! Simulated Tuya devices. (Being built: see issue 3.)
