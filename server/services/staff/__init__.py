"""Staff accounts, sign-in and the one access-control path."""
