"""What people judge the stored data by: completeness against the calendar (``quality``),
the ``verify`` report, the pictures (``plots``) and the comparison of adjusted reads against
Massive's (``against_massive``). Reports only read; nothing here writes a table."""
