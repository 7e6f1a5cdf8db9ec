"""Pure planning (DESIGN §3): the planner, the independent audit, forecasts, calendar data."""
