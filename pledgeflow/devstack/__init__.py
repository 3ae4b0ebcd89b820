"""``pledgeflow dev``: the whole stack on one machine, and its SMTP sink."""
