//! moshkit-client logic.
