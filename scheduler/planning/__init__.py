"""Pure planning (docs/design.md §3): the planner, the independent audit, forecasts,
calendar data."""
