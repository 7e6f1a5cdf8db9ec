"""The running daemon: dispatch (claim, send, record), the daemon loop, the service, checks."""
