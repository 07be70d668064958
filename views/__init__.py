"""Pages of the staff workspace (planner, reports, data), called by app.py after the login check.

Views never touch module-level state of app.py: they get the region, the settings and the user.
"""
