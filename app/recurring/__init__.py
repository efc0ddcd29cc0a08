"""Recurring invoice schedules (API.md section 23): what other areas may call is `service` (the schedules)
and `jobs` (the scheduler pass and the run of one schedule, registered in app/background.py)."""
