"""Services hold the server's logic; routes only translate HTTP to these calls."""
