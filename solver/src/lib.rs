//! Calibration of funding formulas (see the crate README).
