"""HTTP routes: thin translations between HTTP and ``server.services``."""
