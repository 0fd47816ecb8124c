//! The sans-IO stack: sockets by handle, demux, listeners, TIME-WAIT.
