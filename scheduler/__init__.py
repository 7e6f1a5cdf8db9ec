"""content-scheduler: a content scheduling daemon for social accounts (see README.md)."""
