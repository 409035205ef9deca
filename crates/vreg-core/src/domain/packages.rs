//! Packages and their files, for both ecosystems.
