//! moshkit wrapper logic.
