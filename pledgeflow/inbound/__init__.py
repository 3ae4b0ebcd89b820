"""Mail that comes back: the SMTP receiver for replies and what a reply says."""
