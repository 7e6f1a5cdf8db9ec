"""What a command shows, gathered: reads from the store and the plan, handed to `render/`
as plain data (docs/architecture.md). `render/` draws; it reads nothing itself."""
