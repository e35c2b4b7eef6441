//! The WebSocket edge of j0 (`GET /ws`): pushes job and balance events from the outbox to
//! connected clients. Built by the real-time issue; the crate exists so the workspace has its
//! final shape.
